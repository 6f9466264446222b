"""The prediction cache: same answers, no stale answers, survives interruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from adapters.hf import HFAdapter
from adapters.cache import CachedAdapter
from harness.cli import main
from harness.data.xnli import load_local
from tiny_models import permuted_copy


@pytest.fixture(scope="module")
def pairs(data_root: Path) -> list[tuple[str, str]]:
    data = load_local(data_root / "xnli", "dev", ["en", "zh"])
    return [(e.premise, e.hypothesis) for items in data.values() for e in items[:25]]


def test_cache_serves_identical_answers(tiny_bert: Path, tmp_path: Path, pairs: list[tuple[str, str]]) -> None:
    plain = HFAdapter.load(str(tiny_bert)).predict(pairs)
    cached = CachedAdapter(HFAdapter.load(str(tiny_bert)), tmp_path / "c.sqlite")
    first = cached.predict(pairs)
    assert cached.misses == len(set(pairs)) and cached.hits == len(pairs) - len(set(pairs))
    again = CachedAdapter(HFAdapter.load(str(tiny_bert)), tmp_path / "c.sqlite")
    second = again.predict(pairs[::-1])
    assert again.misses == 0
    np.testing.assert_array_equal(second[::-1], first)
    np.testing.assert_allclose(first, plain, atol=1e-6)


def test_changed_model_never_gets_stale_answers(tiny_bert: Path, tmp_path: Path, pairs: list[tuple[str, str]]) -> None:
    CachedAdapter(HFAdapter.load(str(tiny_bert)), tmp_path / "c.sqlite").predict(pairs)
    other = permuted_copy(tiny_bert, tmp_path / "other", (1, 0, 2))
    cfg = json.loads((other / "config.json").read_text())  # same labels, different weights
    cfg["id2label"] = {"0": "entailment", "1": "neutral", "2": "contradiction"}
    cfg["label2id"] = {v: int(k) for k, v in cfg["id2label"].items()}
    (other / "config.json").write_text(json.dumps(cfg))
    changed = CachedAdapter(HFAdapter.load(str(other)), tmp_path / "c.sqlite")
    probs = changed.predict(pairs)
    assert changed.hits == 0
    np.testing.assert_allclose(probs, HFAdapter.load(str(other)).predict(pairs), atol=1e-6)


def test_interrupted_batch_stores_nothing_half_written(tiny_bert: Path, tmp_path: Path,
                                                        pairs: list[tuple[str, str]]) -> None:
    inner = HFAdapter.load(str(tiny_bert))
    cached = CachedAdapter(inner, tmp_path / "c.sqlite")
    cached.predict(pairs[:10])
    original = inner.predict

    def crash(batch):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    inner.predict = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        cached.predict(pairs)
    inner.predict = original  # type: ignore[method-assign]
    resumed = CachedAdapter(inner, tmp_path / "c.sqlite")
    resumed.predict(pairs)
    assert resumed.hits == 10


def test_bench_with_cache_matches_plain_run(tiny_bert: Path, tmp_path: Path, data_root: Path) -> None:
    common = ["bench", str(tiny_bert), "--data-dir", str(data_root), "--split", "dev", "--limit", "8",
              "--languages", "en,th,ar", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "plain"), "--no-cache"]) == 0
    for name in ("cold", "warm"):
        assert main([*common, "--out", str(tmp_path / name), "--cache", str(tmp_path / "p.sqlite"), "--batch-size", "3"]) == 0
    results = {n: json.loads((tmp_path / n / "result.json").read_text()) for n in ("plain", "cold", "warm")}
    assert results["plain"]["results"] == results["cold"]["results"] == results["warm"]["results"]
    assert results["warm"]["inference"]["cache"] == {"hits": 24, "misses": 0}


def test_seeded_answers_are_served_and_checksummed(tiny_bert: Path, tmp_path: Path, pairs: list[tuple[str, str]]) -> None:
    """`seed` (used by leaderboard/rescore.py) stores rows a later predict serves as hits."""
    from adapters.cache import pair_key

    known = HFAdapter.load(str(tiny_bert)).predict(pairs[:5])
    cached = CachedAdapter(HFAdapter.load(str(tiny_bert)), tmp_path / "c.sqlite")
    cached.seed({pair_key(p, h): row for (p, h), row in zip(pairs[:5], known)})
    again = CachedAdapter(HFAdapter.load(str(tiny_bert)), tmp_path / "c.sqlite")
    np.testing.assert_array_equal(again.predict(pairs[:5]), known.astype(np.float32))
    assert again.hits == 5 and again.misses == 0 and again.rejected == 0
