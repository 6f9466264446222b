"""Which XNLI items a benchmark size holds: a seeded, stratified, hash-ordered choice.
"""

from __future__ import annotations

from typing import Sequence

from harness.core.examples import NLIExample
from harness.core.sampling import largest_remainder, rank
from harness.data.spec import SizeSpec

# --------------------------------------------------------------------------------------------
# Item selection (lite)
# --------------------------------------------------------------------------------------------

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
    quotas = largest_remainder({k: len(v) for k, v in strata.items()}, size.per_language)
    chosen: set[str] = set()
    for key, members in strata.items():
        ranked = sorted(members, key=lambda ex: rank(seed, size.name, ex.id))
        chosen.update(ex.id for ex in ranked[: quotas[key]])
    return [ex.id for ex in examples if ex.id in chosen]
