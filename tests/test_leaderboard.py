"""Leaderboard rendering, atomic submit, schema validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.core.errors import DataError, IntegrityError
from harness.core.record import validate
from leaderboard import submit as submit_mod
from leaderboard.render import render


def _record(accuracy: float, regime: str = "direct", tasks: list[str] | None = None) -> dict:
    scores = {"accuracy": accuracy, "ci_low": accuracy - 0.02, "ci_high": accuracy + 0.02, "n": 100}
    return {
        "schema_version": 1, "harness": {"version": "0.1.0", "git_commit": None},
        "model": {"id": "m", "revision": None, "adapter": "hf", "weights_sha256": "0" * 64,
                  "label_map": {"entailment": 0, "neutral": 1, "contradiction": 2}, "label_map_source": "config",
                  "max_length": 128, "precision": "float32", "base_model": "xlm-roberta-large"},
        "training": {"regime": regime, "intermediate_tasks": tasks or []},
        "data": {"source": "local", "split": "test", "languages": ["en", "fr"], "files": {}, "limit": None,
                 "n_items": {"en": 100, "fr": 100}},
        "seed": 1, "hardware": {"device": "cpu"},
        "timing": {"total_seconds": 1.0, "predict_seconds": 0.5, "pairs_per_second": 400.0},
        "results": {"clean": {"per_language": {"en": scores, "fr": scores}, "macro": scores}},
        "predictions": {"file": "predictions.jsonl.gz", "sha256": "1" * 64}, "created": "2026-11-26T00:00:00+00:00",
    }


def test_render_ranks_by_clean_average() -> None:
    page = render([("Direct", _record(0.70)), ("Stilts", _record(0.74, "stilts", ["anli", "qqp"]))])
    lines = _lines(page, "Clean accuracy, every submission")
    assert "Stilts" in lines[1] and lines[1].startswith("| 1 ") and "anli, qqp" in lines[1]
    assert "Direct" in lines[2] and "74.0 [72.0, 76.0]" in lines[1]
    assert "do not edit by hand" in page


def test_schema_rejects_strings_for_numbers() -> None:
    record = _record(0.7)
    validate(record)
    bad = copy.deepcopy(record)
    bad["results"]["clean"]["macro"]["accuracy"] = "0.7"
    with pytest.raises(DataError, match="results/clean/macro/accuracy"):
        validate(bad)


def test_interrupted_submit_leaves_everything_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from harness.core.hashing import sha256_file

    run = tmp_path / "run"
    run.mkdir()
    with gzip.open(run / "predictions.jsonl.gz", "wt") as handle:
        handle.write("{}\n")
    record = _record(0.7)
    record["predictions"]["sha256"] = sha256_file(run / "predictions.jsonl.gz")
    (run / "result.json").write_text(json.dumps(record))
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    # this test is about atomicity: the numbers check (tests/test_faults.py) is stubbed out here
    import leaderboard.verify as verify_mod

    stub = lambda *a, **k: verify_mod.Verification("stub")  # noqa: E731
    monkeypatch.setattr(verify_mod, "verify_against_data", stub)
    monkeypatch.setattr(verify_mod, "verify_stored", stub)
    submit_mod.submit(run, "First", subs, page)
    before = page.read_text()

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(submit_mod.shutil, "copy2", boom)
    with pytest.raises(KeyboardInterrupt):
        submit_mod.submit(run, "Second", subs, page)
    assert sorted(p.name for p in subs.iterdir()) == [".lock", "First"]
    assert page.read_text() == before
    # a tampered predictions file is refused
    monkeypatch.undo()
    (run / "predictions.jsonl.gz").write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="altered"):
        submit_mod.submit(run, "Third", subs, page)


# ---- one row per recipe -------------------------------------------------------------------------

FAMILIES = ("char_noise", "synonym")


def _robust(name_seed: int, clean: float, drops: tuple[float, float], flips: tuple[float, float], worst: float,
            stages: list[dict] | None = None, bench: str = "a" * 64) -> dict:
    """A benchmark record with family averages (accuracy = clean - drop) and, optionally, training stages."""
    record = _record(clean, "stilts", ["anli"])
    record["seed"] = name_seed
    record["data"]["benchmark"] = {"id": "xnli-robust-test", "benchmark_hash": bench, "matches_spec": True}
    record["results"]["perturbed"] = {"families": {
        f: {"average": {"accuracy": clean - d, "clean_accuracy": clean, "drop": d, "flip_rate": fl}}
        for f, d, fl in zip(FAMILIES, drops, flips)}}
    record["results"]["worst_case"] = {"average": worst}
    if stages is not None:
        record["training"]["stages"] = stages
    return record


def _stage(accuracy: float, learned: bool, ci: tuple[float, float]) -> list[dict]:
    return [{"stage": 0, "task": "anli", "held_out_accuracy": accuracy, "held_out_n": 627, "ci95": list(ci),
             "chance": 1 / 3, "learned": learned, "selection": "held-out 10% of the pooled rounds"},
            {"stage": 1, "task": "mnli", "held_out_accuracy": 0.66, "held_out_n": 1000, "ci95": [0.63, 0.69],
             "chance": 1 / 3, "learned": True, "selection": "mnli train hold-out"}]


def _lines(page: str, section: str) -> list[str]:
    block = page.split(f"## {section}")[1].split("\n## ")[0]
    return [line for line in block.splitlines() if line.startswith("| ")]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def test_by_recipe_mean_sd_and_seed_count() -> None:
    records = [("R-s1", _robust(1, 0.50, (0.02, 0.01), (0.10, 0.20), 0.20, _stage(0.349, False, (0.312, 0.387)))),
               ("R-s2", _robust(2, 0.55, (0.04, 0.01), (0.20, 0.30), 0.25, _stage(0.40, True, (0.36, 0.44)))),
               ("R-s3", _robust(3, 0.60, (0.06, 0.01), (0.30, 0.40), 0.30)),  # no stages in this record
               ("Solo-s1", _robust(1, 0.58, (0.05, 0.02), (0.12, 0.14), 0.22, _stage(0.349, False, (0.312, 0.387))))]
    page = render(records)
    header, second, first = _lines(page, "By recipe")  # Solo (58.0) ranks above R (55.0)
    columns = _cells(header)
    row = dict(zip(columns, _cells(first)))
    assert row["recipe"] == "R" and row["seeds"].startswith("3: [s1](../submissions/R-s1/)")
    # clean 50, 55, 60: mean 55, sample sd sqrt(((-5)^2 + 0 + 5^2) / 2) = 5
    assert row["clean"] == "55.0 ± 5.0" and row["worst case"] == "25.0 ± 5.0"
    # flip rate per record: mean over the two families (15, 25, 35): mean 25, sd 10
    assert row["flip rate"] == "25.0 ± 10.0"
    # char_noise: accuracy 48, 51, 54 (sd 3); change -2, -4, -6 (sd 2)
    assert row["char_noise"] == "51.0 ± 3.0 (-4.0 ± 2.0)"
    assert row["synonym"] == "54.0 ± 5.0 (-1.0 ± 0.0)"
    # the intermediate stage (not the MNLI one): two of three seeds report it, one learned
    assert row["stage 1 held-out"] == "anli 37.5 ± 3.6 (chance 33.3, learned 1/2; 2 of 3 seeds report it)"
    assert "stage 2 held-out" not in columns
    solo = dict(zip(columns, _cells(second)))
    assert solo["recipe"] == "Solo" and solo["seeds"] == "1: [s1](../submissions/Solo-s1/)"
    assert solo["clean"] == "58.0" and solo["flip rate"] == "13.0" and solo["char_noise"] == "53.0 (-5.0)"
    assert solo["stage 1 held-out"] == "anli 34.9 [31.2, 38.7] (chance 33.3, not learned)"
    # every seed is still listed on its own, with its flip rate and stage
    clean_rows = _lines(page, "Clean accuracy, every submission")[1:]
    assert len(clean_rows) == 4
    robust = {(_cells(line)[1]): dict(zip(_cells(_lines(page, "Robustness")[0]), _cells(line)))
              for line in _lines(page, "Robustness")[1:]}
    assert robust["[R-s3](../submissions/R-s3/)"]["stage 1 held-out"] == "–"
    assert robust["[R-s2](../submissions/R-s2/)"]["stage 1 held-out"] == "anli 40.0 [36.0, 44.0] (chance 33.3, learned)"
    assert robust["[R-s1](../submissions/R-s1/)"]["flip rate"] == "15.0"


def test_by_recipe_keeps_benchmarks_apart() -> None:
    records = [("R-s1", _robust(1, 0.50, (0.02, 0.01), (0.1, 0.2), 0.2)),
               ("R-s2", _robust(2, 0.52, (0.02, 0.01), (0.1, 0.2), 0.2, bench="b" * 64))]
    rows = _lines(render(records), "By recipe")[1:]
    assert [_cells(r)[2] for r in rows] == ["1: [s2](../submissions/R-s2/)", "1: [s1](../submissions/R-s1/)"]


def test_recipe_identity_is_the_recipe_minus_its_seed(tmp_path: Path) -> None:
    from harness.core.hashing import sha256_file
    from leaderboard.recipes import group_records, recipe_identity

    text = "# run: {name}\nname: {name}\nseed: {seed}\nregime: stilts\nstages:\n  - {{task: anli, lr: {lr}}}\n"
    def folder(name: str, seed: int, lr: str, match: bool = True) -> tuple[Path, dict]:
        path = tmp_path / name
        path.mkdir()
        (path / "recipe.yaml").write_text(text.format(name=name, seed=seed, lr=lr))
        record = _record(0.5)
        record["training"]["recipe_sha256"] = sha256_file(path / "recipe.yaml") if match else "0" * 64
        return path, record

    made = {n: folder(n, s, lr, m) for n, s, lr, m in [("alpha", 1, "1e-4", True), ("beta", 2, "1e-4", True),
                                                      ("gamma-s1", 1, "5e-4", True), ("gamma-s2", 2, "1e-4", False)]}
    ids = {n: recipe_identity(p, r) for n, (p, r) in made.items()}
    assert ids["alpha"] == ids["beta"] and ids["alpha"].startswith("recipe:")  # only name, seed, comment differ
    assert ids["gamma-s1"] != ids["alpha"]  # another learning rate: another recipe
    assert ids["gamma-s2"] == "name:gamma"  # the file is not the one the record names: the name rule
    groups = group_records([(n, r) for n, (_, r) in made.items()], ids)
    assert sorted((g.label, len(g.members)) for g in groups) == [("alpha / beta", 2), ("gamma", 1), ("gamma", 1)]
