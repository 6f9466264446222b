"""Did a training stage learn?  Held-out accuracy with a Wilson interval, against chance.

Why: the reference study's ANLI stage sat at chance (32-35% on 3 labels) in every seed and
nothing said so, so "STILTs-ANLI" was MNLI fine-tuning after updates on data the model could not
fit.  One definition, used by the trainer at the end of every stage and by the backfill of older
train summaries, so a stage is called learned the same way everywhere:

- `chance` is 1 / number of labels (classes of a pair task, choices of a multiple-choice task);
- `majority` is the share of the held-out items' most frequent label: what answering one label
  always scores (QQP's dev sample is 62% "not duplicate", so 1 / 2 alone would call a constant
  answer learned);
- `learned` is true only when the lower bound of the 95% Wilson interval is above chance and
  above the majority share (where the held-out labels are known; older summaries may lack them).

The held-out accuracy is that of the *selected* checkpoint, the best of the stage's evaluations
on those same items, so it leans optimistic; a stage at chance can still reach `learned` by that
selection only rarely at these sizes, and the shuffled-label control measures exactly that.

A multi-task stage pools its tasks' held-out items (chance is then the items' mean chance) and
is learned only when the pooled interval clears that chance *and* every task learned on its own:
a mix that fits QQP but not ANLI has not learned ANLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.metrics.validity import wilson

DIGITS = 4
"""Rounding of the reported fractions (the count `held_out_correct` keeps the exact value)."""


@dataclass(frozen=True)
class HeldOut:
    """Correct answers of one task on its held-out items, and how many labels it chooses from."""

    task: str
    correct: int
    n: int
    n_labels: int
    majority: int | None = None
    """Held-out items carrying the most frequent label (None: the labels are not known)."""

    def __post_init__(self) -> None:
        if not 0 <= self.correct <= self.n or self.n_labels < 2 or not 0 <= (self.majority or 0) <= self.n:
            raise ValueError(f"{self.task}: {self.correct} correct of {self.n} with {self.n_labels} labels "
                             f"(majority {self.majority})")


def majority_count(labels: Sequence[int]) -> int:
    """How many of `labels` are the most frequent one."""
    return max((labels.count(label) for label in set(labels)), default=0)


def _fields(correct: int, n: int, chance: float, majority: float | None, learned_too: bool = True) -> dict[str, Any]:
    low, high = wilson(correct, n)
    bar = max(chance, majority if majority is not None else 0.0)
    return {"held_out_accuracy": round(correct / n, DIGITS) if n else None, "held_out_correct": correct,
            "held_out_n": n, "ci95": [round(low, DIGITS), round(high, DIGITS)], "chance": round(chance, DIGITS),
            "majority": None if majority is None else round(majority, DIGITS),
            "learned": bool(n) and low > bar and learned_too}


def task_evidence(held: HeldOut) -> dict[str, Any]:
    """`{task, held_out_accuracy, held_out_correct, held_out_n, ci95, chance, majority, learned}`."""
    majority = None if held.majority is None or not held.n else held.majority / held.n
    return {"task": held.task, **_fields(held.correct, held.n, 1.0 / held.n_labels, majority)}


def stage_evidence(tasks: Sequence[HeldOut]) -> dict[str, Any]:
    """The evidence of one stage: its task's fields, or for a multi-task stage the pooled fields
    plus `per_task` (each task's own fields)."""
    if not tasks:
        raise ValueError("a stage has at least one task")
    if len(tasks) == 1:
        return {k: v for k, v in task_evidence(tasks[0]).items() if k != "task"}
    per_task = [task_evidence(t) for t in tasks]
    n = sum(t.n for t in tasks)
    chance = sum(t.n / t.n_labels for t in tasks) / n if n else 0.0
    known = all(t.majority is not None for t in tasks) and n
    majority = sum(t.majority or 0 for t in tasks) / n if known else None
    pooled = _fields(sum(t.correct for t in tasks), n, chance, majority, all(t["learned"] for t in per_task))
    return {**pooled, "per_task": per_task}


def describe(evidence: dict[str, Any]) -> str:
    """`34.9% [31.3, 38.8] on 627 held-out items, chance 33.3%[, majority label 36.0%]`: the one
    wording of a result (the majority share only where it is above chance)."""
    accuracy = evidence.get("held_out_accuracy")
    if accuracy is None:
        return "no held-out accuracy recorded"
    low, high = evidence["ci95"]
    text = (f"{100 * accuracy:.1f}% [{100 * low:.1f}, {100 * high:.1f}] on {evidence['held_out_n']} held-out items, "
            f"chance {100 * evidence['chance']:.1f}%")
    majority = evidence.get("majority")
    if majority is not None and majority > evidence["chance"]:
        text += f", majority label {100 * majority:.1f}%"
    return text


def not_learned(evidence: dict[str, Any]) -> list[str]:
    """What did not clear chance, in words (empty when the stage learned)."""
    if evidence.get("learned"):
        return []
    failed = [t for t in evidence.get("per_task", []) if not t["learned"]]
    if failed:
        return [f"{t['task']} {describe(t)}" for t in failed]
    return [describe(evidence)]
