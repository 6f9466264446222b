"""The picklable description of one unit of work, shared by the worker and the similarity policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from harness.core.examples import NLIExample
from harness.data.spec import Unit

Builder = Callable[..., Any]
"""`build(family, severity, language, data_root, **params) -> Perturbation` (the registry's
signature); `params` are passed only when the spec gives the unit some."""
ScorerFactory = Callable[[float], Any]
"""`factory(threshold) -> object with scores(originals, perturbed) -> list[float] and identity()`
(what `attacks.similarity.SimilarityFilter` provides)."""


@dataclass(frozen=True)
class UnitTask:
    """Everything a (possibly spawned) worker needs; picklable, no open handles."""

    unit: Unit
    examples: tuple[NLIExample, ...]
    seed: int
    threshold: float | None
    data_root: str
    work_dir: str
    builder: Builder
    scorer_factory: ScorerFactory | None
    resources: dict[str, dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    """Builder keyword arguments the spec's family params give this unit (e.g. a route)."""
