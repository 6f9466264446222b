"""The similarity filter policy of generation: e5 cosines, with decisions no machine changes.

Similarities are rounded before the threshold is applied, so the stored value explains the
decision; cosines near the threshold are recomputed in float64 one text at a time
(`_exact_near_threshold`), so no instruction set, thread count or batch flips a keep/drop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from harness.core.examples import NLIExample
from harness.core.hashing import sha256_json
from harness.data.benchmark import SIMILARITY_DECIMALS, perturbed_record
from harness.generate.task import ScorerFactory, UnitTask


def _filter(pairs: list[tuple[NLIExample, NLIExample]], task: UnitTask
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any] | None]:
    """Semantic-similarity filter: min over the changed sentences, rounded, vs the threshold.

    Returns the kept records, the similarity of every candidate (kept or not, for audits and
    threshold calibration) and the encoder's identity.
    """
    if task.threshold is None or task.scorer_factory is None:
        return [perturbed_record(o, n) for o, n in pairs], None, None
    scorer = _scorer(task.scorer_factory, task.threshold)
    raw = _pair_similarities(scorer, pairs, task)
    sims = [round(c, SIMILARITY_DECIMALS) for c in _exact_near_threshold(scorer, pairs, raw, task.threshold)]
    records, table = [], []
    for (orig, new), sim in zip(pairs, sims):
        kept = sim >= task.threshold
        table.append({"id": orig.id, "similarity": sim, "kept": kept})
        if kept:
            records.append(perturbed_record(orig, new))
    return records, table, _encoder_identity(scorer)


def _encoder_identity(scorer: Any) -> dict[str, Any]:
    """The encoder's identity without the threshold (recorded per family, not per encoder)."""
    return {k: v for k, v in scorer.identity().items() if k != "threshold"}


def _changed_sides(pairs: list[tuple[NLIExample, NLIExample]]) -> list[tuple[int, str, str, str]]:
    """(item, side, original, perturbed) for every sentence an edit changed."""
    return [(i, side, a, b) for i, (orig, new) in enumerate(pairs)
            for side, a, b in (("p", orig.premise, new.premise), ("h", orig.hypothesis, new.hypothesis))
            if a != b]


def _pair_similarities(scorer: Any, pairs: list[tuple[NLIExample, NLIExample]], task: UnitTask) -> list[float]:
    """Unrounded min cosine per item; one batched encoder call per unit (never per process)."""
    if _has_encoder(scorer):
        return _encoder_similarities(scorer.encoder, pairs, task)
    changed = _changed_sides(pairs)
    sims = [1.0] * len(pairs)
    scores = list(scorer.scores([c[2] for c in changed], [c[3] for c in changed])) if changed else []
    for (i, *_), score in zip(changed, scores):
        sims[i] = float(score) if math.isnan(float(score)) else min(sims[i], float(score))
    return sims


def _exact_near_threshold(scorer: Any, pairs: list[tuple[NLIExample, NLIExample]], raw: list[float],
                          threshold: float) -> list[float]:
    """Recompute with the scorer's exact path every cosine whose decision a machine could flip.

    Why: the benchmark hash must not depend on the CPU's instruction set, the thread count or
    the batch a sentence was encoded in.  Those move a float32 cosine by about 1e-6 (at most
    2.4e-7 measured between an H200 and this CPU), which changes a keep/drop decision only
    next to the boundary `threshold - 0.5e-4` (similarities are rounded to 4 decimals).  Every
    cosine within `EXACT_MARGIN` of it, or unknown (NaN), is recomputed in float64, one text
    at a time (`SimilarityFilter.exact_scores`), and that value decides.  A scorer without an
    exact path (test doubles) keeps its own values.
    """
    exact = getattr(scorer, "exact_scores", None)
    boundary = threshold - 0.5 * 10 ** -SIMILARITY_DECIMALS
    redo = {i for i, c in enumerate(raw) if math.isnan(c) or abs(c - boundary) < EXACT_MARGIN}
    if not redo or not callable(exact):
        return list(raw)
    changed = [c for c in _changed_sides(pairs) if c[0] in redo]
    scores = exact([c[2] for c in changed], [c[3] for c in changed])
    out = list(raw)
    for i in redo:
        out[i] = 1.0
    for (i, *_), score in zip(changed, scores):
        out[i] = min(out[i], float(score))
    return out


