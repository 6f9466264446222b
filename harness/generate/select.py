"""Which XNLI items a benchmark size holds: a seeded, stratified, hash-ordered choice.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from harness.core import seeds
from harness.core.examples import NLIExample
from harness.data.spec import SizeSpec

# --------------------------------------------------------------------------------------------
# Item selection (lite)
# --------------------------------------------------------------------------------------------

def _rank(seed: int, purpose: str, item_id: str) -> bytes:
    """Sort key of an item for one purpose (a size's selection, an audit sample)."""
    return seeds.digest(seed, purpose, item_id)


def select_items(examples: Sequence[NLIExample], size: SizeSpec, seed: int) -> list[str]:
    """Ids of the items of a size, in file order.

    Stratified: the quota is split over the strata (label x genre) by largest remainder, and
    each stratum takes its items with the smallest seeded rank.  Chosen once from one language
    (English) and reused in all, since XNLI rows are parallel.
    """
    if size.per_language is None or size.per_language >= len(examples):
        return [ex.id for ex in examples]
    strata: dict[tuple[str, ...], list[NLIExample]] = {}
    for ex in examples:
        key = tuple(str(ex.label) if s == "label" else str(ex.genre) for s in size.stratify)
        strata.setdefault(key, []).append(ex)
    quotas = _largest_remainder({k: len(v) for k, v in strata.items()}, size.per_language)
    chosen: set[str] = set()
    for key, members in strata.items():
        ranked = sorted(members, key=lambda ex: _rank(seed, size.name, ex.id))
        chosen.update(ex.id for ex in ranked[: quotas[key]])
    return [ex.id for ex in examples if ex.id in chosen]


def _largest_remainder(counts: Mapping[tuple[str, ...], int], total: int) -> dict[tuple[str, ...], int]:
    """Split `total` proportionally to `counts`; ties broken by stratum key, not by chance."""
    n = sum(counts.values())
    exact = {k: total * c / n for k, c in counts.items()}
    quotas = {k: min(counts[k], math.floor(v)) for k, v in exact.items()}
    order = sorted(counts, key=lambda k: (-(exact[k] - math.floor(exact[k])), k))
    left = total - sum(quotas.values())
    while left > 0:
        progressed = False
        for k in order:
            if left and quotas[k] < counts[k]:
                quotas[k] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return quotas
