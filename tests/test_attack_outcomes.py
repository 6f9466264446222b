"""The adaptive attack's item sample and its committed per-item outcomes (no TextAttack needed).

The sample is checked on the real XNLI test files (label balance, genre strata, determinism,
independence of input order, one id list for every language).  The outcomes are checked the way
the leaderboard checks a record: a consistent entry passes, a forged number or a tampered file is
refused with the field named, and an entry from before outcomes were kept stays readable but is
marked unverifiable on the page.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness import LABELS
from harness.core.errors import DataError, IntegrityError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_file

LANGS = ("en", "ar", "hi", "th", "zh")


@pytest.fixture(scope="module")
def xnli(data_root: Path) -> dict[str, list[NLIExample]]:
    from harness.data.xnli import load_local

    return load_local(data_root / "xnli", "test", list(LANGS))


# ---- the sample ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "expected"), [(60, [20, 20, 20]), (61, [21, 20, 20]), (62, [21, 21, 20])])
def test_sample_splits_n_equally_over_the_labels(xnli: dict[str, list[NLIExample]], n: int,
                                                 expected: list[int]) -> None:
    from harness.scoring.attack import sample_ids

    gold = {e.id: e.label for e in xnli["en"]}
    ids = sample_ids(xnli["en"], n, seed=0)
    assert len(ids) == len(set(ids)) == n
    counts = Counter(gold[i] for i in ids)
    assert [counts[label] for label in range(len(LABELS))] == expected  # remainder to the lower label index


def test_sample_is_stratified_by_genre_within_each_label(xnli: dict[str, list[NLIExample]]) -> None:
    from harness.scoring.attack import sample_ids

    english = xnli["en"]
    by_id = {e.id: e for e in english}
    n = 45  # 15 per label over 10 genres: the remainder must go by largest remainder, not by chance
    ids = sample_ids(english, n, seed=3)
    for label in range(len(LABELS)):
        pool = Counter(e.genre for e in english if e.label == label)
        got = Counter(by_id[i].genre for i in ids if by_id[i].label == label)
        quota = sum(got.values())
        assert quota == n // len(LABELS)
        for genre, available in pool.items():
            share = quota * available / sum(pool.values())
            assert abs(got[genre] - share) < 1, (label, genre, got[genre], share)


def test_sample_is_deterministic_and_independent_of_input_order(xnli: dict[str, list[NLIExample]]) -> None:
    from harness.scoring.attack import sample_ids

    english = xnli["en"]
    ids = sample_ids(english, 30, seed=0)
    shuffled = list(english)
    random.Random(7).shuffle(shuffled)
    assert sample_ids(shuffled, 30, seed=0) == ids  # same ids, in the same order
    assert sample_ids(list(reversed(english)), 30, seed=0) == ids
    assert sample_ids(english, 30, seed=1) != ids


def test_the_same_ids_are_attacked_in_every_language(xnli: dict[str, list[NLIExample]]) -> None:
    from harness.scoring.attack import sample_ids, select_items

    items = select_items(xnli, LANGS, 24, seed=0)
    english_ids = sample_ids(xnli["en"], 24, seed=0)
    gold = {e.id: e.label for e in xnli["en"]}
    for language in LANGS:
        assert [e.id for e in items[language]] == english_ids
        assert all(e.language == language and e.label == gold[e.id] for e in items[language])
    without_english = select_items(xnli, ("th", "zh"), 24, seed=0)  # chosen from English all the same
    assert [e.id for e in without_english["th"]] == english_ids


def test_a_sampled_id_missing_from_a_language_is_an_error(xnli: dict[str, list[NLIExample]]) -> None:
    from harness.scoring.attack import sample_ids, select_items

    first = sample_ids(xnli["en"], 6, seed=0)[0]
    holed = {**xnli, "th": [e for e in xnli["th"] if e.id != first]}
    with pytest.raises(DataError, match="th: 1 sampled ids are not in its data"):
        select_items(holed, ("en", "th"), 6, seed=0)


def test_a_label_too_rare_for_a_balanced_sample_is_an_error() -> None:
    from harness.scoring.attack import sample_ids

    examples = [NLIExample(f"i{k}", "en", "p", "h", 0 if k < 10 else 1 + k % 2) for k in range(13)]
    with pytest.raises(DataError, match="needs 4 items of every label"):
        sample_ids(examples, 12, seed=0)
    assert len(sample_ids(examples, 3, seed=0)) == 3


def test_the_attack_loads_english_to_sample_even_when_it_attacks_other_languages(data_root: Path) -> None:
    from attacks.adaptive import AttackSettings
    from harness.core.hashing import sha256_json
    from harness.data.xnli import load_local
    from harness.scoring.attack import AttackConfig, _load_items, sample_description, sample_ids

    cfg = AttackConfig(model="unused", settings=AttackSettings("charnoise"), out=Path("unused"), languages=("th",),
                       n_items=9, progress=False)
    items = _load_items(cfg)
    assert list(items) == ["th"]
    english = load_local(data_root / "xnli", "test", ["en"])["en"]
    assert [e.id for e in items["th"]] == sample_ids(english, 9, seed=0)
    described = sample_description(items, parallel=True)
    assert described["rule"] == "label-balanced-genre-stratified" and described["reference_language"] == "en"
    assert described["ids_sha256"] == sha256_json(sorted(e.id for e in items["th"]))


# ---- outcomes and their verification ------------------------------------------------------------


def full_records(seed: int = 0, n: int = 12) -> list[dict[str, Any]]:
    """What `result_record` writes per item (minus text), for a made-up attack on n items x 5 languages."""
    rng = random.Random(seed)
    rows = []
    for language in LANGS:
        for k in range(n):
            gold = LABELS[k % 3]
            status = rng.choice(["successful", "failed", "skipped"])
            clean = gold if status != "skipped" else LABELS[(k + 1) % 3]
            words = rng.randint(10, 40)
            changed = rng.randint(1, 4) if status == "successful" else 0
            rows.append({"id": f"item{k}", "language": language, "label": gold, "status": status,
                         "original_prediction": clean, "num_queries": 1 if status == "skipped" else rng.randint(5, 500),
                         "words": words, "words_changed": changed,
                         "perturbed_word_pct": round(100 * changed / words, 4) if changed else 0.0})
    return rows


def attacked_record(folder: Path, legacy_too: bool = False) -> dict[str, Any]:
    """A record holding one attack entry made the way `merge_into_record` makes it."""
    from harness.scoring import attack_outcomes
    from harness.scoring.attack import average, summarise

    rows = full_records()
    per_language = {lang: summarise([r for r in rows if r["language"] == lang]) for lang in LANGS}
    outcomes = [attack_outcomes.outcome(r) for r in rows]
    path = folder / "attacks" / "charnoise.outcomes.jsonl"
    attack_outcomes.write(path, outcomes)
    settings = {"recipe": "charnoise", "query_budget": 500, "seed": 0,
                "sample": {"rule": "label-balanced-genre-stratified", "version": 1, "reference_language": "en",
                           "ids_sha256": attack_outcomes.ids_sha256(o["id"] for o in outcomes)}}
    entry = {"settings": settings, "items_sha256": "0" * 64, "languages": per_language,
             "average": average(per_language),
             "outcomes": {"file": "attacks/charnoise.outcomes.jsonl", "sha256": sha256_file(path)}}
    record = {"under_attack": {"charnoise": entry}, "training": {"regime": "direct", "intermediate_tasks": []}}
    if legacy_too:
        old = copy.deepcopy(entry)
        del old["outcomes"], old["settings"]["sample"]
        record["under_attack"]["synonym"] = old
    return record


def test_outcome_lines_hold_exactly_the_fields_and_no_text(tmp_path: Path) -> None:
    from harness.scoring import attack_outcomes

    attacked_record(tmp_path)
    lines = (tmp_path / "attacks" / "charnoise.outcomes.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 12 * len(LANGS)
    for line in map(json.loads, lines):
        assert list(line) == ["language", "id", "label", "clean_prediction", "status", "queries", "perturbed_word_pct"]
        assert line["status"] in ("succeeded", "failed", "skipped")
    assert attack_outcomes.read(tmp_path / "attacks" / "charnoise.outcomes.jsonl")[0] == json.loads(lines[0])


def test_a_consistent_entry_passes(tmp_path: Path) -> None:
    from harness.scoring.attack_outcomes import RECOMPUTED
    from leaderboard.verify import check_attacks, unverified_attacks

    record = attacked_record(tmp_path)
    averaged = 7  # languages, n and the five averaged fields
    assert check_attacks(tmp_path, record) == len(LANGS) * len(RECOMPUTED) + averaged
    assert unverified_attacks(record) == []


@pytest.mark.parametrize(("where", "field"), [
    (("languages", "th"), "accuracy_under_attack"), (("languages", "en"), "avg_num_queries"),
    (("languages", "zh"), "n_failed"), (("average",), "attack_success_rate"), (("average",), "original_accuracy"),
])
def test_a_forged_number_is_refused_by_name(tmp_path: Path, where: tuple[str, ...], field: str) -> None:
    from leaderboard.verify import check_attacks

    record = attacked_record(tmp_path)
    target = record["under_attack"]["charnoise"]
    for key in where:
        target = target[key]
    target[field] = (target[field] or 0) + 5
    with pytest.raises(IntegrityError, match="under_attack/charnoise/" + "/".join(where) + f"/{field}: the record says"):
        check_attacks(tmp_path, record)


def _edit_outcomes(folder: Path, edit: Any, rehash: bool, record: dict[str, Any]) -> None:
    path = folder / "attacks" / "charnoise.outcomes.jsonl"
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    edit(lines)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    if rehash:
        record["under_attack"]["charnoise"]["outcomes"]["sha256"] = sha256_file(path)


def _robust_to_flipped(lines: list[dict[str, Any]]) -> None:
    line = next(o for o in lines if o["language"] == "hi" and o["status"] == "failed")
    line["status"], line["perturbed_word_pct"] = "succeeded", 5.0


def test_a_tampered_outcomes_file_is_refused(tmp_path: Path) -> None:
    from leaderboard.verify import check_attacks

    record = attacked_record(tmp_path)
    _edit_outcomes(tmp_path, _robust_to_flipped, rehash=False, record=record)
    with pytest.raises(IntegrityError, match="sha256 does not match under_attack/charnoise/outcomes/sha256"):
        check_attacks(tmp_path, record)
    # with its sha256 updated too, the numbers no longer follow from it
    _edit_outcomes(tmp_path, lambda lines: None, rehash=True, record=record)
    with pytest.raises(IntegrityError, match="under_attack/charnoise/languages/hi/"):
        check_attacks(tmp_path, record)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda lines: lines[0].update(premise="some text"), "exactly the fields"),
    (lambda lines: lines[0].update(status="skipped") if lines[0]["status"] != "skipped"
     else lines[0].update(status="failed"), "contradicts the clean prediction"),
    (lambda lines: lines[0].update(id="not-sampled"), "ids_sha256"),
    (lambda lines: lines.append(dict(lines[0])), "appears twice"),
    (lambda lines: lines[0].update(queries=-1), "is not a count"),
])
def test_malformed_outcomes_are_refused(tmp_path: Path, edit: Any, message: str) -> None:
    from leaderboard.verify import check_attacks

    record = attacked_record(tmp_path)
    _edit_outcomes(tmp_path, edit, rehash=True, record=record)
    with pytest.raises(IntegrityError, match=message):
        check_attacks(tmp_path, record)


@pytest.mark.parametrize("name", ["../charnoise.outcomes.jsonl", "/tmp/x.jsonl", "elsewhere/x.jsonl", "attacks/missing.jsonl"])
def test_an_outcomes_path_outside_attacks_or_missing_is_refused(tmp_path: Path, name: str) -> None:
    from leaderboard.verify import check_attacks

    record = attacked_record(tmp_path)
    record["under_attack"]["charnoise"]["outcomes"]["file"] = name
    with pytest.raises(DataError, match="must be attacks/|is missing"):
        check_attacks(tmp_path, record)


def test_an_entry_without_outcomes_stays_readable_but_is_marked(tmp_path: Path) -> None:
    from leaderboard.render import UNVERIFIED_NOTE, _under_attack
    from leaderboard.verify import check_attacks, unverified_attacks

    record = attacked_record(tmp_path, legacy_too=True)
    assert check_attacks(tmp_path, record) > 0  # the verified entry is still checked
    assert unverified_attacks(record) == ["synonym"]
    text = _under_attack([("tiny", record)])
    row = next(line for line in text.splitlines() if line.startswith("| [tiny]"))
    charnoise_cell, synonym_cell = [c.strip() for c in row.split("|")[4:6]]
    assert "†" not in charnoise_cell and "†" in synonym_cell
    assert UNVERIFIED_NOTE.strip() in text
    del record["under_attack"]["synonym"]
    assert "†" not in _under_attack([("tiny", record)])  # no footnote when every entry is verified


def test_merging_into_a_record_holds_the_record_folder_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two attacks of one model side by side must not lose an entry: the record is read, changed
    and replaced under an exclusive lock on its folder, which another process cannot take."""
    import fcntl
    import os

    import harness.core.record as record_module
    from harness.scoring import attack

    record_path = tmp_path / "result.json"
    record_path.write_text("{}", encoding="utf-8")
    seen: list[bool] = []

    def probe(path: Path) -> dict[str, Any]:
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(False)
        except BlockingIOError:
            seen.append(True)
        finally:
            os.close(fd)
        raise DataError("stop after the probe")

    monkeypatch.setattr(record_module, "load_record", probe)
    with pytest.raises(DataError, match="stop after the probe"):
        attack.merge_into_record(record_path, {}, tmp_path / "outcomes.jsonl")
    assert seen == [True]
    fd = os.open(tmp_path, os.O_RDONLY)  # released afterwards, even on an error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_the_attack_table_by_recipe_gives_mean_and_sd_of_verified_seeds(tmp_path: Path) -> None:
    """Seeds of one recipe pool into one row (mean ± sd), a legacy † entry never counts, and
    seeds attacked under different settings are shown as mixed, not averaged."""
    from leaderboard.render import _attack_by_recipe

    records = []
    for seed in (1, 2):
        folder = tmp_path / f"s{seed}"
        folder.mkdir()
        record = attacked_record(folder, legacy_too=True)
        record["data"] = {"benchmark": {"benchmark_hash": "b" * 64}}
        record["under_attack"]["charnoise"]["average"]["accuracy_under_attack"] = 20.0 + 2 * seed
        records.append((f"direct-tiny-s{seed}", record))
    text = _attack_by_recipe(records)
    row = next(line for line in text.splitlines() if line.startswith("| direct-tiny"))
    charnoise, synonym = [c.strip() for c in row.split("|")[2:4]]
    assert "→ 23.0 ± 1.4 (" in charnoise and charnoise.endswith("2 seeds)")
    assert synonym == "–"  # only legacy entries: not pooled
    records[1][1]["under_attack"]["charnoise"]["settings"]["query_budget"] = 100
    row = next(line for line in _attack_by_recipe(records).splitlines() if line.startswith("| direct-tiny"))
    assert row.split("|")[2].strip() == "mixed"
