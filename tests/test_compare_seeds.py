"""Seed-level compare: hierarchical bootstrap, tests on seed means, Holm, the five measures."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from test_leaderboard import _record

from harness.core.hashing import sha256_file
from harness.metrics.seed_level import (
    compare_seeds,
    holm,
    permutation_min_p,
    permutation_p,
    welch_p,
)
from harness.metrics.seed_report import render_seeds

LABELS = ("entailment", "neutral", "contradiction")
Preds = dict[tuple[str, str, str], tuple[str, str]]  # key -> (pred, gold)


def _write(folder: Path, preds: Preds) -> Path:
    folder.mkdir(parents=True)
    with gzip.open(folder / "predictions.jsonl.gz", "wt", encoding="utf-8") as handle:
        for (set_name, lang, item), (pred, gold) in sorted(preds.items()):
            handle.write(json.dumps({"set": set_name, "language": lang, "id": item, "gold": gold,
                                     "pred": pred, "probs": [0, 1, 0]}) + "\n")
    record = _record(0.5)
    record["predictions"]["sha256"] = sha256_file(folder / "predictions.jsonl.gz")
    (folder / "result.json").write_text(json.dumps(record))
    return folder


def _seed(folder: Path, rng: np.random.Generator, clean_p: float, keep_p: float, n: int = 120) -> Path:
    """One seed: right on clean with probability clean_p, keeps a right answer under noise with keep_p."""
    preds: Preds = {}
    for i in range(n):
        for lang in ("en", "fr"):
            clean_ok = rng.random() < clean_p
            preds[("clean", lang, str(i))] = ("neutral" if clean_ok else "entailment", "neutral")
            for severity in ("low", "high"):
                ok = clean_ok and rng.random() < keep_p
                preds[(f"char_noise/{severity}", lang, str(i))] = ("neutral" if ok else "contradiction", "neutral")
    return _write(folder, preds)


@pytest.fixture(scope="module")
def disagreeing(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    """Seeds that disagree a lot within side A (clean 45-85%), B's seeds alike."""
    root, rng = tmp_path_factory.mktemp("seeds"), np.random.default_rng(3)
    a = [_seed(root / f"a{s}", rng, p, k) for s, (p, k) in enumerate([(0.45, 0.6), (0.65, 0.8), (0.85, 0.95)])]
    b = [_seed(root / f"b{s}", rng, 0.65, 0.8) for s in range(3)]
    return a, b


def _row(report: dict, family: str, measure: str) -> dict:
    return next(r for r in report["rows"] if r["family"] == family and r["measure"] == measure)


def _width(ci: tuple[float, float]) -> float:
    return ci[1] - ci[0]


def test_hierarchical_interval_wider_when_seeds_disagree(disagreeing: tuple[list[Path], list[Path]]) -> None:
    report = compare_seeds(*disagreeing, seed=0)
    for family, measure in [("clean", "accuracy"), ("char_noise", "accuracy"), ("char_noise", "drop")]:
        row = _row(report, family, measure)
        assert _width(row["ci"]) > 1.5 * _width(row["ci_items_only"]), (family, measure, row)
        assert row["ci"][0] <= row["diff"] <= row["ci"][1]


def test_items_only_interval_when_seeds_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    a = _seed(tmp_path / "a", rng, 0.7, 0.8)
    b = _seed(tmp_path / "b", rng, 0.6, 0.8)
    report = compare_seeds([a, a, a], [b, b, b], seed=0)  # identical seeds: nothing for seeds to add
    row = _row(report, "clean", "accuracy")
    assert row["ci"] == pytest.approx(row["ci_items_only"])
    assert row["welch_p"] is None  # no spread within either side
    assert row["permutation_p"] == pytest.approx(0.1)  # perfectly separated: the design's minimum


