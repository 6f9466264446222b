"""Each training stage's evidence, as the trainer writes it and as records and cards carry it.

The statistics (interval, chance, learned) are `harness.metrics.learning`'s; this module only
says what was held out and turns a train summary into the record's `training.stages`.
Summaries written before the stage evidence existed (the reference submissions trained in
November 2026) hold the selected checkpoint's held-out accuracy (`best_accuracy`) and the
held-out sizes; for a multi-task stage `best_accuracy` is the mean over tasks, so each task's
accuracy at the selected step is read from the training log's `eval` event of that step.  The
counts are exact either way: accuracy times items is an integer, checked.  Their held-out labels
(for the majority share) are read again from the data root when the items there hash to the
summary's `dev_items_sha256`; without them `majority` is null and `learned` is judged on chance.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.core.errors import DataError
from harness.data.tasks import TASKS, items_sha256, load_task
from harness.metrics.learning import HeldOut, majority_count, stage_evidence

RECORD_KEYS = ("stage", "task", "held_out_accuracy", "held_out_n", "ci95", "chance", "learned", "selection")
"""The fields of a record's `training.stages` entry (plus `per_task` for a multi-task stage and
`shuffled_labels` for a control stage)."""


def held_out_text(task: str, selection: str, n: int, fraction: float | None) -> str:
    """What one task's held-out items are, in words."""
    if selection == "heldout":
        return f"{task} held-out part of the pooled files (sha256(id) < {fraction}, {n} items)"
    if selection == "train-heldout":
        return f"{task} held-out part of train (sha256(id) < {fraction}, {n} items)"
    return f"{task} dev ({n} items)"


def selection_text(parts: list[str]) -> str:
    """How the stage's checkpoint was chosen: early stopping on the held-out accuracy of `parts`."""
    if len(parts) == 1:
        return f"best held-out accuracy on {parts[0]}"
    return "best mean held-out accuracy over " + "; ".join(parts)


def selected_on(task: str, selection: str) -> str:
    """A short name for the data that selected the final checkpoint: `mnli-dev`, `mnli-train-heldout`."""
    return f"{task}-{selection}"


def n_labels(task: str) -> int:
    return len(TASKS[task].labels)


# ---- summaries -> record --------------------------------------------------------------------------


def _count(accuracy: float, n: int, where: str) -> int:
    """The number correct behind an accuracy (the log rounds to 6 decimals: 1e-5 is ample)."""
    correct = round(accuracy * n)
    if abs(correct / n - accuracy) > 1e-5:
        raise DataError(f"{where}: accuracy {accuracy} is not a count out of {n}")
    return correct


def _eval_at(log: Iterable[Mapping[str, Any]], stage: int, step: int) -> Mapping[str, float] | None:
    for row in log:
        if row.get("event") == "eval" and row.get("stage") == stage and row.get("step") == step:
            return row.get("per_task")
    return None


def held_out_majority(task: str, data: Mapping[str, Any], data_root: Path | None) -> int | None:
    """The majority-label count of an older summary's held-out items, if the data root still has
    exactly those items (the task's default files, checked by their hash); else None."""
    if data_root is None:
        return None
    try:
        items = load_task(task, data_root).dev[:data["dev_examples"]]
    except DataError:
        return None
    if items_sha256(items) != data.get("dev_items_sha256"):
        return None
    return majority_count([it.label for it in items])


def backfill_stage(stage: Mapping[str, Any], log: list[Mapping[str, Any]],
                   data_root: Path | None = None) -> dict[str, Any]:
    """Evidence of a stage from an older summary (best accuracy, held-out sizes, the log)."""
    tasks = list(stage.get("tasks") or [stage["task"]])
    data = stage["data"]
    where = f"stage {stage['stage']} ({stage['task']})"
    accuracies: Mapping[str, float] | None = {tasks[0]: stage["best_accuracy"]} if len(tasks) == 1 else \
        _eval_at(log, stage["stage"], stage["best_step"])
    parts = [_old_held_out_text(t, data[t]) for t in tasks]
    entry: dict[str, Any] = {"stage": stage["stage"], "task": stage["task"]}
    if accuracies is None or set(accuracies) != set(tasks):
        entry.update(held_out_accuracy=None, held_out_n=sum(data[t]["dev_examples"] for t in tasks), ci95=None,
                     chance=None, learned=None)
    else:
        held = [HeldOut(t, _count(accuracies[t], data[t]["dev_examples"], f"{where} {t}"), data[t]["dev_examples"],
                        n_labels(t), held_out_majority(t, data[t], data_root)) for t in tasks]
        entry.update(stage_evidence(held))
    entry["selection"] = selection_text(parts)
    return entry


def _old_held_out_text(task: str, data: Mapping[str, Any]) -> str:
    """Older summaries say what was held out only in the split note: a pool's names the fraction."""
    note, marker = str(data.get("split", "")), "sha256(id) < "
    if marker not in note:
        return held_out_text(task, "dev", data["dev_examples"], None)
    fraction = float(note.split(marker, 1)[1].split(")", 1)[0])
    return held_out_text(task, "heldout", data["dev_examples"], fraction)


def record_stages(summary: Mapping[str, Any], log: list[Mapping[str, Any]] | None = None,
                  data_root: Path | None = None) -> list[dict[str, Any]]:
    """`training.stages` of a record: every stage's evidence, from a new or an older summary."""
    out = []
    for stage in summary.get("stages", []):
        if "learned" in stage:
            entry = {k: stage[k] for k in (*RECORD_KEYS, "held_out_correct", "majority", "per_task", "shuffled_labels")
                     if k in stage}
        else:
            entry = backfill_stage(stage, log or [], data_root)
        out.append(entry)
    return out


def summary_selected_on(summary: Mapping[str, Any]) -> str:
    """What selected the final checkpoint; summaries without the field selected on MNLI dev."""
    return str(summary.get("selected_on") or "mnli-dev")


def read_training_folder(folder: Path, data_root: Path | None = None) -> dict[str, Any] | None:
    """`{stages, selected_on, mnli_dev_accuracy}` for a record, from a checkpoint folder's
    `train_summary.json` (and, for older summaries, `training_log.jsonl` and the held-out labels
    under `data_root`); None without a summary."""
    path = Path(folder) / "train_summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text("utf-8"))
        log_path = path.parent / "training_log.jsonl"
        log = [json.loads(line) for line in log_path.read_text("utf-8").splitlines() if line.strip()] \
            if log_path.is_file() else []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read the train summary ({exc})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("stages"), list):
        raise DataError(f"{path}: not a train summary (no stages)")
    try:
        stages = record_stages(summary, log, data_root)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: a stage lacks what its evidence needs ({type(exc).__name__}: {exc})") from None
    return {"stages": stages, "selected_on": summary_selected_on(summary),
            "mnli_dev_accuracy": summary.get("mnli_dev_accuracy")}
