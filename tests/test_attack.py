"""Adaptive attacks (`xnli-robust attack`): TextAttack recipes on tiny models, in five scripts.

The attacked model is a tiny XLM-R built in the test (`attackable_xlmr`); the items are real
XNLI test rows; the similarity constraint uses the real multilingual-e5-small.  Assertions are
on TextAttack's summary fields and on every adversarial example being valid: really
misclassified, within the word and similarity caps, no protected word touched, each edit one
the project's perturbation would make, and no grapheme cluster broken.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attacks import charnoise
from attacks.textattack_compat import textattack_available
from harness import LABELS
from harness.core.errors import DataError, HarnessError
from harness.core.hashing import sha256_file

pytestmark = [
    pytest.mark.skipif(not textattack_available() and not os.environ.get("XNLI_ROBUST_REQUIRE_TEXTATTACK"),
                       reason="TextAttack not installed (make textattack)"),
    pytest.mark.usefixtures("one_torch_thread"),
]

LANGS = ("en", "zh", "th", "hi", "ar")
N_ITEMS = 10
BUDGET = 120


def test_textattack_is_installed_where_ci_requires_it() -> None:
    """`make test` installs TextAttack and sets this variable: the attack tests never skip there."""
    if os.environ.get("XNLI_ROBUST_REQUIRE_TEXTATTACK"):
        assert textattack_available()


@pytest.fixture(scope="module", autouse=True)
def textattack_imported(data_root: Path) -> None:
    """TextAttack imported the project's way (offline, flair stand-in) before any test uses it."""
    from attacks.textattack_compat import import_textattack

    import_textattack(data_root)


@pytest.fixture(scope="module")
def adapter(attackable_xlmr: Path):  # type: ignore[no-untyped-def]
    from adapters import load_adapter

    return load_adapter("hf", str(attackable_xlmr))


def run(tmp: Path, model: Path, adapter: Any, encoder: Any, recipe: str, languages: tuple[str, ...],
        n: int = N_ITEMS, **settings: Any) -> dict[str, Any]:
    from attacks.adaptive import AttackSettings
    from harness.scoring.attack import AttackConfig, run_attack

    cfg = AttackConfig(model=str(model), settings=AttackSettings(recipe=recipe, query_budget=BUDGET, **settings),
                       out=tmp, languages=languages, n_items=n, adapter=adapter, encoder=encoder, progress=False)
    return run_attack(cfg)


def records(folder: Path, language: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / f"{language}.jsonl").read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def charnoise_run(tmp_path_factory: pytest.TempPathFactory, attackable_xlmr: Path, adapter: Any,
                  e5_encoder: Any) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("attack") / "charnoise"
    return out, run(out, attackable_xlmr, adapter, e5_encoder, "charnoise", LANGS)


# ---- summary --------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGS)
def test_summary_fields_follow_textattack_definitions(charnoise_run: tuple[Path, dict[str, Any]],
                                                      language: str) -> None:
    folder, summary = charnoise_run
    s = summary["languages"][language]
    rows = records(folder, language)
    assert s["n"] == len(rows) == N_ITEMS
    assert s["n_successful"] + s["n_failed"] + s["n_skipped"] + s["n_maximized"] == N_ITEMS
    assert s["original_accuracy"] == pytest.approx(100 * (N_ITEMS - s["n_skipped"]) / N_ITEMS, abs=0.01)
    assert s["accuracy_under_attack"] == pytest.approx(100 * s["n_failed"] / N_ITEMS, abs=0.01)
    assert s["n_successful"] >= 1, f"{language}: the sensitive tiny model should be attackable"
    assert s["attack_success_rate"] == pytest.approx(
        100 * s["n_successful"] / (s["n_successful"] + s["n_failed"]), abs=0.01)
    assert 0 < s["avg_perturbed_word_pct"] <= 25
    assert 1 <= s["avg_num_queries"] <= BUDGET
    assert all(r["num_queries"] <= BUDGET for r in rows)
    assert summary["settings"]["textattack_version"] == "0.3.11"