def test_permutation_minimum() -> None:
    assert permutation_min_p(3, 3) == pytest.approx(0.1)
    assert permutation_min_p(10, 10) == pytest.approx(2 / math.comb(20, 10))
    assert permutation_min_p(1, 3) == pytest.approx(0.25)
    # the minimum is reached by perfectly separated seeds, exactly
    assert permutation_p([0.7, 0.71, 0.72], [0.5, 0.51, 0.52]) == pytest.approx(0.1)
    assert permutation_p(list(np.linspace(0.6, 0.7, 10)), list(np.linspace(0.4, 0.5, 10))) == pytest.approx(
        2 / math.comb(20, 10))
    assert permutation_p([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]) == 1.0


def test_holm_known_values() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert holm([]) == []


def test_welch_hand_computed() -> None:
    # x = 1,2,3 and y = 4,5,6: t = -3 / sqrt(1/3 + 1/3), df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4, and for
    # four degrees of freedom P(|T| < t) = sin(a) (1 + cos(a)^2 / 2) with a = atan(t / 2).
    t = 3 / math.sqrt(2 / 3)
    a = math.atan(t / 2)
    hand = 1 - math.sin(a) * (1 + math.cos(a) ** 2 / 2)
    assert welch_p([1, 2, 3], [4, 5, 6]) == pytest.approx(hand, rel=1e-9)
    assert hand == pytest.approx(0.021312, abs=1e-6)
    assert welch_p([0.5], [0.4, 0.6]) is None
    assert welch_p([1, 2, 3, 4], [2, 4, 6, 8, 10, 12]) == pytest.approx(0.0318244, rel=1e-5)  # unequal n and spread


def test_measures_by_hand(tmp_path: Path) -> None:
    """Two items, one seed a side: every measure checked against a count done by hand."""
    gold = "neutral"
    a: Preds = {("clean", "en", "1"): ("neutral", gold), ("clean", "en", "2"): ("neutral", gold),
                ("synonym/low", "en", "1"): ("neutral", gold), ("synonym/high", "en", "1"): ("entailment", gold),
                ("synonym/low", "en", "2"): ("neutral", gold), ("synonym/high", "en", "2"): ("neutral", gold)}
    b: Preds = {("clean", "en", "1"): ("neutral", gold), ("clean", "en", "2"): ("contradiction", gold),
                ("synonym/low", "en", "1"): ("neutral", gold), ("synonym/high", "en", "1"): ("neutral", gold),
                ("synonym/low", "en", "2"): ("entailment", gold), ("synonym/high", "en", "2"): ("contradiction", gold)}
    report = compare_seeds([_write(tmp_path / "a", a)], [_write(tmp_path / "b", b)])
    value = lambda measure: (_row(report, "synonym", measure)["a"], _row(report, "synonym", measure)["b"])  # noqa: E731
    assert value("accuracy") == pytest.approx((3 / 4, 2 / 4))
    assert value("drop") == pytest.approx((1 - 3 / 4, 2 / 4 - 2 / 4))
    assert value("flip_rate") == pytest.approx((1 / 4, 1 / 4))  # B: entailment vs clean contradiction flips
    assert value("loss_rate") == pytest.approx((1 / 2, 0.0))  # only item 1 is right on clean for both
    assert value("worst_case") == pytest.approx((1 / 2, 1 / 2))
    assert _row(report, "all", "worst_case")["a"] == pytest.approx(1 / 2)
    assert _row(report, "synonym", "accuracy")["welch_p"] is None


def test_deterministic_under_fixed_seed(disagreeing: tuple[list[Path], list[Path]]) -> None:
    first, again = compare_seeds(*disagreeing, seed=7), compare_seeds(*disagreeing, seed=7)
    assert json.dumps(first) == json.dumps(again)
    assert render_seeds(first) == render_seeds(again)
    other = compare_seeds(*disagreeing, seed=8)
    assert [r["ci"] for r in other["rows"]] != [r["ci"] for r in first["rows"]]


