"""The filter-independence study (harness/metrics/filter_study.py) on a real generated benchmark.

The unfiltered twin is generated for real; the filtered one is made from it by dropping items
and writing their similarities, which is what the e5 filter does (its own tests live in
tests/test_similarity.py), so the study's bookkeeping can be checked against hand counts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import generate_small_benchmark

from harness.core.errors import DataError
from harness.data.benchmark import json_line, load_benchmark
from harness.metrics import filter_study as fs

UNIT = ("char_noise", "high", "en")


@pytest.fixture(scope="module")
def unfiltered(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    return generate_small_benchmark(tmp_path_factory.mktemp("fs") / "unfiltered", data_root, ["en", "fr"], 12, 7)


def _filtered_twin(unfiltered: Path, out: Path, drop: int) -> tuple[Path, list[str]]:
    """A copy whose char_noise/high/en keeps all but its first `drop` items, with a sidecar."""
    shutil.copytree(unfiltered, out)
    family, severity, language = UNIT
    rel = f"{family}/{severity}/{language}.jsonl"
    rows = [json.loads(line) for line in (out / rel).read_text(encoding="utf-8").splitlines()]
    dropped = [r["id"] for r in rows[:drop]]
    (out / rel).write_text("".join(json_line(r) + "\n" for r in rows[drop:]), encoding="utf-8")
    side = out / "similarity" / family / severity / f"{language}.jsonl"
    side.parent.mkdir(parents=True, exist_ok=True)
    side.write_text("".join(json_line({"id": r["id"], "similarity": 0.5 if r["id"] in dropped else 0.95,
                                       "kept": r["id"] not in dropped}) + "\n" for r in rows), encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][f"similarity/{family}/{severity}/{language}.jsonl"] = {"sha256": "0" * 64, "bytes": 0}
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out, dropped


def test_candidates_carry_each_filters_decision(unfiltered: Path, tmp_path: Path) -> None:
    filtered, dropped = _filtered_twin(unfiltered, tmp_path / "filtered", drop=3)
    cands = fs.all_candidates(load_benchmark(filtered, verify_files=False), load_benchmark(unfiltered, verify_files=False))
    unit = [c for c in cands if (c.family, c.severity, c.language) == UNIT]
    assert len(unit) == 12
    assert sorted(c.id for c in unit if not c.kept["e5"]) == sorted(dropped)
    assert sum(not c.kept["chrf"] for c in unit) == 3  # the same number, chosen by chrF
    chrf_dropped = sorted((c.chrf, c.id) for c in unit)[:3]
    assert {i for _, i in chrf_dropped} == {c.id for c in unit if not c.kept["chrf"]}
    assert all(0.0 <= c.chrf <= 1.0 for c in cands)
    assert {c.e5 for c in unit} == {0.5, 0.95}
    other = [c for c in cands if (c.family, c.severity, c.language) != UNIT]
    assert other and all(c.kept["e5"] and c.kept["chrf"] for c in other)  # no sidecar: nothing dropped


def test_an_unchanged_item_has_chrf_one_and_an_edit_less() -> None:
    from harness.core.examples import NLIExample
    from harness.data.benchmark import PerturbedItem

    orig = NLIExample("1", "en", "The cat sat on the mat.", "A cat sat.", 0)
    same = PerturbedItem(orig, orig, None)
    edited = PerturbedItem(NLIExample("1", "en", "The cat sat on the mat.", "A cta sat.", 0), orig, None)
    assert fs.chrf_similarity(same) == 1.0
    assert 0.0 < fs.chrf_similarity(edited) < 1.0


def test_a_kept_item_whose_text_differs_is_refused(unfiltered: Path, tmp_path: Path) -> None:
    filtered, _ = _filtered_twin(unfiltered, tmp_path / "filtered", drop=2)
    rel = filtered / "char_noise/high/en.jsonl"
    rows = [json.loads(line) for line in rel.read_text(encoding="utf-8").splitlines()]
    rows[0]["hypothesis"] += " extra"
    rel.write_text("".join(json_line(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DataError, match="text differs"):
        fs.all_candidates(load_benchmark(filtered, verify_files=False), load_benchmark(unfiltered, verify_files=False))


def _predictions(cands: list[fs.Candidate], flip_on: set[str]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Right on every clean item; wrong (a flip) on the perturbed version of `flip_on` ids."""
    preds = {}
    for c in cands:
        preds[("clean", c.language, c.id)] = ("entailment", "entailment")
        wrong = c.id in flip_on and (c.family, c.severity, c.language) == UNIT
        preds[(f"{c.family}/{c.severity}", c.language, c.id)] = ("neutral" if wrong else "entailment", "entailment")
    return preds


def test_study_counts_drops_and_flips_by_filter(unfiltered: Path, tmp_path: Path) -> None:
    filtered, dropped = _filtered_twin(unfiltered, tmp_path / "filtered", drop=3)
    cands = fs.all_candidates(load_benchmark(filtered, verify_files=False), load_benchmark(unfiltered, verify_files=False))
    models = {"a-s1": ("direct", _predictions(cands, set(dropped))),
              "a-s2": ("direct", _predictions(cands, set(dropped[:1])))}
    report = fs.study(cands, models, seed=0)
    n_cn = sum(c.family == "char_noise" for c in cands)
    s1 = report["models"]["a-s1"]["families"]["char_noise"]
    assert s1["kept_none"]["n"] == n_cn and s1["kept_e5"]["n"] == n_cn - 3
    assert s1["kept_none"]["drop"] == pytest.approx(100.0 * 3 / n_cn)
    assert s1["kept_e5"]["drop"] == 0.0 and s1["kept_e5"]["flip_rate"] == 0.0  # e5 dropped every flip
    assert s1["dropped_e5"]["flip_rate"] == 100.0
    arm = report["arms"]["direct"]["families"]["char_noise"]
    assert arm["dropped_e5"]["flip_rate"] == pytest.approx((100.0 + 100.0 / 3) / 2)
    assert arm["dropped_e5"]["flip_rate_sd"] == pytest.approx(np.std([100.0, 100.0 / 3], ddof=1))
    assert report["overlap"]["char_noise"]["dropped"] == 3
    md = fs.render(report, "t", {"benchmark": "x"})
    assert "| direct (2) | char_noise |" in md


def test_bootstrap_difference_of_constant_sets_is_exact() -> None:
    a = np.array([1.0, 1.0, np.nan, np.nan])
    b = np.array([np.nan, np.nan, 0.0, 0.0])
    assert fs.bootstrap_difference(a, b, np.array(["1", "2", "3", "4"]), seed=0, n_boot=200) == (1.0, 1.0)


def test_arm_of_names_regime_and_tasks() -> None:
    assert fs.arm_of({"training": {"regime": "stilts", "intermediate_tasks": ["anli"]}}) == "stilts-anli"
    assert fs.arm_of({"training": {"regime": "direct", "intermediate_tasks": []}}) == "direct"


def test_report_names_with_dots_keep_every_dot() -> None:
    from harness.metrics.filter_study import report_stem

    assert report_stem(Path("out/FILTER-xnli-robust-v2.1-lite")) == Path("out/FILTER-xnli-robust-v2.1-lite")
    assert report_stem(Path("out/FILTER-v2.1-lite.md")) == Path("out/FILTER-v2.1-lite")
    assert report_stem(Path("out/report.json")) == Path("out/report")