def test_summary_matches_textattack_metrics(attackable_xlmr: Path, adapter: Any, e5_encoder: Any,
                                            data_root: Path) -> None:
    """Our summary from the JSONL equals TextAttack's own metrics on the same result objects."""
    from textattack.metrics import AttackQueries, AttackSuccessRate, WordsPerturbed

    from attacks import ta_parts
    from attacks.adaptive import AttackSettings, build_attack
    from harness.scoring.attack import result_record, select_items, summarise
    from harness.data.xnli import load_local

    items = select_items(load_local(data_root / "xnli", "test", ["en", "hi"]), ("hi",), 6, seed=0)["hi"]
    attack = build_attack(AttackSettings("charnoise", query_budget=BUDGET), "hi", adapter, data_root, e5_encoder)
    results, rows = [], []
    with ta_parts.segmentation("hi"):
        for example in items:
            attack.clear_cache()
            result = attack.attack(ta_parts.attacked_pair(example.premise, example.hypothesis), example.label)
            results.append(result)
            rows.append(result_record(example, result, []))
        ours = summarise(rows)
        rate = AttackSuccessRate().calculate(results)
        words = WordsPerturbed().calculate(results)
        queries = AttackQueries().calculate(results)
    assert ours["original_accuracy"] == pytest.approx(rate["original_accuracy"], abs=0.01)
    assert ours["accuracy_under_attack"] == pytest.approx(rate["attack_accuracy_perc"], abs=0.01)
    if ours["attack_success_rate"] is not None:
        assert ours["attack_success_rate"] == pytest.approx(rate["attack_success_rate"], abs=0.01)
    if ours["avg_perturbed_word_pct"] is not None:
        assert ours["avg_perturbed_word_pct"] == pytest.approx(words["avg_word_perturbed_perc"], abs=0.01)
    assert ours["avg_words_per_input"] == pytest.approx(words["avg_word_perturbed"], abs=0.01)
    assert ours["avg_num_queries"] == pytest.approx(queries["avg_num_queries"], abs=0.01)


def test_bench_and_attack_agree_on_the_clean_predictions(charnoise_run: tuple[Path, dict[str, Any]],
                                                         attackable_xlmr: Path, tmp_path: Path) -> None:
    """The attacked items scored by `bench`'s own steps (its data loading, model loading, batched
    prediction and prediction lines) get exactly the clean predictions the attack started from:
    the attack sees the same pair, label map and model as the benchmark, not a re-joined text."""
    from harness.scoring.attack import select_items
    from harness.scoring.bench import (BenchConfig, TimedAdapter, load_eval_data, load_model, predict_all,
                                       write_predictions)
    from leaderboard.verify import read_units

    folder, _ = charnoise_run
    cfg = BenchConfig(model=str(attackable_xlmr), out=tmp_path / "bench", languages=LANGS, progress=False)
    items = select_items(load_eval_data(cfg).examples, LANGS, N_ITEMS, seed=0)
    scored = predict_all(TimedAdapter(load_model(cfg), lambda _: None), items, [], tmp_path / ".shards")
    write_predictions(scored, tmp_path / "predictions.jsonl.gz")
    by_bench = {(u.language, i): LABELS[p] for u in read_units(tmp_path / "predictions.jsonl.gz")
                for i, p in zip(u.ids, u.pred)}
    by_attack = {(r["language"], r["id"]): r["original_prediction"] for lang in LANGS for r in records(folder, lang)}
    assert len(by_attack) == N_ITEMS * len(LANGS)
    assert by_bench == by_attack
    outcomes = [json.loads(line) for line in (folder / "outcomes.jsonl").read_text("utf-8").splitlines()]
    assert {(o["language"], o["id"]): o["clean_prediction"] for o in outcomes} == by_bench
    # and the attack's skipped items are exactly bench's errors (TextAttack's meaning of skipped)
    gold = {(e.language, e.id): e.label_name for lang in LANGS for e in items[lang]}
    assert {k for k in by_bench if by_bench[k] != gold[k]} == \
        {(o["language"], o["id"]) for o in outcomes if o["status"] == "skipped"}


