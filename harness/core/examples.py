"""The one record every part of the harness passes around: an NLI example."""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness import LABELS

LABEL_ALIASES: dict[str, int] = {
    "entailment": 0, "e": 0, "0": 0,
    "neutral": 1, "n": 1, "1": 1,
    "contradiction": 2, "c": 2, "2": 2,
    "contradictory": 2,
}
"""Spellings of the three labels found in XNLI, MNLI, ANLI and custom files.

Numeric strings follow the XNLI/MNLI hub convention (0 entailment, 1 neutral, 2 contradiction).
"""


def parse_label(raw: str) -> int | None:
    """Map a label spelling to the canonical index, or None if it is not a known label."""
    return LABEL_ALIASES.get(raw.strip().lower())


@dataclass(frozen=True)
class NLIExample:
    """A premise/hypothesis pair with its gold label in the canonical order.

    `id` is shared by the same item in every language (XNLI's pairID), which is what lets
    results be compared item by item across languages, perturbations and models.
    """

    id: str
    language: str
    premise: str
    hypothesis: str
    label: int
    genre: str | None = None

    @property
    def label_name(self) -> str:
        return LABELS[self.label]

    def with_texts(self, premise: str, hypothesis: str) -> "NLIExample":
        """A copy with new texts (what a perturbation returns)."""
        return replace(self, premise=premise, hypothesis=hypothesis)
