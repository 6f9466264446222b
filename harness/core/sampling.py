"""Seeded sort keys and proportional quotas: the two pieces every seeded sample is built from.

Why here: benchmark sizes (harness/generate/select.py), audit samples (harness/generate/audit.py)
and attack samples (harness/scoring/attack.py) all draw with them; a lower layer holds them so
that scoring does not reach into generation's private names.  Committed outputs depend on both
formulas: neither may change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

from harness.core import seeds

K = TypeVar("K")


def rank(seed: int, purpose: str, item_id: str) -> bytes:
    """Sort key of an item for one purpose (a size's selection, an audit or attack sample)."""
    return seeds.digest(seed, purpose, item_id)


def largest_remainder(counts: Mapping[K, int], total: int) -> dict[K, int]:
    """Split `total` proportionally to `counts`, capped at each count; ties broken by key, not
    by chance (so keys must be mutually comparable)."""
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