# ---- validity of the adversarial examples ---------------------------------------------------------


def _broken_clusters(text: str) -> list[str]:
    """Grapheme clusters that start with a combining mark: a vowel sign or accent with no base."""
    from attacks.text import graphemes

    return [c for c in graphemes(text) if unicodedata.category(c[0]).startswith("M")]


def check_valid(row: dict[str, Any], language: str, adapter: Any, encoder: Any, threshold: float = 0.90) -> None:
    from attacks.protected import is_protected
    from attacks.similarity import similarity

    assert row["original_prediction"] == row["label"] != row["adversarial_prediction"]
    probs = adapter.predict([(row["adversarial_premise"], row["adversarial_hypothesis"])])[0]
    assert ["entailment", "neutral", "contradiction"][int(np.argmax(probs))] != row["label"]
    assert 1 <= row["words_changed"] <= math.ceil(0.25 * row["words"])
    for old, new in row["edits"]:
        assert not is_protected(old, language), f"protected word {old!r} edited"
        assert new != old
    for side in ("premise", "hypothesis"):
        original, adversarial = row[side], row[f"adversarial_{side}"]
        if original != adversarial:
            assert similarity([original], [adversarial], encoder)[0] >= threshold - 1e-4
        assert not _broken_clusters(adversarial), f"orphaned combining mark in {adversarial!r}"
    assert all(s >= threshold for s in row["similarity"]) and row["similarity"]


@pytest.mark.parametrize("language", LANGS)
def test_charnoise_examples_are_valid(charnoise_run: tuple[Path, dict[str, Any]], language: str,
                                      adapter: Any, e5_encoder: Any) -> None:
    folder, _ = charnoise_run
    successful = [r for r in records(folder, language) if r["status"] == "successful"]
    assert successful
    for row in successful:
        check_valid(row, language, adapter, e5_encoder)
        for old, new in row["edits"]:
            assert new in charnoise.candidate_edits(old, language), (old, new)
        assert len(row["adversarial_hypothesis"]) - len(row["hypothesis"]) < 10  # edit distance cap 30 overall


@pytest.mark.parametrize(("recipe", "languages"), [("synonym", ("en", "ar", "zh")), ("codemix", ("th", "hi", "en"))])
def test_word_recipes_use_the_project_candidates(tmp_path: Path, attackable_xlmr: Path, adapter: Any, e5_encoder: Any,
                                                 data_root: Path, recipe: str, languages: tuple[str, ...]) -> None:
    from attacks.codeswitch import translation_candidates
    from attacks.synonyms import synonym_candidates

    summary = run(tmp_path, attackable_xlmr, adapter, e5_encoder, recipe, languages, n=6)
    total = 0
    for language in languages:
        for row in (r for r in records(tmp_path, language) if r["status"] == "successful"):
            total += 1
            check_valid(row, language, adapter, e5_encoder)
            for old, new in row["edits"]:
                if recipe == "synonym":
                    allowed = {c.lower() for c in synonym_candidates(old, language, data_root)}
                else:
                    allowed = {t.lower() for _, t in translation_candidates(old, language, data_root)}
                assert new.lower() in allowed, (old, new)
    assert total >= 1 and summary["average"]["n"] == 6 * len(languages)


def test_hypothesis_only_attack_leaves_the_premise(tmp_path: Path, attackable_xlmr: Path, adapter: Any,
                                                   e5_encoder: Any) -> None:
    run(tmp_path, attackable_xlmr, adapter, e5_encoder, "charnoise", ("th",), n=9, columns=("hypothesis",))
    rows = records(tmp_path, "th")
    assert any(r["status"] == "successful" for r in rows)
    assert all(r["adversarial_premise"] == r["premise"] for r in rows)


# ---- segmentation ---------------------------------------------------------------------------------


