"""`generate --device`: the e5 filter on an accelerator keeps exactly the items a CPU run keeps.

Near-threshold cosines are recomputed in float64 on the CPU in every run, so the accelerator
decides only items far from the threshold.

No GPU here, so the accelerator is simulated: the CPU encoder's cosines plus last-bit noise of
the size measured between an H200 and this CPU (up to ~1e-6), and a few cosines placed right at
the rounding boundary, where such noise flips a rounded similarity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from attacks.similarity import SimilarityFilter
from harness.generate.similarity import EXACT_MARGIN, CpuCheckedFilter, _exact_near_threshold, DeviceScorerFactory
from harness.data.benchmark import SIMILARITY_DECIMALS
from harness.generate.run import generate
from harness.data.spec import parse_spec
from harness.data.xnli import load_local

BOUNDARY = 0.9 - 0.5 * 10 ** -SIMILARITY_DECIMALS


class NoisyAccelerator:
    """CPU cosines + up to 2e-6 of noise; every 7th pair sits on the boundary and is pushed across it."""

    def __init__(self, cpu: SimilarityFilter) -> None:
        self.cpu, self.rng = cpu, np.random.default_rng(0)
        self.planted: set[int] = set()

    def scores(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[float]:
        out = [c + float(self.rng.uniform(-2e-6, 2e-6)) for c in self.cpu.scores(originals, perturbed)]
        for i in range(0, len(out), 7):
            out[i] = BOUNDARY + (1e-6 if i % 2 else -1e-6)
            self.planted.add(i)
        return out


def _round(x: float) -> float:
    return round(x, SIMILARITY_DECIMALS)


def test_near_boundary_cosines_are_recomputed_exactly(e5_encoder: Any, data_root: Path) -> None:
    import random

    from attacks.charnoise import noise_text

    cpu = SimilarityFilter(0.9, e5_encoder)
    items = load_local(data_root / "xnli", "test", ["en"])["en"][:40]
    rng = random.Random(1)
    perturbed = [noise_text(e.hypothesis, "en", 0.5, rng) for e in items]
    pairs = [(e, e.with_texts(e.premise, p)) for e, p in zip(items, perturbed)]
    fast = NoisyAccelerator(cpu)
    checked = CpuCheckedFilter(0.9, "unused", fast=fast, cpu=cpu)
    noisy = checked.scores([e.hypothesis for e in items], perturbed)
    got = _exact_near_threshold(checked, pairs, noisy, 0.9)
    exact = cpu.exact_scores([e.hypothesis for e in items], perturbed)
    assert [_round(g) >= 0.9 for g in got] == [_round(t) >= 0.9 for t in exact]
    for i in fast.planted:  # planted cosines are not kept: they were recomputed in float64
        assert got[i] == exact[i]
    assert checked.rechecked == len(fast.planted)
    assert all(abs(g - t) < 1e-5 for g, t in zip(got, exact))
    assert checked.identity() == cpu.identity()
    assert EXACT_MARGIN > 100 * 2e-6


def test_generate_with_a_device_filter_gives_the_cpu_benchmark(tmp_path: Path, e5_encoder: Any, data_root: Path) -> None:
    spec = parse_spec({
        "name": "xnli-robust-test", "version": "0", "seed": 3, "split": "test", "languages": ["en", "zh"],
        "sizes": {"tiny": {"per_language": 12, "stratify": ["label"]}},
        "families": {"char_noise": {"severities": ["high"], "languages": "all", "similarity": 0.9},
                     "synonym": {"severities": ["low"], "languages": "all", "similarity": 0.9}},
    })
    cpu_run = generate(tmp_path / "cpu", size="tiny", spec=spec, data_root=data_root, progress=False,
                       scorer_factory=lambda t: SimilarityFilter(t, e5_encoder))
    device_run = generate(tmp_path / "device", size="tiny", spec=spec, data_root=data_root, progress=False,
                          scorer_factory=lambda t: CpuCheckedFilter(t, "unused", fast=NoisyAccelerator(
                              SimilarityFilter(t, e5_encoder)), cpu=SimilarityFilter(t, e5_encoder)))
    assert device_run.benchmark_hash == cpu_run.benchmark_hash


def test_device_factory_is_picklable_and_one_per_device() -> None:
    import pickle

    factory = DeviceScorerFactory("cuda")
    assert pickle.loads(pickle.dumps(factory)) == factory and hash(factory) == hash(DeviceScorerFactory("cuda"))


def test_cli_generate_has_a_device_option() -> None:
    from harness.cli import parser

    assert parser().parse_args(["generate", "out", "--device", "cuda"]).device == "cuda"
    assert parser().parse_args(["generate", "out"]).device == "cpu"