def test_report_holm_and_minimum(disagreeing: tuple[list[Path], list[Path]]) -> None:
    report = compare_seeds(*disagreeing, seed=0)
    assert report["min_permutation_p"] == pytest.approx(0.1) and report["n_families"] == 1
    row = _row(report, "char_noise", "drop")
    assert row["permutation_p_holm"] == row["permutation_p"] >= 0.1  # one family: Holm changes nothing
    assert "smallest permutation p this design can reach is 0.1" in render_seeds(report)


def test_cli_seed_level(disagreeing: tuple[list[Path], list[Path]], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    a, b = (",".join(map(str, side)) for side in disagreeing)
    assert main(["compare", a, b, "--seed-level", "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "| char_noise" in out and "95% CI seeds+items" in out and "perm. p" in out
    report = json.loads((tmp_path / "c.json").read_text())
    assert {r["measure"] for r in report["rows"]} == {"accuracy", "drop", "flip_rate", "loss_rate", "worst_case"}
    assert main(["compare", a, b]) == 0
    assert "McNemar p" in capsys.readouterr().out  # the default output is the old one


# ---- several recipes against one baseline ---------------------------------------------------------

@pytest.fixture(scope="module")
def recipes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """A baseline of 3 seeds, a 3-seed recipe that loses much more under noise, and a 1-seed recipe."""
    root, rng = tmp_path_factory.mktemp("recipes"), np.random.default_rng(11)
    return {"base": [_seed(root / f"base-s{s}", rng, 0.7, 0.9) for s in (1, 2, 3)],
            "fragile": [_seed(root / f"fragile-s{s}", rng, 0.7, 0.5) for s in (1, 2, 3)],
            "solo": [_seed(root / "solo-s1", rng, 0.7, 0.85)]}


def _holm_by_hand(p1: float, p2: float) -> tuple[float, float]:
    """Holm for two tests: the smaller p times 2, the larger p times 1 but never below the first."""
    low, high = sorted((p1, p2))
    first, second = min(1.0, 2 * low), min(1.0, max(2 * low, high))
    return (first, second) if p1 <= p2 else (second, first)


def test_holm_across_recipes(recipes: dict[str, list[Path]]) -> None:
    from harness.metrics.seed_level import compare_recipes

    report = compare_recipes([recipes["fragile"], recipes["solo"]], recipes["base"], seed=0)
    fragile, solo = report["arms"]
    assert (fragile["label_a"], solo["label_a"], report["baseline_label"]) == ("fragile", "solo", "base")
    for measure in ("drop", "flip_rate", "accuracy"):
        rf, rs = _row(fragile, "char_noise", measure), _row(solo, "char_noise", measure)
        expected = _holm_by_hand(rf["permutation_p"], rs["permutation_p"])
        assert (rf["permutation_p_holm"], rs["permutation_p_holm"]) == pytest.approx(expected)
        assert rf["permutation_p_holm_m"] == 2
        # Welch exists for the 3-seed arm only, so its family has one test: Holm leaves it as it is
        assert rs["welch_p"] is None and rs["welch_p_holm"] is None
        assert rf["welch_p_holm"] == pytest.approx(rf["welch_p"]) and rf["welch_p_holm_m"] == 1
        # the smallest adjusted permutation p reachable: m times the smallest raw p (0.1 for 3 vs 3)
        assert rf["permutation_p_holm_min"] == pytest.approx(2 * 0.1)
    clean_f, clean_s = _row(fragile, "clean", "accuracy"), _row(solo, "clean", "accuracy")
    assert (clean_f["permutation_p_holm"], clean_s["permutation_p_holm"]) == pytest.approx(
        _holm_by_hand(clean_f["permutation_p"], clean_s["permutation_p"]))
    scopes = {(d["scope"], d["measure"], d["test"]): d["m"] for d in report["holm_families"]}
    assert scopes[("families", "drop", "permutation_p")] == 2 and scopes[("families", "drop", "welch_p")] == 1


def test_one_seed_arm_is_reported_honestly(recipes: dict[str, list[Path]]) -> None:
    from harness.metrics.seed_level import compare_recipes
    from harness.metrics.seed_report import render_recipes, verdict

    report = compare_recipes([recipes["solo"]], recipes["base"], seed=0)
    arm = report["arms"][0]
    assert arm["seeds"] == [1, 3] and arm["seed_level"] is False and arm["min_permutation_p"] == pytest.approx(0.25)
    for row in arm["rows"]:
        assert row["ci"] is None and row["welch_p"] is None and row["mdd"] is None
        assert row["ci_items_only"] is not None and row["sd_a"] is None
        assert row["permutation_p"] >= 0.25 - 1e-12  # 1 vs 3 seeds: four relabelings
    drop = _row(arm, "char_noise", "drop")
    assert drop["mdd_10"] is not None and drop["mdd_basis"] == "other side's sd for the one-seed side"
    text = verdict(report["arms"])
    assert "no seed-level claim can be made" in text and "for these models only" in text
    assert "shown (" not in text and "excludes zero" not in text
    page = render_recipes(report, "xnli-robust compare ...")
    table_row = next(line for line in page.splitlines() if line.startswith("| char_noise") and "| drop" in line)
    assert table_row.split("|")[7].strip() == "–"  # no seed-level interval
    assert "cannot go below p = 0.25 with 1 vs 3 seeds" in page


def test_verdict_names_a_clear_difference(recipes: dict[str, list[Path]]) -> None:
    from harness.metrics.seed_level import compare_recipes
    from harness.metrics.seed_report import verdict

    report = compare_recipes([recipes["fragile"]], recipes["base"], seed=0)
    drop = _row(report["arms"][0], "char_noise", "drop")
    assert drop["ci"][0] > 0 and drop["welch_p_holm"] < 0.05  # keeps 50% vs 90% of right answers
    text = verdict(report["arms"])
    assert "shown (seed-level 95% interval excluding zero and Holm-adjusted Welch p < 0.05)" in text
    assert f"drop under char_noise {100 * drop['diff']:+.1f} [{100 * drop['ci'][0]:+.1f}, {100 * drop['ci'][1]:+.1f}]" in text
    assert "3 seeds" in text and "cannot go below p = 0.1 with 3 vs 3 seeds" in text
    assert "(3 seeds: 10 sets, 67%)" in text  # C(5, 3) distinct resamples, (n - 1)/n of s^2/n
    assert f"lowering the drop by more than any amount (interval from {100 * drop['ci'][0]:+.1f}) under char_noise" in text


def test_detectable_difference_by_hand() -> None:
    from harness.metrics.seed_level import detectable_difference

    # sd 1 on both sides, 10 seeds each: SE = sqrt(0.2), df = 18; t(0.975, 18) = 2.1009, t(0.8, 18) = 0.8620
    assert detectable_difference(1.0, 1.0, 10, 10) == pytest.approx((2.1009 + 0.8620) * math.sqrt(0.2), rel=1e-4)
    assert detectable_difference(1.0, 1.0, 1, 3) is None and detectable_difference(0.0, 0.0, 3, 3) is None


def test_cli_baseline_mode(recipes: dict[str, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    def group(key: str) -> str:
        return ",".join(map(str, recipes[key]))

    out = tmp_path / "r.md"
    assert main(["compare", "--seed-level", "--baseline", group("base"), group("fragile"), group("solo"),
                 "--markdown", str(out)]) == 0
    page = out.read_text()
    assert page.startswith("# Seed-level comparison: fragile, solo vs base")
    assert "## Verdict (generated)" in page and "## Multiple comparisons" in page and "m = 2 permutation" in page
    capsys.readouterr()
    assert main(["compare", group("base"), group("fragile"), group("solo")]) == 2
    assert "use --seed-level --baseline" in capsys.readouterr().err
    assert main(["compare", "--baseline", group("base"), group("fragile")]) == 2
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert "--baseline GROUP" in capsys.readouterr().out
