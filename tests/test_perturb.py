"""`xnli-robust perturb` and `attack --data-file`: any NLI data, any language, on real text.

The files are built here from real XNLI rows and never committed: a Catalan file (XNLI Spanish
test rows through Apertium's spa-cat), a file of cross-lingual pairs (an English premise with a
German hypothesis, a Chinese premise with an English one), an English file with ids of its own,
and Swahili rows served as a hub dataset with only the network boundary replaced.  Each is
perturbed, verified and scored with a tiny model built in the tests, and what the manifest says
(input hashes, coverage, sources, refusals) is checked against the files themselves.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from attacks.base import derive_rng
from harness.cli import main
from harness.core.examples import NLIExample
from harness.data.xnli import load_local

N = 8


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text("utf-8"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def catalan_file(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """Catalan pairs: XNLI Spanish test rows translated by Apertium (spa-cat), language ca."""
    if shutil.which("apertium") is None:
        pytest.fail("apertium is not installed (make system-deps)")
    spanish = load_local(data_root / "xnli", "test", ["es"])["es"][:N]
    lines = "".join(f"{ex.premise}\n{ex.hypothesis}\n" for ex in spanish)  # one Apertium run, a text a line
    catalan = subprocess.run(["apertium", "-u", "spa-cat"], input=lines, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert len(catalan) == 2 * N and all(catalan)
    rows = [{"id": ex.id, "premise": catalan[2 * i].strip(), "hypothesis": catalan[2 * i + 1].strip(),
             "label": ex.label_name} for i, ex in enumerate(spanish)]
    return _write_jsonl(tmp_path_factory.mktemp("ca") / "ca.jsonl", rows)


@pytest.fixture(scope="module")
def mixed_file(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """Cross-lingual pairs from parallel XNLI rows: en premise + de hypothesis, zh premise + en one.

    Both ways of saying it: `language: en+de`, and premise_language/hypothesis_language fields."""
    data = load_local(data_root / "xnli", "test", ["en", "de", "zh"])
    rows = []
    for i in range(N):
        en, de = data["en"][i], data["de"][i]
        side = {"language": "en+de"} if i % 2 else {"premise_language": "en", "hypothesis_language": "de"}
        rows.append({"id": en.id, "premise": en.premise, "hypothesis": de.hypothesis, "label": en.label_name, **side})
    for i in range(N, N + 4):
        zh, en = data["zh"][i], data["en"][i]
        rows.append({"id": zh.id, "premise": zh.premise, "hypothesis": en.hypothesis, "label": zh.label_name,
                     "language": "zh+en"})
    return _write_jsonl(tmp_path_factory.mktemp("mixed") / "pairs.jsonl", rows)


# ---- a language outside the 15 ----------------------------------------------------------------------

def test_a_catalan_file_is_perturbed_verified_and_scored(catalan_file: Path, tiny_bert: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench-ca"
    assert main(["perturb", str(catalan_file), "--families", "char_noise,back_translation", "--language", "ca",
                 "--out", str(out), "--similarity", "none", "--no-progress"]) == 0
    printed = capsys.readouterr()
    manifest = _manifest(out)
    assert manifest["benchmark"]["kind"] == "user-file"
    assert manifest["input"]["sha256"] == _sha256(catalan_file) and manifest["input"]["n_items"] == {"ca": N}
    clean = {r["id"]: r for r in _lines(out / "clean" / "ca.jsonl")}
    assert len(clean) == N and {r["language"] for r in clean.values()} == {"ca"}
    coverage = manifest["coverage"]
    for severity in ("low", "medium", "high"):
        row = coverage["char_noise"]["ca"][severity]
        assert row["source"] == "unicode:unicode-text-alphabet"  # no Catalan keyboard table: the text's letters
        items = _lines(out / "char_noise" / severity / "ca.jsonl")
        assert row["n_kept"] == len(items) == row["n_changed"] > N // 2  # no filter: every changed item kept
        for item in items:
            original = clean[item["id"]]
            assert (item["orig_premise"], item["orig_hypothesis"]) == (original["premise"], original["hypothesis"])
            assert (item["premise"], item["hypothesis"]) != (original["premise"], original["hypothesis"])
            assert item["label"] == original["label"]
        unit = manifest["units"][f"char_noise/{severity}/ca"]
        assert unit["perturbation"]["params"]["source"] == "unicode-text-alphabet"
    routes = {sev: coverage["back_translation"]["ca"][sev]["source"] for sev in ("low", "medium", "high")}
    assert routes == {"low": "route ca>en>ca (apertium)", "medium": "route ca>es>ca (apertium)",
                      "high": "route ca>en>ca>es>ca (apertium)"}
    for severity in ("low", "medium", "high"):
        row = coverage["back_translation"]["ca"][severity]
        assert row["n_kept"] == len(_lines(out / "back_translation" / severity / "ca.jsonl"))
        if row["n_changed"] == 0:  # reported, never silent (ca>es>ca can undo spa-cat exactly)
            assert f"warning: back_translation/{severity}/ca: no item changed" in printed.err
    assert coverage["back_translation"]["ca"]["low"]["n_changed"] > 0

    assert main(["verify", str(out), "--data-file", str(catalan_file)]) == 0
    verified = capsys.readouterr().out
    assert "user-file benchmark of ca.jsonl" in verified and "the data the manifest records" in verified
    altered = tmp_path / "ca.jsonl"
    altered.write_bytes(catalan_file.read_bytes().replace(b"a", b"e", 1))
    assert main(["verify", str(out), "--data-file", str(altered)]) == 3
    assert "not the data the benchmark was made from" in capsys.readouterr().err

    run = tmp_path / "run"  # no --allow-unpinned: a user-file benchmark says what it is
    assert main(["bench", str(tiny_bert), "--benchmark", str(out), "--out", str(run), "--no-cache",
                 "--no-progress"]) == 0
    assert "a user-file benchmark, which no spec pins" in capsys.readouterr().out
    record = json.loads((run / "result.json").read_text("utf-8"))
    assert record["data"]["benchmark"]["matches_spec"] is None
    assert "user-file" in record["data"]["benchmark"]["verification"]
    assert record["results"]["clean"]["per_language"]["ca"]["n"] == N
    families = record["results"]["perturbed"]["families"]
    high = families["char_noise"]["cells"]["high"]["ca"]
    predictions = [json.loads(l) for l in gzip.open(run / "predictions.jsonl.gz", "rt", encoding="utf-8")]
    clean_pred = {r["id"]: r["pred"] for r in predictions if r["set"] == "clean"}
    cell = [r for r in predictions if r["set"] == "char_noise/high"]
    assert high["n"] == len(cell) == coverage["char_noise"]["ca"]["high"]["n_kept"]
    assert high["flip_rate"] == pytest.approx(sum(r["pred"] != clean_pred[r["id"]] for r in cell) / len(cell))
    assert set(families) == {"char_noise", "back_translation"}


def test_a_family_without_resources_is_refused_naming_what_is_missing(catalan_file: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "refused"
    code = main(["perturb", str(catalan_file), "--families", "char_noise,synonym,code_switch,code_switch_sentence",
                 "--language", "ca", "--out", str(out), "--similarity", "none", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: cannot perturb ")
    for needed in ("synonym for ca (low, medium, high): no wordnet", "code_switch for ca",
                   "dictionaries/en-ca.txt.gz", "code_switch_sentence for ca", "parallel XNLI test rows",
                   "--skip-unsupported"):
        assert needed in err, needed
    assert not out.exists() and not list(tmp_path.glob("refused*"))

    assert main(["perturb", str(catalan_file), "--families", "char_noise,synonym,code_switch_sentence",
                 "--language", "ca", "--out", str(out), "--similarity", "none", "--no-progress",
                 "--skip-unsupported"]) == 0
    assert "skipped synonym for ca" in capsys.readouterr().err
    manifest = _manifest(out)
    assert set(manifest["families"]) == {"char_noise"}
    assert {(r["family"], r["language"]) for r in manifest["unsupported"]} == {("synonym", "ca"),
                                                                              ("code_switch_sentence", "ca")}
    assert all(r["severities"] == ["low", "medium", "high"] and r["missing"] for r in manifest["unsupported"])

    with pytest.raises(SystemExit) as bad:  # argparse refuses it: exit 2 with the usage line
        main(["perturb", str(catalan_file), "--families", "char_noise", "--language", "Catalan",
              "--out", str(tmp_path / "bad")])
    assert bad.value.code == 2 and "not an ISO 639 language code" in capsys.readouterr().err


def test_back_translation_reports_the_routes_a_language_has() -> None:
    from attacks.support import family_support

    root = Path(os.environ["XNLI_ROBUST_DATA"])
    galician = family_support("back_translation", "gl", ["low", "medium", "high"], root)
    assert dict(galician.units) == {"low": {"route": "gl>es>gl"}}
    assert "second installed pivot language" in galician.missing["medium"] and "gl>es>gl" in galician.missing["high"]
    georgian = family_support("back_translation", "ka", ["low"], root)
    assert not georgian.units and "translates 'ka' both ways" in georgian.missing["low"]
    english = family_support("back_translation", "en", ["low", "high"], root)  # v1.1's routes, unchanged
    assert dict(english.units) == {"low": {}, "high": {}} and english.source_of("high") == "route en>pt>en>es>en (bergamot+apertium)"


def test_perturbing_twice_gives_identical_bytes(catalan_file: Path, tmp_path: Path, e5_encoder: Any) -> None:
    from attacks.similarity import SimilarityFilter
    from harness.generate.perturb import PerturbRequest, perturb

    def e5(threshold: float) -> Any:
        return SimilarityFilter(threshold, e5_encoder)

    request = PerturbRequest(str(catalan_file), ("char_noise",), ("high",), language="ca", seed=3)
    first = perturb(tmp_path / "a", request, scorer_factory=e5, progress=False)
    second = perturb(tmp_path / "b", request, scorer_factory=e5, progress=False)
    files = {p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    assert "similarity/char_noise/high/ca.jsonl" in files and "manifest.json" in files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert first.generated.benchmark_hash == second.generated.benchmark_hash
    rows = _lines(tmp_path / "a" / "similarity" / "char_noise" / "high" / "ca.jsonl")
    kept = _manifest(tmp_path / "a")["coverage"]["char_noise"]["ca"]["high"]["n_kept"]
    assert kept == sum(r["kept"] for r in rows) and all(r["kept"] == (r["similarity"] >= 0.9) for r in rows)
    again = perturb(tmp_path / "a", request, scorer_factory=e5, progress=False)  # finished: reused, not redone
    assert again.generated.benchmark_hash == first.generated.benchmark_hash and not again.generated.units_run
    other_seed = perturb(tmp_path / "c", PerturbRequest(str(catalan_file), ("char_noise",), ("high",), language="ca",
                                                        seed=4), scorer_factory=e5, progress=False)
    assert other_seed.generated.benchmark_hash != first.generated.benchmark_hash
    from harness.core.errors import DataError

    with pytest.raises(DataError, match="already holds another benchmark"):
        perturb(tmp_path / "a", PerturbRequest(str(catalan_file), ("char_noise",), ("high",), language="ca", seed=4),
                scorer_factory=e5, progress=False)


def test_the_unicode_path_is_pinned_and_the_keyboards_are_untouched() -> None:
    from attacks.charnoise import CharNoise, ScriptCharNoise, build

    catalan = build("high", "ca", Path("."))
    assert isinstance(catalan, ScriptCharNoise) and catalan.languages == frozenset({"ca"})
    example = NLIExample("0", "ca", "El gat dorm damunt la cadira", "El gat dorm", 0)
    out = catalan.perturb(example, derive_rng(1, "char_noise", "high", "ca", "0"))
    assert out.premise == "El gat dorm uamunt la cadia"  # the docstring's example
    for language in ("en", "de", "th", "zh"):  # a keyboard table: the published path, never the new one
        assert isinstance(build("low", language, Path(".")), CharNoise)
    with pytest.raises(KeyError, match="ISO 639"):
        ScriptCharNoise("low", "en+de")


# ---- pairs whose sides are in different languages ------------------------------------------------

def test_cross_language_pairs_are_perturbed_side_by_side_and_scored(mixed_file: Path, tiny_bert: Path, tmp_path: Path,
                                                                    data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from attacks.charnoise import CharNoise
    from harness.generate.perturb import build_unit

    out = tmp_path / "bench-mixed"
    assert main(["perturb", str(mixed_file), "--families", "char_noise,synonym,code_switch,back_translation",
                 "--severities", "high", "--out", str(out), "--similarity", "none", "--seed", "5",
                 "--skip-unsupported", "--no-progress"]) == 0
    manifest = _manifest(out)
    assert manifest["input"]["n_items"] == {"en+de": N, "zh+en": 4}
    assert manifest["coverage"]["char_noise"]["en+de"]["high"]["source"] == \
        "premise (en): keyboard:qwerty-us; hypothesis (de): keyboard:qwertz-de"
    assert set(manifest["coverage"]["synonym"]) == set(manifest["coverage"]["code_switch"]) == {"en+de", "zh+en"}
    refused = {(r["family"], r["language"]): r["missing"] for r in manifest["unsupported"]}
    assert set(refused) == {("back_translation", "en+de"), ("back_translation", "zh+en")}
    assert "hypothesis side (de)" in refused[("back_translation", "en+de")]
    assert "premise side (zh)" in refused[("back_translation", "zh+en")]

    # each side got its own language's tables, with the item's RNG: premise first, then hypothesis
    clean = {r["id"]: r for r in _lines(out / "clean" / "en+de.jsonl")}
    english, german = CharNoise("high", "en"), CharNoise("high", "de")
    for item in _lines(out / "char_noise" / "high" / "en+de.jsonl"):
        rng = derive_rng(5, "char_noise", "high", "en+de", item["id"])
        original = clean[item["id"]]
        assert item["premise"] == english.perturb_text(original["premise"], rng)
        assert item["hypothesis"] == german.perturb_text(original["hypothesis"], rng)
    mixed = build_unit("char_noise", "high", "en+de", data_root)
    pair = NLIExample("1", "en+de", "The cat sleeps on the kitchen chair.", "Die Katze schläft auf dem Stuhl.", 0)
    golden = mixed.perturb(pair, derive_rng(1, "char_noise", "high", "en+de", "1"))
    assert (golden.premise, golden.hypothesis) == ("The cat sleepx on he kichen chair.", "Dei Katze schläft uf demf Stuhl.")
    zh_clean = {r["id"]: r for r in _lines(out / "clean" / "zh+en.jsonl")}
    switched = _lines(out / "code_switch" / "high" / "zh+en.jsonl")
    assert switched and all(item["label"] == zh_clean[item["id"]]["label"] for item in switched)

    run = tmp_path / "run"
    assert main(["bench", str(tiny_bert), "--benchmark", str(out), "--out", str(run), "--no-cache", "--no-progress"]) == 0
    record = json.loads((run / "result.json").read_text("utf-8"))
    assert set(record["results"]["clean"]["per_language"]) == {"en+de", "zh+en"}
    assert set(record["results"]["perturbed"]["families"]) == {"char_noise", "synonym", "code_switch"}
    capsys.readouterr()
    custom = tmp_path / "custom"  # the clean file scored directly, as before
    assert main(["bench", str(tiny_bert), "--data-file", str(mixed_file), "--out", str(custom), "--no-cache",
                 "--no-progress"]) == 0
    direct = json.loads((custom / "result.json").read_text("utf-8"))
    assert direct["results"]["clean"]["per_language"] == record["results"]["clean"]["per_language"]


def test_bad_rows_are_refused_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row = {"premise": "A cat sleeps.", "hypothesis": "Eine Katze schläft.", "label": "entailment"}
    cases = {"contradicting sides": ([{**row, "language": "en", "hypothesis_language": "de"}],
                                     "x.jsonl:1: language 'en' contradicts"),
             "duplicate id": ([{**row, "id": "a"}, {**row, "id": "a"}], "duplicate item id 'a'"),
             "bad code": ([{**row, "language": "EN"}], "'EN' is not an ISO 639 language code")}
    for name, (rows, expected) in cases.items():
        path = _write_jsonl(tmp_path / "x.jsonl", rows)
        assert main(["perturb", str(path), "--families", "char_noise", "--out", str(tmp_path / "o")]) == 2, name
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, name
        assert not (tmp_path / "o").exists()


# ---- a hub dataset, through the same loader as --data-file ------------------------------------------

def test_a_hub_dataset_is_perturbed_with_only_the_network_boundary_replaced(
        tmp_path: Path, data_root: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from harness.data import tasks

    swahili = load_local(data_root / "xnli", "test", ["sw"])["sw"][:6]
    rows = [{"premise": ex.premise, "hypothesis": ex.hypothesis, "label": ex.label} for ex in swahili]
    rows.append({"premise": "Hakuna lebo.", "hypothesis": "Hakuna.", "label": -1})  # unlabelled: dropped, counted
    calls = []

    def fake_hub(name: str, config: str | None, split: str) -> list[dict[str, Any]]:
        calls.append((name, config, split))
        return rows

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(tasks, "hub_load_dataset", fake_hub)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    out = tmp_path / "hub-bench"
    assert main(["perturb", "hub:someone/nli-sw:test", "--families", "char_noise", "--severities", "high",
                 "--language", "sw", "--out", str(out), "--similarity", "none", "--no-progress"]) == 0
    manifest = _manifest(out)
    assert manifest["input"]["kind"] == "hub" and manifest["input"]["name"] == "someone/nli-sw"
    assert manifest["input"]["unlabelled_dropped"] == 1 and manifest["input"]["n_items"] == {"sw": 6}
    assert manifest["coverage"]["char_noise"]["sw"]["high"]["source"] == "keyboard:qwerty-us"
    assert [r["id"] for r in _lines(out / "clean" / "sw.jsonl")] == [f"test-{i}" for i in range(6)]
    assert main(["verify", str(out), "--data-file", "hub:someone/nli-sw:test"]) == 0
    assert main(["bench", str(tiny_bert), "--data-file", "hub:someone/nli-sw:test", "--data-language", "sw",
                 "--out", str(tmp_path / "run"), "--no-cache", "--no-progress"]) == 0
    record = json.loads((tmp_path / "run" / "result.json").read_text("utf-8"))
    assert record["data"]["source"] == "custom" and record["data"]["n_items"] == {"sw": 6}
    assert record["data"]["files"] == {"hub:someone/nli-sw:test": manifest["input"]["content_sha256"]}
    assert set(calls) == {("someone/nli-sw", None, "test")}


# ---- attack --data-file -------------------------------------------------------------------------------

@pytest.mark.usefixtures("one_torch_thread")
def test_attack_runs_on_a_data_file(tmp_path: Path, data_root: Path, attackable_xlmr: Path, e5_encoder: Any,
                                    catalan_file: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from attacks.textattack_compat import textattack_available
    from harness.scoring import attack as attack_module

    if not textattack_available():
        if os.environ.get("XNLI_ROBUST_REQUIRE_TEXTATTACK"):
            pytest.fail("TextAttack is required here (make textattack)")
        pytest.skip("TextAttack not installed (make textattack)")
    monkeypatch.setattr(attack_module, "_default_encoder", lambda: e5_encoder)
    test_en = load_local(data_root / "xnli", "test", ["en"])["en"][100:]
    english = [ex for label in range(3) for ex in [e for e in test_en if e.label == label][:2]]  # 2 per label: n=4 balances
    path = _write_jsonl(tmp_path / "mine.jsonl", [{"id": f"mine-{i}", "premise": ex.premise, "hypothesis": ex.hypothesis,
                                                   "label": ex.label_name} for i, ex in enumerate(english)])
    out = tmp_path / "attack"
    assert main(["attack", str(attackable_xlmr), "--recipe", "charnoise", "--data-file", str(path), "--n", "4",
                 "--query-budget", "40", "--out", str(out), "--no-progress"]) == 0
    header = json.loads((out / "attack.json").read_text("utf-8"))
    assert header["data"] == {"source": "custom", "files": {"mine.jsonl": _sha256(path)}}
    records = _lines(out / "en.jsonl")
    assert len(records) == 4 and {r["id"] for r in records} <= {f"mine-{i}" for i in range(6)}
    by_id = {f"mine-{i}": ex for i, ex in enumerate(english)}
    for r in records:
        assert (r["premise"], r["hypothesis"]) == (by_id[r["id"]].premise, by_id[r["id"]].hypothesis)
        assert r["status"] in ("successful", "failed", "skipped")
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert set(summary["languages"]) == {"en"} and summary["languages"]["en"]["n"] == 4
    capsys.readouterr()
    catalan = _write_jsonl(tmp_path / "ca.jsonl", [{**r, "language": "ca"} for r in _lines(catalan_file)])
    assert main(["attack", str(attackable_xlmr), "--recipe", "charnoise", "--data-file", str(catalan),
                 "--n", "2", "--query-budget", "40", "--out", str(tmp_path / "ca-attack"), "--no-progress"]) == 0
    ca_records = _lines(tmp_path / "ca-attack" / "ca.jsonl")  # a language the project has no table for
    assert len(ca_records) == 2 and all(r["status"] in ("successful", "failed", "skipped") for r in ca_records)
    capsys.readouterr()
    code = main(["attack", str(attackable_xlmr), "--recipe", "synonym", "--data-file", str(catalan),
                 "--n", "2", "--out", str(tmp_path / "ca-syn"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "needs the word lists of the 15 XNLI languages" in err and "Traceback" not in err


def test_the_charnoise_attack_edits_an_unseen_language_with_the_familys_unicode_edits(data_root: Path) -> None:
    """No keyboard table for Catalan: candidates are the `ScriptCharNoise` edits, letters drawn from
    the text, the same for the same word and text whatever ran before; digits stay protected."""
    from attacks.textattack_compat import import_textattack

    import_textattack(data_root)
    from textattack.shared import AttackedText

    from attacks import charnoise, ta_parts

    swap = ta_parts.CharNoiseSwap("ca", seed=3)
    text = AttackedText("El gat dorm damunt la cadira vermella de 2001")
    words = text.words
    first = swap._get_transformations(text, set(range(len(words))))
    again = ta_parts.CharNoiseSwap("ca", seed=3)._get_transformations(text, set(range(len(words))))
    assert [t.text for t in first] == [t.text for t in again] and first
    for t in first:  # one word changed, into one of the family's edits of it in this text
        changed = [(a, b) for a, b in zip(words, t.words) if a != b]
        assert len(changed) == 1
        before, after = changed[0]
        assert after in {c for cs in charnoise.unicode_word_candidates(before, text.text).values() for c in cs}
    edits = charnoise.unicode_word_candidates("cadira", text.text)
    assert edits and all(c != "cadira" for cs in edits.values() for c in cs)
    modifiable = ta_parts.ProtectedWords("ca")._get_modifiable_indices(text)
    assert words.index("2001") not in modifiable and words.index("cadira") in modifiable