def test_attacked_text_uses_the_language_segmentation() -> None:
    from textattack.shared import AttackedText

    from attacks import ta_parts
    from attacks.text import words

    hindi = "उन्होंने कहा कि वह नहीं आएगा"
    assert any(w not in hindi.split() for w in AttackedText(hindi).words)  # TextAttack's \w shreds matras
    with ta_parts.segmentation("hi"):
        assert AttackedText(hindi).words == hindi.split()
    thai = "ฉันไม่รู้ว่าเขาไปไหน"
    with ta_parts.segmentation("th"):
        text = ta_parts.attacked_pair("แมวนอนบนเสื่อ", thai)
        expected = [s.text for s in words("แมวนอนบนเสื่อ", "th")] + [s.text for s in words(thai, "th")]
        assert text.words == expected
        i = len(text.words) - 1
        candidate = text.words[i] + "ๆ"  # pythainlp alone would cut this into two words
        ta_parts.register_single_words([candidate])  # what the project's transformations do
        edited = text.replace_word_at_index(i, candidate)
        assert edited.words == text.words[:i] + [candidate]  # the edited word stays one word
        assert edited.attack_attrs["modified_indices"] == {i}
        again = edited.replace_word_at_index(0, "หมา")  # a text derived from an edited text
        assert again.words == ["หมา"] + edited.words[1:]
    assert AttackedText(thai).words != expected[-len(words(thai, "th")):]  # outside the block: TextAttack's own


# ---- reproducibility, resumption, refusal ---------------------------------------------------------


