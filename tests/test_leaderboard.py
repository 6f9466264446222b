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
    lines = [l for l in page.splitlines() if l.startswith("| ")]
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
