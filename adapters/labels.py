"""Label maps: which model output means which NLI label.

A swapped label map is the classic silent failure of NLI evaluation, so the map is always
explicit and recorded: read from `config.id2label` when the names say it, given by the user
(`--label-map entailment=0,neutral=1,contradiction=2`), or found by calibration on clean
English dev items, which reports the permutation and its accuracy.  Generic names
(LABEL_0 ...) are never guessed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from harness import LABELS
from harness.core.errors import ModelError

_NAMES: dict[str, str] = {
    "entailment": "entailment", "entail": "entailment", "entails": "entailment", "e": "entailment",
    "neutral": "neutral", "n": "neutral",
    "contradiction": "contradiction", "contradict": "contradiction", "contradicts": "contradiction",
    "contradictory": "contradiction", "c": "contradiction",
}
_TWO_CLASS = {"not_entailment", "not-entailment", "non_entailment", "non-entailment", "not entailment"}

HOW_TO = ("pass --label-map entailment=I,neutral=J,contradiction=K (the model's output index of "
          "each label), or --calibrate to find the permutation on clean English dev items")


@dataclass(frozen=True)
class LabelMap:
    """`order[k]` is the model output index holding canonical label k."""

    order: tuple[int, int, int]
    source: str  # "config", "override" or "calibrated"
    detail: dict | None = None

    def as_dict(self) -> dict[str, int]:
        return {label: index for label, index in zip(LABELS, self.order)}

    def reorder(self, probs: np.ndarray) -> np.ndarray:
        """Model-order columns -> canonical-order columns."""
        return probs[:, list(self.order)]


def parse_override(text: str, num_labels: int) -> LabelMap:
    """Parse `entailment=0,neutral=1,contradiction=2`."""
    mapping: dict[str, int] = {}
    for part in text.split(","):
        name, sep, index = part.partition("=")
        canonical = _NAMES.get(name.strip().lower())
        if not sep or canonical is None or not index.strip().isdigit():
            raise ModelError(f"bad --label-map entry {part!r}: expected e.g. entailment=0,neutral=1,contradiction=2")
        mapping[canonical] = int(index)
    return _validated(mapping, num_labels, "override", "--label-map")


def _validated(mapping: Mapping[str, int], num_labels: int, source: str, where: str) -> LabelMap:
    missing = [label for label in LABELS if label not in mapping]
    if missing:
        raise ModelError(f"{where} lacks {', '.join(missing)}; {HOW_TO}")
    order = tuple(mapping[label] for label in LABELS)
    if len(set(order)) != 3 or any(not 0 <= i < num_labels for i in order):
        raise ModelError(f"{where} must map the three labels to distinct outputs in 0..{num_labels - 1}, got {dict(mapping)}")
    return LabelMap(order, source)  # type: ignore[arg-type]


def from_config(id2label: Mapping[int, str], num_labels: int) -> LabelMap | None:
    """The map named by `config.id2label`, or None when the names are generic.

    Raises for two-class (entailment vs not) checkpoints, which cannot score 3-way XNLI.
    """
    names = {int(i): str(name).strip().lower() for i, name in id2label.items()}
    if num_labels == 2 or any(name in _TWO_CLASS for name in names.values()):
        raise ModelError(
            f"the checkpoint has {num_labels} outputs ({', '.join(names.values())}): a two-class "
            "entailment-vs-not model cannot be scored on 3-way XNLI; fine-tune a 3-way head first")
    if num_labels != 3:
        raise ModelError(f"the checkpoint has {num_labels} outputs; XNLI needs exactly 3")
    mapping = {}
    for index, name in names.items():
        canonical = _NAMES.get(name)
        if canonical is None:
            return None
        if canonical in mapping:
            raise ModelError(f"config.id2label names {canonical!r} twice: {id2label}; {HOW_TO}")
        mapping[canonical] = index
    return _validated(mapping, num_labels, "config", "config.id2label")


def calibrate(predict: Callable[[Sequence[tuple[str, str]]], np.ndarray],
              pairs: Sequence[tuple[str, str]], gold: Sequence[int],
              min_accuracy: float = 0.45, min_margin: float = 0.05) -> LabelMap:
    """Find the output permutation that best fits clean English dev items.

    Refuses when the best permutation is near chance or not clearly ahead of the runner-up:
    calibration can only recover a map from a model that already works.
    """
    probs = np.asarray(predict(pairs))
    raw = probs.argmax(axis=1)
    gold_arr = np.asarray(gold)
    scores = []
    for order in itertools.permutations(range(3)):
        to_canonical = {model_index: k for k, model_index in enumerate(order)}
        predicted = np.array([to_canonical[int(i)] for i in raw])
        scores.append((float((predicted == gold_arr).mean()), order))
    scores.sort(reverse=True)
    (best, order), (second, _) = scores[0], scores[1]
    detail = {"n_items": len(gold), "accuracy": best, "runner_up_accuracy": second,
              "permutations": {",".join(map(str, o)): round(a, 4) for a, o in scores}}
    if best < min_accuracy or best - second < min_margin:
        raise ModelError(f"calibration is not conclusive (best {best:.3f}, runner-up {second:.3f} "
                         f"on {len(gold)} English dev items); pass --label-map instead")
    return LabelMap(order, "calibrated", detail)  # type: ignore[arg-type]
