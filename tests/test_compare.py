"""Paired comparison: differences, bootstrap intervals, McNemar, seed groups."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from harness.metrics.compare import compare, mcnemar_p, render
from harness.core.hashing import sha256_file
from test_leaderboard import _record


def _result(folder: Path, correct: dict[tuple[str, str, str], bool], regime: str = "direct") -> Path:
    folder.mkdir(parents=True)
    with gzip.open(folder / "predictions.jsonl.gz", "wt", encoding="utf-8") as handle:
        for (set_name, lang, item), ok in sorted(correct.items()):
            handle.write(json.dumps({"set": set_name, "language": lang, "id": item, "gold": "neutral",
                                     "pred": "neutral" if ok else "entailment", "probs": [0, 1, 0]}) + "\n")
    record = _record(0.5, regime, ["anli"] if regime == "stilts" else [])
    record["predictions"]["sha256"] = sha256_file(folder / "predictions.jsonl.gz")
    (folder / "result.json").write_text(json.dumps(record))
    return folder


def test_mcnemar_exact_values() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_p(3000, 2800) < 0.01  # normal approximation branch


def test_paired_comparison(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 400
    clean_a = rng.random(n) < 0.8
    clean_b = clean_a.copy()
    # B loses more under noise than A: A keeps 90% of its right answers, B 60%.
    noise_a = clean_a & (rng.random(n) < 0.9)
    noise_b = clean_b & (rng.random(n) < 0.6)
    def table(clean, noise):  # type: ignore[no-untyped-def]
        out = {("clean", "en", str(i)): bool(clean[i]) for i in range(n)}
        out.update({("char_noise/low", "en", str(i)): bool(noise[i]) for i in range(n)})
        return out
    a = _result(tmp_path / "a", table(clean_a, noise_a), "stilts")
    b = _result(tmp_path / "b", table(clean_b, noise_b))
    report = compare([a], [b], seed=1)
    clean = report["cells"]["clean"]["en"]
    assert clean["diff"] == 0 and clean["mcnemar"] == {"a_only": 0, "b_only": 0, "p": 1.0}
    noise = report["cells"]["char_noise"]["en"]
    assert noise["diff"] == pytest.approx(noise_a.mean() - noise_b.mean())
    assert noise["drop_diff"] == pytest.approx((clean_a.mean() - noise_a.mean()) - (clean_b.mean() - noise_b.mean()))
    assert noise["drop_ci"][1] < 0, "A's smaller drop must be significant here"
    assert noise["mcnemar"]["p"] < 1e-6
    text = render(report)
    assert "A is better" in report["verdict"] and "not distinguishable from zero" in report["verdict"]
    assert "| char_noise" in text


def test_seed_groups_average_items(tmp_path: Path) -> None:
    items = [("clean", "fr", str(i)) for i in range(10)]
    seeds_a = [_result(tmp_path / f"a{s}", {k: (int(k[2]) + s) % 2 == 0 for k in items}) for s in range(3)]
    b = _result(tmp_path / "b", {k: False for k in items})
    report = compare(seeds_a, [b])
    cell = report["cells"]["clean"]["fr"]
    assert cell["a"] == pytest.approx(0.5) and cell["b"] == 0.0
    assert "3 seeds" in report["verdict"]


def test_compare_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    items = {("clean", "en", str(i)): i % 3 != 0 for i in range(30)}
    a = _result(tmp_path / "a", items)
    b = _result(tmp_path / "b", {k: True for k in items})
    assert main(["compare", str(a), str(b), "--markdown", str(tmp_path / "c.md")]) == 0
    assert "| clean" in capsys.readouterr().out and (tmp_path / "c.md").is_file()
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
