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
from collections.abc import Mapping, Sequence
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



RULE_SETS: tuple[str, ...] = ("v1", "v2")
"""The rule sets a family with `rules` may be built with; v1 is the default and never changes."""


def rules_unit_params(family: str, params: Mapping[str, Any], severities: Sequence[str],
                      languages: Sequence[str], rule_sets: Sequence[str] = RULE_SETS
                      ) -> dict[tuple[str, str], dict[str, Any]]:
    """The units of a spec's `families.<family>.params` for a family whose only param is `rules`.

    Every (severity, language) is a unit.  `{}` or `rules: v1` give no keyword at all, so a v1
    spec's units, `params()` and outputs cannot change; `rules: v2` passes `rules="v2"` to the
    family's `build` (a family with more rule sets, such as code_switch's v2.1, passes
    `rule_sets`).  Raises ValueError (the spec reader names the file) for unknown params or
    rule sets.  One function for every such family, so they cannot drift apart.
    """
    unknown = sorted(set(params) - {"rules"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; {family} takes ['rules']")
    rules = params.get("rules", "v1")
    if rules not in rule_sets:
        raise ValueError(f"rules {rules!r} is not one of {list(rule_sets)}")
    kwargs: dict[str, Any] = {} if rules == "v1" else {"rules": rules}
    return {(sev, lang): dict(kwargs) for sev in severities for lang in languages}
