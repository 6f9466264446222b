"""The training loop of `xnli-robust train`: stages, evaluation, early stopping, checkpoints, resume.

A resumed run replays exactly what the uninterrupted run would have done: a checkpoint holds the
trainable weights, optimizer, RNG state, data position, early-stopping state and log length,
written atomically every `checkpoint_every` steps and at every stage boundary.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness import __version__
from harness.core.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from harness.core.errors import HarnessError, ModelError, warn
from harness.core.hashing import sha256_file
from harness.core.paths import recorded_path
from harness.data.tasks import Item, TaskData, TaskSpec, items_sha256, load_task, permute_labels
from harness.metrics.learning import HeldOut, describe, majority_count, not_learned, stage_evidence

from adapters.checkpoints import ID2LABEL, _portable_base_name, resolve_base_model
from harness.core.seeds import derive_seed
from harness.training.model import ModelBundle, _generator, build_model, collate, encode_items, load_trainable_state, make_head, swapped_head, trainable_state
from harness.training.evidence import held_out_text, selected_on, selection_text
from harness.training.recipe import FINAL_TASK, Recipe, StageSpec, load_recipe

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"
CHECKPOINT_FORMAT = 2  # 2: the position keeps the best evaluation's counts (stage evidence)
SUMMARY_FILE = "train_summary.json"
LOG_FILE = "training_log.jsonl"
ARTEFACT_FILES = ("adapter_config.json", "adapter_model.safetensors", "config.json", "model.safetensors",
                  "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model",
                  LOG_FILE, SUMMARY_FILE)
"""Files `train` writes into the output folder (and may delete when starting over); never others."""


class TrainingStopped(Exception):
    """Raised internally when `stop_after_steps` is reached (the run is checkpointed first)."""


class StageNotLearned(HarnessError):
    """A stage whose held-out interval does not clear chance, under `require_learned`.

    Its own exit code (4), so a script running many trainings can tell "did not learn" from bad
    input (2); the output folder keeps only the training log, which records the evidence."""

    exit_code = 4


@dataclass
class Component:
    """One task of a stage, tokenised once."""

    spec: TaskSpec
    data: TaskData
    train_items: list[Item]
    dev_items: list[Item]
    train_enc: list[Any]
    dev_enc: list[Any]
    report_items: list[Item] = field(default_factory=list)
    report_enc: list[Any] = field(default_factory=list)


# =========================================================================== run state


@dataclass
class Position:
    """Where the run is; everything a resumed run needs besides tensors."""

    stage: int = 0
    epoch: int = 0
    batch: int = 0
    stage_step: int = 0
    global_step: int = 0
    best_metric: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    last_eval_step: int = 0
    stopped: str = ""  # "" while training, then why the stage ended: epochs, max_steps or early_stopping
    loss_sum: float = 0.0
    loss_count: int = 0
    best_correct: dict[str, int] = field(default_factory=dict)  # per task, at the best evaluation


@dataclass
class RunState:
    position: Position = field(default_factory=Position)
    log: list[dict[str, Any]] = field(default_factory=list)
    stage_results: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    resumes: int = 0
    best_state: dict[str, Any] | None = None


def _versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__, "xnli_robust": __version__}


# =========================================================================== the trainer


class Trainer:
    """Runs a recipe's stages with evaluation, early stopping and checkpoints."""

    def __init__(self, recipe: Recipe, out_dir: Path, data_root: Path, device: str, progress: bool,
                 stop_after_steps: int | None, on_step: Callable[[int], None] | None,
                 require_learned: bool = False) -> None:
        self.recipe, self.out_dir, self.data_root = recipe, Path(out_dir), Path(data_root)
        self.require_learned = require_learned or recipe.training.require_learned
        self.device, self.progress = device, progress
        self.stop_after_steps, self.on_step = stop_after_steps, on_step
        self.state = RunState()
        self.bundle: ModelBundle | None = None
        self.task_data: dict[str, TaskData] = {}
        self.pending: dict[str, Any] = {}  # optimizer/head states of a resumed stage
        self.started = time.perf_counter()
        self.base_sha256 = ""

    # ---- setup --------------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_DIR / CHECKPOINT_FILE

    def setup(self, resume: bool) -> None:
        import torch

        base = resolve_base_model(self.recipe.base_model, self.recipe.path.parent)
        from adapters.checkpoints import weights_sha256

        self.base_sha256 = weights_sha256(base)
        torch.manual_seed(derive_seed(self.recipe.seed, "model"))
        self.bundle = build_model(self.recipe, base, self.device)
        if resume and self.checkpoint_path.is_file():
            self._restore()
        else:
            torch.manual_seed(derive_seed(self.recipe.seed, "dropout"))
            self._log("start", recipe=self.recipe.name, device=self.device, regime=self.recipe.regime)

    def _restore(self) -> None:
        import torch

        try:
            ckpt = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated or foreign file
            raise HarnessError(f"{self.checkpoint_path}: unreadable checkpoint ({exc}); "
                               "delete it or pass resume=False to start over") from None
        if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("recipe") != self.recipe.content_sha256:
            raise HarnessError(f"{self.checkpoint_path} belongs to a different recipe or format; "
                               "use another output folder, or start over (resume=False / --restart)")
        assert self.bundle is not None
        load_trainable_state(self.bundle.model, ckpt["model"])
        self.state = RunState(Position(**ckpt["position"]), self._read_log(ckpt["log_lines"]),
                              list(ckpt["stage_results"]), float(ckpt["elapsed"]), int(ckpt["resumes"]) + 1,
                              ckpt.get("best_state"))
        self.pending = {k: ckpt.get(k) for k in ("optimizer", "heads")}
        torch.set_rng_state(ckpt["rng"]["torch"])
        if ckpt["rng"].get("cuda") and self.device.startswith("cuda"):
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        self._log("resume", stage=self.state.position.stage, global_step=self.state.position.global_step)
        if self.progress:
            print(f"resuming {self.recipe.name} from global step {self.state.position.global_step}",
                  file=sys.stderr, flush=True)

    def _read_log(self, lines: int) -> list[dict[str, Any]]:
        path = self.out_dir / LOG_FILE
        if not path.is_file():
            return []
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        return rows[:lines]

    def _load_component(self, index: int, task: str, stage: StageSpec) -> Component:
        assert self.bundle is not None
        if task not in self.task_data:
            self.task_data[task] = load_task(task, self.data_root, self.recipe.sources.get(task))
        data = self.task_data[task]
        sides = {"train": data.train[:stage.train_limit] if stage.train_limit else data.train,
                 "dev": data.dev[:stage.eval_limit] if stage.eval_limit else data.dev,
                 "report": data.report[:stage.eval_limit] if stage.eval_limit else data.report}
        if stage.shuffle_labels:
            sides = {side: permute_labels(items, random.Random(derive_seed(self.recipe.seed, "shuffle-labels",
                                                                           index, task, side)))
                     for side, items in sides.items()}
        tok, length = self.bundle.tokenizer, self.recipe.max_length
        enc = {side: encode_items(tok, items, length) for side, items in sides.items()}
        return Component(data.spec, data, sides["train"], sides["dev"], enc["train"], enc["dev"],
                         sides["report"], enc["report"])

    # ---- logging and checkpoints --------------------------------------------------------

    def _log(self, event: str, **fields: Any) -> None:
        self.state.log.append({"event": event, "seconds": round(self._elapsed(), 2), **fields})

    def _elapsed(self) -> float:
        return self.state.elapsed + time.perf_counter() - self.started

    def _write_log(self) -> None:
        text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in self.state.log)
        atomic_write_text(self.out_dir / LOG_FILE, text)

    def _checkpoint(self, optimizer: Any | None, heads: Any | None) -> None:
        import torch

        assert self.bundle is not None
        cpu = lambda d: None if d is None else {k: v.detach().cpu() for k, v in d.items()}  # noqa: E731
        payload = {
            "format": CHECKPOINT_FORMAT, "recipe": self.recipe.content_sha256,
            "position": asdict(self.state.position), "model": cpu(trainable_state(self.bundle.model)),
            "best_state": cpu(self.state.best_state),
            "optimizer": None if optimizer is None else optimizer.state_dict(),
            "heads": None if heads is None else cpu(heads.state_dict()),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.startswith("cuda") else []},
            "log_lines": len(self.state.log), "stage_results": self.state.stage_results,
            "elapsed": self._elapsed(), "resumes": self.state.resumes,
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        self._write_log()
        atomic_write_bytes(self.checkpoint_path, buffer.getvalue())

    # ---- stages -------------------------------------------------------------------------

    def run(self) -> None:
        for index in range(self.state.position.stage, len(self.recipe.stages)):
            self._run_stage(index)

    def _heads(self, index: int, components: list[Component]) -> Any | None:
        """Fresh heads for an intermediate stage; None for MNLI (it uses the model's classifier)."""
        import torch

        if self.recipe.stages[index].task == FINAL_TASK:
            return None
        assert self.bundle is not None
        template = getattr(self.bundle.net, self.bundle.head_attr)
        std = float(getattr(self.bundle.net.config, "initializer_range", 0.02))
        heads = torch.nn.ModuleDict({c.spec.name: make_head(template, c.spec.num_outputs,
                                                            _generator(self.recipe.seed, "head", index, c.spec.name), std)
                                     for c in components})
        return heads.to(torch.device(self.device))

    def _optimizer(self, heads: Any | None, stage: StageSpec) -> Any:
        import torch

        assert self.bundle is not None
        params = [p for p in self.bundle.model.parameters() if p.requires_grad]
        if heads is not None:
            params += list(heads.parameters())
        decay = [p for p in params if p.ndim >= 2]
        rest = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": self.recipe.training.weight_decay},
                  {"params": rest, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=stage.lr)

    def _schedule(self, index: int, epoch: int, components: list[Component], batch_size: int) -> list[tuple[int, list[int]]]:
        """This epoch's batches: each task shuffled on its own, then all batches interleaved.

        For a mix this is proportional sampling: every example once per epoch, in an order that
        depends only on (seed, stage, epoch).
        """
        import torch

        batches: list[tuple[int, list[int]]] = []
        for c, comp in enumerate(components):
            order = torch.randperm(len(comp.train_items), generator=_generator(
                self.recipe.seed, "order", index, epoch, comp.spec.name)).tolist()
            batches += [(c, order[i:i + batch_size]) for i in range(0, len(order), batch_size)]
        if len(components) > 1:
            mixed = torch.randperm(len(batches), generator=_generator(self.recipe.seed, "mix", index, epoch)).tolist()
            batches = [batches[i] for i in mixed]
        return batches

    def _planned_steps(self, stage: StageSpec, components: list[Component]) -> int:
        per_epoch = sum(math.ceil(len(c.train_items) / stage.batch_size) for c in components)
        total = per_epoch * stage.epochs
        return min(total, stage.max_steps) if stage.max_steps else total

    def _lr(self, stage: StageSpec, step: int, total: int) -> float:
        """Linear warm-up then linear decay to zero; a pure function of the step (no scheduler state)."""
        warmup = math.ceil(self.recipe.training.warmup_ratio * total)
        if step < warmup:
            return stage.lr * (step + 1) / warmup
        return stage.lr * max(0.0, (total - step) / max(1, total - warmup))

    def _run_stage(self, index: int) -> None:
        stage = self.recipe.stages[index]
        components = [self._load_component(index, t, stage) for t in stage.tasks]
        heads = self._heads(index, components)
        optimizer = self._optimizer(heads, stage)
        self._resume_stage_state(optimizer, heads)
        total = self._planned_steps(stage, components)
        pos = self.state.position
        if pos.stage_step == 0 and not pos.stopped:
            self._log("stage_start", stage=index, task=stage.task, tasks=list(stage.tasks), planned_steps=total,
                      train_examples={c.spec.name: len(c.train_items) for c in components},
                      dev_examples={c.spec.name: len(c.dev_items) for c in components})
        self._train_loop(index, stage, components, heads, optimizer, total)
        self._finish_stage(index, stage, components, heads)

    def _resume_stage_state(self, optimizer: Any, heads: Any | None) -> None:
        if self.pending.get("optimizer") is not None:
            optimizer.load_state_dict(self.pending["optimizer"])
        if heads is not None and self.pending.get("heads") is not None:
            heads.load_state_dict(self.pending["heads"])
        self.pending = {}

    def _progress_bar(self, index: int, stage: StageSpec, total: int) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=self.state.position.stage_step, unit="step", leave=False,
                    desc=f"stage {index + 1}/{len(self.recipe.stages)} {stage.task}",
                    disable=not self.progress, file=sys.stderr)

    def _train_loop(self, index: int, stage: StageSpec, components: list[Component], heads: Any | None,
                    optimizer: Any, total: int) -> None:
        pos = self.state.position
        schedule_epoch, schedule = -1, []
        assert self.bundle is not None
        self.bundle.model.train()
        if heads is not None:
            heads.train()
        with self._progress_bar(index, stage, total) as bar:
            while not pos.stopped:
                if pos.stage_step >= total:
                    pos.stopped = "max_steps" if stage.max_steps and total == stage.max_steps else "epochs"
                    break
                if schedule_epoch != pos.epoch:
                    schedule_epoch, schedule = pos.epoch, self._schedule(index, pos.epoch, components, stage.batch_size)
                if pos.batch >= len(schedule):
                    pos.epoch, pos.batch = pos.epoch + 1, 0
                    continue
                comp_index, rows = schedule[pos.batch]
                loss = self._step(components[comp_index], rows, heads, optimizer, stage, total)
                pos.batch, pos.stage_step, pos.global_step = pos.batch + 1, pos.stage_step + 1, pos.global_step + 1
                pos.loss_sum, pos.loss_count = pos.loss_sum + loss, pos.loss_count + 1
                bar.update(1)
                self._after_step(index, stage, components, heads, optimizer, bar)

    def _after_step(self, index: int, stage: StageSpec, components: list[Component], heads: Any | None,
                    optimizer: Any, bar: Any) -> None:
        pos = self.state.position
        if pos.global_step % self.recipe.training.log_every == 0:
            self._log("train", stage=index, step=pos.stage_step, global_step=pos.global_step,
                      loss=round(pos.loss_sum / max(1, pos.loss_count), 6),
                      lr=optimizer.param_groups[0]["lr"])
            bar.set_postfix(loss=f"{pos.loss_sum / max(1, pos.loss_count):.3f}")
            pos.loss_sum, pos.loss_count = 0.0, 0
        if pos.stage_step % stage.eval_every == 0:
            metric = self._evaluate_and_track(index, stage, components, heads)
            bar.set_postfix(dev=f"{metric:.3f}")
        saved = False
        if pos.global_step % self.recipe.training.checkpoint_every == 0:
            self._checkpoint(optimizer, heads)
            saved = True
        if self.on_step is not None:
            self.on_step(pos.global_step)
        if self.stop_after_steps is not None and pos.global_step >= self.stop_after_steps:
            if not saved:
                self._checkpoint(optimizer, heads)
            raise TrainingStopped

    def _step(self, comp: Component, rows: list[int], heads: Any | None, optimizer: Any,
              stage: StageSpec, total: int) -> float:
        import torch

        assert self.bundle is not None
        for group in optimizer.param_groups:
            group["lr"] = self._lr(stage, self.state.position.stage_step, total)
        labels = torch.tensor([comp.train_items[i].label for i in rows], device=self.device)
        with self._autocast():
            logits = self._logits(comp, [comp.train_enc[i] for i in rows], heads)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.recipe.training.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, self.recipe.training.max_grad_norm)
        optimizer.step()
        return float(loss.detach())

    def _autocast(self) -> Any:
        import torch

        enabled = self.device.startswith("cuda") and self.recipe.training.precision == "bf16"
        return torch.autocast("cuda", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()

    def _logits(self, comp: Component, encoded: list[Any], heads: Any | None) -> Any:
        """Logits [batch, classes] for pairs, or [batch, choices] scores for multiple choice."""
        assert self.bundle is not None
        head = None if heads is None else heads[comp.spec.name]
        pad = self.bundle.tokenizer.pad_token_id or 0
        with swapped_head(self.bundle.net, self.bundle.head_attr, head):
            if comp.spec.kind == "pair":
                return self.bundle.net(**collate(encoded, pad, self.device)).logits
            flat = [row for item in encoded for row in item]
            scores = self.bundle.net(**collate(flat, pad, self.device)).logits
            return scores.view(len(encoded), -1)

    # ---- evaluation and early stopping --------------------------------------------------

    def count_correct(self, components: list[Component], heads: Any | None, batch_size: int,
                      side: str = "dev") -> dict[str, tuple[int, int]]:
        """(correct, items) per component on its held-out (`dev`) or reported (`report`) items,
        in length-sorted batches for speed."""
        import torch

        assert self.bundle is not None
        self.bundle.model.eval()
        if heads is not None:
            heads.eval()
        counts: dict[str, tuple[int, int]] = {}
        try:
            with torch.no_grad(), self._autocast():
                for comp in components:
                    items, enc = getattr(comp, f"{side}_items"), getattr(comp, f"{side}_enc")
                    counts[comp.spec.name] = (self._correct(comp, items, enc, heads, batch_size), len(items))
        finally:
            self.bundle.model.train()
            if heads is not None:
                heads.train()
        return counts

    def _correct(self, comp: Component, items: list[Item], enc: list[Any], heads: Any | None, batch_size: int) -> int:
        order = sorted(range(len(items)), key=lambda i: _length(enc[i]))
        correct = 0
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            predicted = self._logits(comp, [enc[i] for i in chunk], heads).float().argmax(dim=-1).cpu().tolist()
            correct += sum(int(p == items[i].label) for p, i in zip(predicted, chunk))
        return correct

    def _evaluate_and_track(self, index: int, stage: StageSpec, components: list[Component],
                            heads: Any | None) -> float:
        pos = self.state.position
        counts = self.count_correct(components, heads, stage.batch_size * 2)
        per_task = {name: correct / max(1, n) for name, (correct, n) in counts.items()}
        metric = sum(per_task.values()) / len(per_task)
        pos.last_eval_step = pos.stage_step
        improved = pos.best_metric is None or metric > pos.best_metric
        if improved:
            assert self.bundle is not None
            pos.best_metric, pos.best_step, pos.bad_evals = metric, pos.stage_step, 0
            pos.best_correct = {name: correct for name, (correct, _) in counts.items()}
            self.state.best_state = trainable_state(self.bundle.model)
        else:
            pos.bad_evals += 1
            if stage.patience and pos.bad_evals >= stage.patience:
                pos.stopped = "early_stopping"
        self._log("eval", stage=index, task=stage.task, step=pos.stage_step, global_step=pos.global_step,
                  accuracy=round(metric, 6), per_task={k: round(v, 6) for k, v in per_task.items()},
                  best=round(pos.best_metric or 0.0, 6), improved=improved)
        return metric

    def _finish_stage(self, index: int, stage: StageSpec, components: list[Component], heads: Any | None) -> None:
        """Evaluate if needed, restore the stage's best weights, drop its heads, checkpoint."""
        pos = self.state.position
        assert self.bundle is not None
        if pos.last_eval_step != pos.stage_step or pos.best_metric is None:
            self._evaluate_and_track(index, stage, components, heads)
        if self.state.best_state is not None:
            load_trainable_state(self.bundle.model, self.state.best_state)
        result = {"stage": index, "task": stage.task, "tasks": list(stage.tasks), "steps": pos.stage_step,
                  "best_accuracy": pos.best_metric,
                  "best_step": pos.best_step, "stopped": pos.stopped,
                  **self._evidence(stage, components), "shuffled_labels": stage.shuffle_labels,
                  **self._report(components, heads, stage.batch_size * 2),
                  "data": {c.spec.name: self._data_record(c) for c in components}}
        self.state.stage_results.append(result)
        self._log("stage_end", **{k: v for k, v in result.items() if k != "data"})
        label = f"stage {index + 1}/{len(self.recipe.stages)} ({stage.task})"
        if self.progress:
            print(f"{label}: best held-out accuracy {pos.best_metric:.4f} at step {pos.best_step} of "
                  f"{pos.stage_step} ({pos.stopped}); {describe(result)}, learned: {result['learned']}",
                  file=sys.stderr, flush=True)
        self._check_learned(label, result)
        self.state.position = Position(stage=index + 1, global_step=pos.global_step)
        self.state.best_state = None
        self._checkpoint(None, None)

    def _evidence(self, stage: StageSpec, components: list[Component]) -> dict[str, Any]:
        """The selected checkpoint's held-out evidence (harness.metrics.learning) and what selected it."""
        correct = self.state.position.best_correct
        held = [HeldOut(c.spec.name, correct[c.spec.name], len(c.dev_items), len(c.spec.labels),
                        majority_count([it.label for it in c.dev_items])) for c in components]
        parts = [held_out_text(c.spec.name, c.data.selection, len(c.dev_items), c.data.fraction) for c in components]
        return {**stage_evidence(held), "selection": selection_text(parts)}

    def _report(self, components: list[Component], heads: Any | None, batch_size: int) -> dict[str, Any]:
        """The reported split (dev, when train held out the selection part), evaluated once on the
        selected weights; {} for a task without one."""
        with_report = [c for c in components if c.report_items]
        if not with_report:
            return {}
        counts = self.count_correct(with_report, heads, batch_size, side="report")
        return {"report": {name: {"accuracy": correct / n, "correct": correct, "n": n, "split": "dev"}
                           for name, (correct, n) in counts.items()}}

    def _check_learned(self, label: str, result: dict[str, Any]) -> None:
        """Say loudly when a stage did not learn; under `require_learned` that is an error."""
        failed = not_learned(result)
        if not failed:
            return
        message = (f"{label} did not learn: {'; '.join(failed)} (the 95% interval's lower bound is not above "
                   f"chance and the majority label's share); its updates may be noise")
        self._log("not_learned", stage=result["stage"], task=result["task"], detail=failed)
        if self.require_learned:
            raise StageNotLearned(f"{message}. Stopped (require_learned); the evidence is in "
                                  f"{self.out_dir / LOG_FILE}")
        warn(f"{message}. Pass --require-learned (or training.require_learned: true) to make this an error")

    @staticmethod
    def _data_record(comp: Component) -> dict[str, Any]:
        record = {"files": comp.data.files, "split": comp.data.split_note,
                  "train_examples": len(comp.train_items), "dev_examples": len(comp.dev_items),
                  "train_items_sha256": items_sha256(comp.train_items), "dev_items_sha256": items_sha256(comp.dev_items),
                  "held_out": comp.data.selection}
        if comp.report_items:
            record.update(report_examples=len(comp.report_items), report_items_sha256=items_sha256(comp.report_items))
        return record

    # ---- the artefact -------------------------------------------------------------------

    def save(self) -> dict[str, Any]:
        """Write the model folder, the log and the summary (last: its presence means done)."""
        assert self.bundle is not None
        self._write_model()
        final = self.state.stage_results[-1]
        summary = self._summary(final)
        self._log("done", mnli_dev_accuracy=summary["mnli_dev_accuracy"], global_step=self.state.position.global_step)
        self._write_log()
        atomic_write_json(self.out_dir / SUMMARY_FILE, summary)
        return summary

    def _write_model(self) -> None:
        assert self.bundle is not None
        with tempfile.TemporaryDirectory(dir=self.out_dir, prefix=".save-") as tmp:
            folder = Path(tmp)
            if self.recipe.training.method == "lora":
                self.bundle.model.save_pretrained(folder)
                config_path = folder / "adapter_config.json"
                config = json.loads(config_path.read_text("utf-8"))
                config["base_model_name_or_path"] = _portable_base_name(self.recipe.base_model, self.bundle.base_folder)
                config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", "utf-8")
                self.bundle.net.config.save_pretrained(folder)
                (folder / "README.md").unlink(missing_ok=True)  # peft's model card template: not ours to publish
            else:
                self.bundle.net.save_pretrained(folder)
                self.bundle.tokenizer.save_pretrained(folder)
            for path in sorted(folder.iterdir()):
                os.chmod(path, 0o644)  # temp files are owner-only; a model folder is ordinary data
                os.replace(path, self.out_dir / path.name)

    def _summary(self, final: dict[str, Any]) -> dict[str, Any]:
        assert self.bundle is not None
        model = self.bundle.model
        files = [p for p in ("adapter_config.json", "adapter_model.safetensors", "config.json", "model.safetensors")
                 if (self.out_dir / p).is_file()]
        data_files = {ref: digest for r in self.state.stage_results for c in r["data"].values()
                      for ref, digest in c["files"].items()}
        return {
            "format": "xnli-robust-train-summary/1", "finished": True,
            "name": self.recipe.name, "regime": self.recipe.regime,
            "intermediate_tasks": list(self.recipe.intermediate_tasks),
            **self._mnli_dev(final),
            "steps": self.state.position.global_step, "seconds": round(self._elapsed(), 2),
            "resumes": self.state.resumes, "device": self._device_name(),
            "precision": "bf16-autocast" if self.device.startswith("cuda") and self.recipe.training.precision == "bf16" else "fp32",
            "seed": self.recipe.seed, "method": self.recipe.training.method,
            "base_model": {"spec": self.recipe.base_model, "folder": str(self.bundle.base_folder),
                           "weights_sha256": self.base_sha256},
            "saved_modules": self.bundle.fresh,
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_parameters": sum(p.numel() for p in model.parameters()),
            "id2label": {str(k): v for k, v in ID2LABEL.items()},
            "recipe": recorded_path(self.recipe.path), "recipe_sha256": self.recipe.file_sha256,
            "recipe_content_sha256": self.recipe.content_sha256,
            "data_sha256": data_files, "stages": self.state.stage_results,
            "model_files_sha256": {p: sha256_file(self.out_dir / p) for p in files},
            "versions": _versions(),
        }

    def _mnli_dev(self, final: dict[str, Any]) -> dict[str, Any]:
        """MNLI dev accuracy, and what selected the checkpoint it was measured on: a held-out part
        of MNLI train (dev then measured once, on those weights) or, in older recipes, dev itself."""
        data = final["data"][FINAL_TASK]
        report = final.get("report", {}).get(FINAL_TASK)
        accuracy, n = (report["accuracy"], report["n"]) if report else (final["best_accuracy"], data["dev_examples"])
        return {"mnli_dev_accuracy": accuracy, "mnli_dev_examples": n,
                "selected_on": selected_on(FINAL_TASK, data["held_out"])}

    def _device_name(self) -> str:
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            return f"{self.device} ({torch.cuda.get_device_name(torch.device(self.device))})"
        return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _length(encoded: Any) -> int:
    if isinstance(encoded, list):
        return max(len(r["input_ids"]) for r in encoded)
    return len(encoded["input_ids"])


# =========================================================================== public API


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but CUDA is not available")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ModelError(f"unknown device {device!r}: use cpu or cuda[:N]")


def _clear_outputs(out_dir: Path) -> None:
    """Start over: remove what an earlier run wrote (only our own file names)."""
    shutil.rmtree(out_dir / CHECKPOINT_DIR, ignore_errors=True)
    for name in ARTEFACT_FILES:
        (out_dir / name).unlink(missing_ok=True)


def _finished_summary(out_dir: Path, recipe: Recipe) -> dict[str, Any] | None:
    path = out_dir / SUMMARY_FILE
    if not path.is_file():
        return None
    summary = json.loads(path.read_text("utf-8"))
    if summary.get("recipe_content_sha256") != recipe.content_sha256:
        raise HarnessError(f"{out_dir} holds a run of a different recipe ({summary.get('name')}); "
                           "use another output folder or start over (resume=False / --restart)")
    return summary


def train(recipe_path: Path, out_dir: Path, *, data_root: Path, device: str = "cpu", resume: bool = True,
          progress: bool = True, stop_after_steps: int | None = None,
          on_step: Callable[[int], None] | None = None, keep_checkpoint: bool = False,
          require_learned: bool = False) -> dict[str, Any]:
    """Run a recipe into `out_dir` and return the train summary.

    With `resume` (the default) an existing checkpoint in `out_dir` is continued and a finished
    run is returned as is; `resume=False` discards both and starts over.  `stop_after_steps`
    checkpoints and returns `{"finished": False, ...}` once that many optimisation steps are done
    (for time-boxed jobs and tests); `on_step(global_step)` is called after every step (an
    exception raised there simulates a crash).  `require_learned` (or the recipe's
    `training.require_learned`) raises StageNotLearned at the end of a stage that did not learn,
    leaving only the training log in `out_dir` (no checkpoint, no model files).
    """
    import torch

    recipe = load_recipe(Path(recipe_path))
    out_dir = Path(out_dir)
    _check_device(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        _clear_outputs(out_dir)
    done = _finished_summary(out_dir, recipe)
    if done is not None:
        return done
    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        trainer = Trainer(recipe, out_dir, Path(data_root), device, progress, stop_after_steps, on_step,
                          require_learned)
        trainer.setup(resume)
        try:
            trainer.run()
        except TrainingStopped:
            return {"finished": False, "name": recipe.name, "steps": trainer.state.position.global_step,
                    "checkpoint": str(trainer.checkpoint_path)}
        except StageNotLearned:
            _clear_outputs(out_dir)  # nothing half-trained stays: no checkpoint, no model files
            trainer._write_log()
            raise
        summary = trainer.save()
    if not keep_checkpoint:
        shutil.rmtree(out_dir / CHECKPOINT_DIR, ignore_errors=True)
    return summary