def _has_encoder(scorer: Any) -> bool:
    return callable(getattr(getattr(scorer, "encoder", None), "encode", None))


def _encoder_similarities(encoder: Any, pairs: list[tuple[NLIExample, NLIExample]], task: UnitTask) -> list[float]:
    """Fast path for an embedding encoder: the clean texts of a language are embedded once.

    Every unit of a language shares the same originals, so they are embedded in one call per
    language (always the same call, whichever process or order), and a unit embeds only its
    changed sentences: about half the encoder work of pairwise scoring.  Near-threshold values
    are recomputed exactly afterwards (`_exact_near_threshold`).
    """
    import numpy as np

    clean = _clean_vectors(encoder, task.examples)
    changed = _changed_sides(pairs)
    vectors = encoder.encode([c[3] for c in changed]) if changed else np.zeros((0, 0))
    sims = [1.0] * len(pairs)
    for (i, _, original, _), vec in zip(changed, vectors):
        sims[i] = min(sims[i], float(np.clip(np.dot(clean[original], vec), -1.0, 1.0)))
    return sims


_CLEAN_VECTORS: dict[tuple[int, str], dict[str, Any]] = {}


def _clean_vectors(encoder: Any, examples: Sequence[NLIExample]) -> dict[str, Any]:
    """text -> vector for all premises and hypotheses of a unit's items (cached per process)."""
    texts = list(dict.fromkeys(t for ex in examples for t in (ex.premise, ex.hypothesis)))
    key = (id(encoder), sha256_json(texts))
    if key not in _CLEAN_VECTORS:
        if len(_CLEAN_VECTORS) >= 3:  # tasks run language by language; bounds memory on full
            _CLEAN_VECTORS.pop(next(iter(_CLEAN_VECTORS)))
        _CLEAN_VECTORS[key] = dict(zip(texts, encoder.encode(texts)))
    return _CLEAN_VECTORS[key]


_SCORERS: dict[tuple[Any, float], Any] = {}


def _scorer(factory: ScorerFactory, threshold: float) -> Any:
    """One encoder per process and threshold: loading it costs seconds, scoring milliseconds."""
    key = (factory, threshold)
    if key not in _SCORERS:
        _SCORERS[key] = factory(threshold)
    return _SCORERS[key]


def _default_scorer_factory(threshold: float) -> Any:
    from attacks.similarity import SimilarityFilter

    return SimilarityFilter(threshold)


EXACT_MARGIN = 2e-4
"""Cosines this close to the threshold's rounding boundary (or unknown) are recomputed in
float64.  Kernel, thread and batch differences move a float32 cosine by ~1e-6 (an H200 against
this CPU: at most 2.4e-7 over 200 pairs), so 2e-4 is two orders of magnitude of headroom; it
catches about 1 candidate in 4,000 (249 of 955,215 in the full benchmark)."""


class CpuCheckedFilter:
    """The e5 filter encoding on an accelerator, with decisions no machine changes.

    Why: the benchmark hash must not depend on the machine.  The accelerator's float32 cosines
    decide every item far from the threshold; `generate` recomputes those near it (and any the
    fast scorer could not give, NaN) through `exact_scores`, which runs the CPU encoder in
    float64 one text at a time -- the same path a CPU-only run takes for the same items.  The
    similarity side files, outside the benchmark hash, may differ in their last rounded digit.
    """

    def __init__(self, threshold: float, device: str, fast: Any = None, cpu: Any = None) -> None:
        from attacks.similarity import SentenceEncoder, SimilarityFilter

        self.threshold = float(threshold)
        self._fast = fast or SimilarityFilter(threshold, SentenceEncoder(batch_size=256, device=device))
        self._cpu = cpu or SimilarityFilter(threshold)
        self.rechecked = 0

    def scores(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[float]:
        return [float(c) for c in self._fast.scores(originals, perturbed)]

    def exact_scores(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[float]:
        self.rechecked += len(originals)
        return list(self._cpu.exact_scores(originals, perturbed))

    def identity(self) -> dict[str, Any]:
        return self._cpu.identity()  # the same weights: where they ran is not part of the benchmark


@dataclass(frozen=True)
class DeviceScorerFactory:
    """Picklable, hashable factory (one encoder per worker process) for `generate(device=...)`."""

    device: str

    def __call__(self, threshold: float) -> Any:
        return CpuCheckedFilter(threshold, self.device)