def test_resume_after_interruption_gives_identical_examples(tmp_path: Path, attackable_xlmr: Path, adapter: Any,
                                                           e5_encoder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.scoring import attack as attack_module

    whole = tmp_path / "whole"
    run(whole, attackable_xlmr, adapter, e5_encoder, "charnoise", ("ar",), n=6)
    resumed = tmp_path / "resumed"
    original_append, calls = attack_module.append_record, []

    def interrupted(path: Path, record: dict[str, Any]) -> None:
        if len(calls) == 3:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write('{"id": "torn')  # a crash in the middle of a line
            raise KeyboardInterrupt
        calls.append(record["id"])
        original_append(path, record)

    monkeypatch.setattr(attack_module, "append_record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(resumed, attackable_xlmr, adapter, e5_encoder, "charnoise", ("ar",), n=6)
    monkeypatch.setattr(attack_module, "append_record", original_append)
    summary = run(resumed, attackable_xlmr, adapter, e5_encoder, "charnoise", ("ar",), n=6)
    assert (resumed / "ar.jsonl").read_bytes() == (whole / "ar.jsonl").read_bytes()
    assert (resumed / "outcomes.jsonl").read_bytes() == (whole / "outcomes.jsonl").read_bytes()
    assert summary["languages"] == json.loads((whole / "summary.json").read_text())["languages"]


def test_a_new_process_resumes_without_attacking_again(tmp_path: Path, attackable_xlmr: Path, adapter: Any,
                                                       e5_encoder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same checkpoint loaded again (other load time, as in a new process) finds its folder."""
    from adapters import load_adapter
    from harness.scoring import attack as attack_module

    first = run(tmp_path, attackable_xlmr, adapter, e5_encoder, "charnoise", ("hi",), n=2)
    written = {name: (tmp_path / name).read_bytes() for name in ("attack.json", "summary.json", "hi.jsonl", "outcomes.jsonl")}

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished item was attacked again")

    monkeypatch.setattr(attack_module, "attack_item", must_not_run)
    again = run(tmp_path, attackable_xlmr, load_adapter("hf", str(attackable_xlmr)), e5_encoder, "charnoise", ("hi",), n=2)
    assert again["languages"] == first["languages"]
    # issue #17: byte-identical after a resume; timings (load and run seconds) live in timings.json
    assert {name: (tmp_path / name).read_bytes() for name in written} == written
    assert set(json.loads((tmp_path / "timings.json").read_text())) == {"seconds_this_run", "model_load_seconds"}


def test_another_attack_in_the_same_folder_is_refused(tmp_path: Path, attackable_xlmr: Path, adapter: Any,
                                                      e5_encoder: Any) -> None:
    run(tmp_path, attackable_xlmr, adapter, e5_encoder, "charnoise", ("en",), n=2)
    with pytest.raises(HarnessError, match="different attack"):
        run(tmp_path, attackable_xlmr, adapter, e5_encoder, "charnoise", ("en",), n=2, max_words_fraction=0.5)


def test_an_attack_can_be_extended_with_more_languages(tmp_path: Path, attackable_xlmr: Path, adapter: Any,
                                                       e5_encoder: Any) -> None:
    run(tmp_path, attackable_xlmr, adapter, e5_encoder, "charnoise", ("en",), n=2)
    before = (tmp_path / "en.jsonl").read_bytes()
    summary = run(tmp_path, attackable_xlmr, adapter, e5_encoder, "charnoise", ("en", "th"), n=2)
    assert (tmp_path / "en.jsonl").read_bytes() == before
    assert set(summary["languages"]) == {"en", "th"}
    assert set(json.loads((tmp_path / "attack.json").read_text())["items_by_language"]) == {"en", "th"}


def test_missing_resources_fail_before_anything_runs(tmp_path: Path, attackable_xlmr: Path, data_root: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from attacks.adaptive import AttackSettings
    from harness.scoring.attack import AttackConfig, run_attack

    class Untouchable:
        def predict(self, pairs: Any) -> Any:
            raise AssertionError("the model was queried")

        def identity(self) -> dict[str, Any]:
            raise AssertionError("the model was inspected")

    empty = tmp_path / "data"
    (empty / "xnli").mkdir(parents=True)
    monkeypatch.setenv("XNLI_ROBUST_DATA", str(empty))
    cfg = AttackConfig(model=str(attackable_xlmr), settings=AttackSettings("codemix"), out=tmp_path / "out",
                       languages=("fr",), n_items=2, adapter=Untouchable(), encoder=object(), progress=False)
    with pytest.raises(DataError, match="needs files"):
        run_attack(cfg)
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match="unknown attack recipe"):
        AttackSettings("textfooler")


def test_no_network_connection_is_attempted(tmp_path: Path, attackable_xlmr: Path, adapter: Any, e5_encoder: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    summary = run(tmp_path, attackable_xlmr, adapter, e5_encoder, "synonym", ("zh",), n=2)
    assert summary["languages"]["zh"]["n"] == 2


# ---- record, leaderboard, CLI ---------------------------------------------------------------------


def test_cli_attack_adds_an_under_attack_column(tmp_path: Path, attackable_xlmr: Path, e5_encoder: Any,
                                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.scoring import attack as attack_module
    from harness.cli import main
    from leaderboard.submit import regenerate, submit

    monkeypatch.setattr(attack_module, "_default_encoder", lambda: e5_encoder)
    assert main(["bench", str(attackable_xlmr), "--out", str(tmp_path / "bench"), "--languages", "en,th",
                 "--limit", "6", "--no-progress", "--no-cache"]) == 0
    submissions, page = tmp_path / "submissions", tmp_path / "LEADERBOARD.md"
    submit(tmp_path / "bench" / "result.json", "tiny", submissions, page)
    record = submissions / "tiny" / "result.json"
    code = main(["attack", str(attackable_xlmr), "--recipe", "charnoise", "--languages", "en,th", "--n", "4",
                 "--query-budget", "80", "--out", str(tmp_path / "attack"), "--record", str(record), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "under attack %" in out and "average" in out
    stored = json.loads(record.read_text())
    entry = stored["under_attack"]["charnoise"]
    assert set(entry["languages"]) == {"en", "th"} and entry["settings"]["query_budget"] == 80
    text = regenerate(submissions, page)
    assert "## Under attack (adaptive)" in text and "charnoise (n=4/lang, 80 queries)" in text
    assert "†" not in text  # recomputed from its outcomes, so not marked unverifiable

    # the outcomes beside the record: named with their sha256, ids of the recorded sample, no text
    from harness.scoring.attack_outcomes import FIELDS, ids_sha256

    outcomes = record.parent / entry["outcomes"]["file"]
    assert entry["outcomes"]["file"] == "attacks/charnoise.outcomes.jsonl"
    assert sha256_file(outcomes) == entry["outcomes"]["sha256"]
    lines = [json.loads(line) for line in outcomes.read_text("utf-8").splitlines()]
    assert len(lines) == 8 and all(tuple(line) == FIELDS for line in lines)
    assert [line["id"] for line in lines if line["language"] == "en"] == [line["id"] for line in lines if line["language"] == "th"]
    assert entry["settings"]["sample"]["ids_sha256"] == ids_sha256(line["id"] for line in lines)
    assert entry["settings"]["sample"]["rule"] == "label-balanced-genre-stratified"
    assert sorted(line["label"] for line in lines if line["language"] == "en") == \
        ["contradiction", "entailment", "entailment", "neutral"]  # 4 = 2 + 1 + 1, remainder to entailment
    by_id = {(r["language"], r["id"]): r for lang in ("en", "th") for r in records(tmp_path / "attack", lang)}
    for line in lines:
        full = by_id[(line["language"], line["id"])]
        assert line["clean_prediction"] == full["original_prediction"] and line["queries"] == full["num_queries"]

    # submit carries the outcomes; a forged number keeps the record off the page, naming the field
    copy = submit(record, "tiny-copy", tmp_path / "other", tmp_path / "OTHER.md")
    assert (copy / "attacks" / "charnoise.outcomes.jsonl").read_bytes() == outcomes.read_bytes()
    entry["languages"]["th"]["accuracy_under_attack"] = 100.0
    record.write_text(json.dumps(stored, indent=2) + "\n")
    text = regenerate(submissions, page)
    assert "under_attack/charnoise/languages/th/accuracy_under_attack" in text
    assert "| [tiny](" not in text


def test_record_of_another_model_is_refused(tmp_path: Path, attackable_xlmr: Path, tiny_xlmr: Path,
                                            adapter: Any, e5_encoder: Any) -> None:
    from harness.scoring.attack import merge_into_record
    from harness.cli import main

    assert main(["bench", str(tiny_xlmr), "--out", str(tmp_path / "bench"), "--languages", "en",
                 "--limit", "3", "--no-progress", "--no-cache"]) == 0
    summary = run(tmp_path / "attack", attackable_xlmr, adapter, e5_encoder, "charnoise", ("en",), n=2)
    with pytest.raises(HarnessError, match="another model"):
        merge_into_record(tmp_path / "bench" / "result.json", summary, tmp_path / "attack" / "outcomes.jsonl")
    assert not (tmp_path / "bench" / "attacks").exists()


def test_compare_two_attacks_item_by_item(charnoise_run: tuple[Path, dict[str, Any]], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`compare` on two attack folders: paired accuracy under attack, bootstrap CI, McNemar."""
    import shutil

    from harness.cli import main

    folder, _ = charnoise_run
    copy = tmp_path / "b"
    shutil.copytree(folder, copy)
    rows = records(copy, "th")
    row = next(r for r in rows if r["status"] in ("failed", "successful"))
    was_robust = row["status"] == "failed"
    row["status"] = "successful" if was_robust else "failed"  # B differs from A on this one item
    (copy / "th.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert main(["compare", str(folder), str(copy)]) == 0
    out = capsys.readouterr().out
    th = next(line for line in out.splitlines() if line.startswith("| th"))
    assert f"{'+' if was_robust else '-'}{100 / N_ITEMS:.1f}" in th
    from harness.scoring.attack import compare_attacks

    report = compare_attacks(folder, copy)
    assert (report["languages"]["th"]["only_a"], report["languages"]["th"]["only_b"]) == ((1, 0) if was_robust else (0, 1))
    assert report["languages"]["en"]["diff"] == 0 and report["languages"]["en"]["ci"] == [0.0, 0.0]
    assert report["overall"]["n"] == N_ITEMS * len(LANGS)


def test_pip_check_passes() -> None:
    """TextAttack lives outside site-packages, so its flair requirement does not break pip."""
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
