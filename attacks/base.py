"""The perturbation protocol, its RNG derivation and the registry.

A perturbation is a small object with a name, a version, a family, a severity, its parameters
and the languages it supports.  `perturb(example, rng)` returns a new example, or
`NOT_APPLICABLE` when no label-preserving edit exists (CheckList's lesson: never force a bad
edit).  Randomness comes only from the `rng` argument, which `derive_rng` builds from
(benchmark seed, family, severity, language, item id): one item's perturbation therefore never
depends on which other items ran, in which order, or in how many processes.
"""

from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

from harness.core import seeds
from harness.core.examples import NLIExample


class _NotApplicable:
    """Sentinel type: the perturbation has no valid edit for this input."""

    _instance: "_NotApplicable | None" = None

    def __new__(cls) -> "_NotApplicable":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_APPLICABLE"

    def __bool__(self) -> bool:
        return False


NOT_APPLICABLE = _NotApplicable()

SEVERITIES: tuple[str, ...] = ("low", "medium", "high")


@runtime_checkable
class Perturbation(Protocol):
    """What the benchmark generator and the attack recipes need from a perturbation."""

    name: str
    family: str
    version: str
    severity: str
    languages: frozenset[str]

    def params(self) -> dict[str, Any]:
        """All parameters the output depends on (JSON-serialisable), for the manifest."""
        ...

    def resource_files(self) -> dict[str, str]:
        """Files the output depends on ({logical name: path}); the generator hashes them."""
        ...

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        """Return a perturbed copy of `example`, or NOT_APPLICABLE."""
        ...


def derive_rng(seed: int, family: str, severity: str, language: str, item_id: str) -> random.Random:
    """A private RNG for one (family, severity, language, item).

    sha256 of the tuple, not Python's `hash()`, so it is stable across processes and runs.
    """
    return seeds.rng(seed, family, severity, language, item_id)

