"""Training data for the recipes: English MNLI and the STILTs intermediate tasks.

Two item shapes cover every task: a `PairItem` (a text pair with a class label: MNLI, ANLI, QQP)
and a `ChoiceItem` (a context with k candidate answers, one correct: SocialIQA, CosmosQA).

Where a task has no training split here (ANLI ships only dev/test, SocialIQA and CosmosQA only
their evaluation splits), the available labelled files are pooled and a fixed slice is held out
for early stopping.  The slice is chosen by a hash of each item's id, not by the run's seed, so
every seed and every recipe sees the same held-out items and no item can leak between the two
sides when a recipe changes.  Using published dev/test splits as training data is fine for
*intermediate* training (nothing is reported on them) and is recorded in the train summary.

Paths in a recipe's `sources` are relative to the data root; `hub:NAME:SPLIT` reads a Hugging
Face dataset instead (for users with the full MNLI train set), through `hub_load_dataset`.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, Union

from harness.core.errors import DataError
from harness.core.examples import parse_label
from harness.core.hashing import sha256_file, sha256_json
from harness.core.registry import Registry


@dataclass(frozen=True)
class PairItem:
    """A text pair with a class index (NLI: canonical 0 entailment, 1 neutral, 2 contradiction)."""

    id: str
    text_a: str
    text_b: str
    label: int


@dataclass(frozen=True)
class ChoiceItem:
    """A multiple-choice question: `prompt` (context + question) is paired with each choice."""

    id: str
    prompt: str
    choices: tuple[str, ...]
    label: int


Item = Union[PairItem, ChoiceItem]
Reader = Callable[[Path], list[Item]]

HUB_PREFIX = "hub:"


@dataclass(frozen=True)
class TaskSpec:
    """What the trainer needs to know about a task: its shape, labels and default files."""

    name: str
    kind: str  # "pair" (classification head with len(labels) outputs) or "choice" (1-logit scorer)
    labels: tuple[str, ...]  # class names (pair) or choice letters (choice)
    reader: Reader
    train: tuple[str, ...] = ()
    dev: tuple[str, ...] = ()
    pool: tuple[str, ...] = ()  # used when the task has no train split: pooled, then split
    heldout_fraction: float = 0.1

    @property
    def num_outputs(self) -> int:
        """Outputs of the task head: classes for a pair task, 1 score per choice otherwise."""
        return len(self.labels) if self.kind == "pair" else 1


@dataclass
class TaskData:
    """Train and dev items of one task plus what they were read from (for the summary)."""

    spec: TaskSpec
    train: list[Item]
    dev: list[Item]
    files: dict[str, Any] = field(default_factory=dict)
    split_note: str = ""
    report: list[Item] = field(default_factory=list)
    """Items evaluated once, on the selected weights, and never used to select (a train/dev task
    with `selection_fraction`: its dev file; `dev` is then the held-out part of train)."""
    selection: str = "dev"
    """What `dev` is: "dev" (the task's dev file), "heldout" (a held-out part of a pool) or
    "train-heldout" (a held-out part of train, with `report` the dev file)."""
    fraction: float | None = None
    """The held-out share of the pool or of train (None for "dev")."""


# --------------------------------------------------------------------------- file readers


def _open(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with _open(path) as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON on a line ({exc.msg})") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _json_object(path: Path) -> dict[str, Any]:
    try:
        with _open(path) as handle:
            data = json.load(handle)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object of id -> row")
    return data


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: missing or empty field {key!r}")
    return value


def _nli_label(raw: Any, where: str) -> int:
    label = parse_label(str(raw))
    if label is None:
        raise DataError(f"{where}: unknown NLI label {raw!r} (expected entailment/neutral/contradiction or e/n/c)")
    return label


def read_sample_nli(path: Path) -> list[Item]:
    """The MNLI/SNLI samples: `{"id": {"text_a", "text_b", "label": "entailment"|...}}`."""
    items: list[Item] = []
    for key, row in _json_object(path).items():
        where = f"{path}: item {key}"
        items.append(PairItem(str(key), _text(row, "text_a", where), _text(row, "text_b", where),
                              _nli_label(row.get("label"), where)))
    return items


def read_qqp(path: Path) -> list[Item]:
    """The QQP sample: same JSON shape as MNLI, label "0" (different) or "1" (duplicate)."""
    items: list[Item] = []
    for key, row in _json_object(path).items():
        where = f"{path}: item {key}"
        raw = str(row.get("label"))
        if raw not in ("0", "1"):
            raise DataError(f"{where}: QQP label must be 0 or 1, got {raw!r}")
        items.append(PairItem(str(key), _text(row, "text_a", where), _text(row, "text_b", where), int(raw)))
    return items


def read_anli(path: Path) -> list[Item]:
    """ANLI rounds: JSONL with `uid, context, hypothesis, label (e|n|c)`."""
    items: list[Item] = []
    for number, row in _jsonl(path):
        where = f"{path}:{number}"
        uid = str(row.get("uid") or f"{path.name}:{number}")
        items.append(PairItem(uid, _text(row, "context", where), _text(row, "hypothesis", where),
                              _nli_label(row.get("label"), where)))
    return items


def _content_id(*parts: str) -> str:
    """Id for rows without one: identical rows get the same id, so they land on one side of a split."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def read_socialiqa(path: Path) -> list[Item]:
    """SocialIQA: JSONL with `context, question, answerA/B/C, correct (A|B|C)`."""
    items: list[Item] = []
    for number, row in _jsonl(path):
        where = f"{path}:{number}"
        context, question = _text(row, "context", where), _text(row, "question", where)
        choices = tuple(_text(row, f"answer{letter}", where) for letter in "ABC")
        correct = str(row.get("correct", "")).strip().upper()
        if correct not in ("A", "B", "C"):
            raise DataError(f"{where}: field 'correct' must be A, B or C, got {row.get('correct')!r}")
        items.append(ChoiceItem(_content_id(context, question, *choices), f"{context} {question}",
                                choices, "ABC".index(correct)))
    return items


def read_cosmosqa(path: Path) -> list[Item]:
    """CosmosQA: CSV with `id, context, question, answer0..answer3, label (0-3)`."""
    items: list[Item] = []
    try:
        with _open(path) as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                where = f"{path}:{number}"
                choices = tuple(_text(row, f"answer{i}", where) for i in range(4))
                raw = str(row.get("label", "")).strip()
                if raw not in ("0", "1", "2", "3"):
                    raise DataError(f"{where}: label must be 0-3, got {raw!r}")
                prompt = f"{_text(row, 'context', where)} {_text(row, 'question', where)}"
                items.append(ChoiceItem(row.get("id") or _content_id(prompt, *choices), prompt, choices, int(raw)))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read CSV ({exc})") from None
    return items


# --------------------------------------------------------------------------- the task registry

NLI_LABELS = ("entailment", "neutral", "contradiction")

TASKS: Registry[TaskSpec] = Registry("training task", {
    "mnli": TaskSpec("mnli", "pair", NLI_LABELS, read_sample_nli,
                     train=("english-nli/mnli-sample-train.json.gz",),
                     dev=("english-nli/mnli-sample-dev.json.gz",)),
    "anli": TaskSpec("anli", "pair", NLI_LABELS, read_anli,
                     pool=tuple(f"intermediate/anli/R{r}-{s}.jsonl.gz" for r in (1, 2, 3) for s in ("dev", "test"))),
    "qqp": TaskSpec("qqp", "pair", ("not_duplicate", "duplicate"), read_qqp,
                    train=("intermediate/qqp-sample-train.json.gz",),
                    dev=("intermediate/qqp-sample-dev.json.gz",)),
    "socialiqa": TaskSpec("socialiqa", "choice", ("A", "B", "C"), read_socialiqa,
                          pool=("intermediate/socialiqa-dev.jsonl.gz", "intermediate/socialiqa-test.jsonl.gz")),
    "cosmosqa": TaskSpec("cosmosqa", "choice", ("0", "1", "2", "3"), read_cosmosqa,
                         pool=("intermediate/cosmosqa-dev.csv.gz",)),
})
"""Every task a recipe stage may name (plus `mix`, a multi-task stage over several of these)."""

HUB_FIELDS: dict[str, tuple[str, str, str]] = {
    "mnli": ("premise", "hypothesis", "label"),
    "anli": ("premise", "hypothesis", "label"),
    "qqp": ("question1", "question2", "label"),
}
"""Column names of the hub datasets (nyu-mll/multi_nli, facebook/anli, nyu-mll/glue qqp).

Their integer labels already use our order (0 entailment, 1 neutral, 2 contradiction; QQP 1 =
duplicate); -1 marks unlabelled rows, which are dropped.
"""


def in_heldout(item_id: str, fraction: float) -> bool:
    """Stable, seed-independent membership of the held-out slice (by a hash of the id)."""
    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def hub_load_dataset(name: str, config: str | None, split: str) -> Any:
    """The network boundary for hub datasets (replaced in tests)."""
    from datasets import load_dataset

    return load_dataset(name, config, split=split) if config else load_dataset(name, split=split)


def parse_hub_ref(ref: str) -> tuple[str, str | None, str]:
    """`hub:NAME:SPLIT` or `hub:NAME:CONFIG:SPLIT` -> (name, config, split)."""
    parts = ref[len(HUB_PREFIX):].split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise DataError(f"hub source {ref!r} must look like hub:OWNER/NAME:SPLIT or hub:OWNER/NAME:CONFIG:SPLIT")
    return parts[0], (parts[1] if len(parts) == 3 else None), parts[-1]


def _read_hub(task: str, ref: str) -> tuple[list[Item], dict[str, Any]]:
    name, config, split = parse_hub_ref(ref)
    if task not in HUB_FIELDS:
        raise DataError(f"task {task!r} cannot be read from the hub; give data-root-relative files")
    try:
        rows = hub_load_dataset(name, config, split)
    except Exception as exc:  # offline, unknown dataset: all mean "cannot get it"
        raise DataError(f"cannot load {ref!r} from the Hugging Face hub ({type(exc).__name__}: {exc})") from None
    a, b, lab = HUB_FIELDS[task]
    items: list[Item] = [PairItem(f"{ref}:{i}", str(r[a]), str(r[b]), int(r[lab]))
                         for i, r in enumerate(rows) if int(r[lab]) >= 0]
    return items, {"hub": name, "config": config, "split": split,
                   "fingerprint": getattr(rows, "_fingerprint", None), "rows": len(items)}


def _read_files(spec: TaskSpec, refs: Sequence[str], data_root: Path) -> tuple[list[Item], dict[str, Any]]:
    """Read and concatenate several sources; returns the items and {source: sha256 or hub info}."""
    items: list[Item] = []
    files: dict[str, Any] = {}
    for ref in refs:
        if ref.startswith(HUB_PREFIX):
            found, info = _read_hub(spec.name, ref)
            items += found
            files[ref] = info
            continue
        path = data_root / ref
        if not path.is_file():
            raise DataError(f"{spec.name}: data file {path} not found (data root {data_root}; "
                            "set --data-dir or XNLI_ROBUST_DATA)")
        items += spec.reader(path)
        files[ref] = sha256_file(path)
    if not items:
        raise DataError(f"{spec.name}: no items in {list(refs)}")
    return items, files


def _as_list(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def load_task(name: str, data_root: Path, source: dict[str, Any] | None = None) -> TaskData:
    """Train and dev items of `name`, from the recipe's `source` override or the defaults.

    `source` is `{train: [...], dev: [...]}` or `{pool: [...], heldout_fraction: 0.1}`.
    """
    spec = TASKS[name]
    source = dict(source or {})
    if not {"train", "dev", "pool"} & set(source):  # only fractions given: the task's default files
        source.update({"train": spec.train, "dev": spec.dev} if spec.train else {"pool": spec.pool})
    if "pool" in source:
        return _split_pool(spec, _as_list(source["pool"]), float(source.get("heldout_fraction", spec.heldout_fraction)),
                           data_root)
    train, train_files = _read_files(spec, _as_list(source["train"]), data_root)
    dev, dev_files = _read_files(spec, _as_list(source["dev"]), data_root)
    files = {**train_files, **dev_files}
    if "selection_fraction" in source:
        return _split_train(spec, train, dev, files, float(source["selection_fraction"]))
    return TaskData(spec, train, dev, files, "train and dev from separate files")


def _hash_split(items: list[Item], fraction: float) -> tuple[list[Item], list[Item]]:
    """(held out, the rest) by `in_heldout` of each id: the same split on every machine."""
    held = [it for it in items if in_heldout(it.id, fraction)]
    return held, [it for it in items if not in_heldout(it.id, fraction)]


def _split_train(spec: TaskSpec, train: list[Item], dev: list[Item], files: dict[str, Any],
                 fraction: float) -> TaskData:
    """Hold out a share of train (by id hash) to select the checkpoint; dev is only reported."""
    select, rest = _hash_split(train, fraction)
    if not select or not rest:
        raise DataError(f"{spec.name}: selection fraction {fraction} leaves an empty train or selection side")
    note = (f"{len(select)} of {len(train)} train items (sha256(id) < {fraction}) held out to select the checkpoint, "
            f"{len(rest)} trained on; the {len(dev)} dev items are evaluated once, on the selected weights")
    return TaskData(spec, rest, select, files, note, report=dev, selection="train-heldout", fraction=fraction)


def _split_pool(spec: TaskSpec, refs: tuple[str, ...], fraction: float, data_root: Path) -> TaskData:
    items, files = _read_files(spec, refs, data_root)
    dev, train = _hash_split(items, fraction)
    if not dev or not train:
        raise DataError(f"{spec.name}: held-out fraction {fraction} leaves an empty train or dev side")
    note = (f"no train split available: {len(items)} labelled items of {', '.join(refs)} pooled; "
            f"{len(dev)} (sha256(id) < {fraction}) held out for early stopping, {len(train)} trained on")
    return TaskData(spec, train, dev, files, note, selection="heldout", fraction=fraction)


def permute_labels(items: Sequence[Item], rng: random.Random) -> list[Item]:
    """The same items with their labels permuted across them (the shuffled-label control).

    A permutation keeps the label distribution and breaks only the link from an item to its
    label, so whatever a model fits is the distribution, not the task."""
    labels = [it.label for it in items]
    rng.shuffle(labels)
    return [dataclasses.replace(it, label=label) for it, label in zip(items, labels)]


def items_sha256(items: Sequence[Item]) -> str:
    """Hash of exactly the items trained or evaluated on (after limits), for the summary."""
    return sha256_json([[type(it).__name__, *[getattr(it, f) for f in it.__dataclass_fields__]] for it in items])
