"""leaderboard/rescore.py reuses a committed prediction only where the text is the same.

A v1 unit's item has the same text in every v1.x benchmark (same code, same seed), so its
committed prediction can seed the cache; a unit made with another rule set (v2) has other text
under the same id, and reusing the old prediction for it would be a wrong answer served as a hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.core.examples import NLIExample
from harness.data.benchmark import PerturbedItem
from harness.data.spec import Unit
from leaderboard.rescore import reusable_pairs


@dataclass
class _Bench:
    rules: dict[str, str]
    manifest: dict[str, Any] = field(default_factory=dict)
    languages: tuple[str, ...] = ("en",)

    def __post_init__(self) -> None:
        self.manifest = {"units": {f"{fam}/low/en": {"perturbation": {"params": ({} if r == "v1" else {"rules": r})}}
                                   for fam, r in self.rules.items()}}

    def clean(self, language: str) -> list[NLIExample]:
        return [NLIExample("1", language, "p", "h", 0)]

    def units(self) -> list[Unit]:
        return [Unit(fam, "low", "en") for fam in self.rules]

    def perturbed(self, family: str, severity: str, language: str) -> list[PerturbedItem]:
        ex = NLIExample("1", language, f"p {family}", "h", 0)
        return [PerturbedItem(ex, self.clean(language)[0], None)]


def test_units_of_another_rule_set_are_never_reused() -> None:
    old = {(s, "en", "1"): np.array([0.5, 0.3, 0.2], dtype=np.float32)
           for s in ("clean", "char_noise/low", "code_switch/low")}
    rows, counts = reusable_pairs(_Bench({"char_noise": "v1", "code_switch": "v2"}), old)
    assert counts == {"reused": 2, "new_to_a_unit": 0, "not_reusable": 1}
    assert sorted(p for p, _, _ in rows) == ["p", "p char_noise"]
