"""`xnli-robust bench`: score one checkpoint on XNLI and write a result record.

The run is a pipeline of small steps (load data, load model, predict, score, write), and the
output folder (record + per-example predictions) is published atomically: an interrupted run
leaves nothing behind.  A benchmark run streams: each perturbed (set, language) unit is read,
scored and written to the predictions file in turn, and only one byte per item is kept for the
robustness metrics, so peak memory does not grow with the benchmark (benchmarks/NOTES.md, 4).
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

import harness
from harness import LABELS, LANGUAGES
from harness.core.atomic import atomic_dir
from harness.data.sources import SOURCES
from harness.data.spec import is_user_manifest
from harness.data.userdata import load_user_data, ordered_languages
from harness.data.xnli import find_split_file, load_local, load_xnli10
from harness.scoring.distributed import Job, Scored
from harness.core.errors import DataError, HarnessError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_file, sha256_json
from harness.core.paths import check_output_folder, data_root, explicit_data_root, recorded_path
from harness.core.record import git_state, hardware, validate
from harness.metrics.accuracy import accuracy_with_ci, macro_with_ci

CALIBRATION_ITEMS = 600
PARITY_ITEMS = 300
DTYPES = ("fp32", "bf16")
RUNTIMES = ("torch", "onnxruntime")


@dataclass
class BenchConfig:
    """Everything a bench run depends on (CLI options map one to one)."""

    model: str
    out: Path
    data_dir: str | None = None
    source: str = "auto"
    custom_file: str | None = None
    custom_language: str = "en"
    """The code of `custom_file` rows that name no language (`--data-language`)."""
    split: str = "test"
    languages: tuple[str, ...] | None = LANGUAGES
    """None: every language the data holds (the 15 for XNLI; a custom file's or a benchmark's own)."""
    limit: int | None = None
    adapter: str = "hf"
    revision: str | None = None
    device: str = "cpu"
    batch_size: int = 32
    max_length: int = 128
    label_map: str | None = None
    calibrate: bool = False
    allow_pickle: bool = False
    trust_remote_code: bool = False
    regime: str | None = None
    intermediate_tasks: tuple[str, ...] | None = None
    recipe: str | None = None
    seed: int = 1234
    overwrite: bool = False
    progress: bool = True
    hub_revision: str | None = None
    cache: Path | None = None
    """SQLite prediction cache (None: no cache)."""
    quantize: str | None = None
    """"int8": dynamic int8 quantisation on the CPU, with a parity check on English dev items."""
    dtype: str = "fp32"
    """"bf16": bfloat16 inference, only on request, with the same parity check against fp32."""
    runtime: str = "torch"
    """"onnxruntime": the fp32 model exported to ONNX and run by ONNX Runtime (CPU), parity-checked."""
    benchmark: Path | None = None
    """A generated benchmark folder: score its clean items and every perturbed unit."""
    verify_benchmark: bool = True
    allow_unpinned: bool = False
    """Score a benchmark that verifies but whose hash no spec pins (recorded as unpinned)."""


@dataclass(frozen=True)
class PerturbedUnit:
    """One perturbed set (`family/severity`) in one language, read from disk only when scored.

    Why lazy: holding every perturbed item before scoring made peak memory grow with the
    benchmark (~0.8 KiB an item, ~1M items in the full one)."""

    bench: Any  # harness.data.benchmark.Benchmark (imported lazily)
    family: str
    severity: str
    language: str
    keep: frozenset[str]
    """The clean item ids scored in this language (after --limit)."""

    @property
    def set_name(self) -> str:
        return f"{self.family}/{self.severity}"

    def load(self) -> list[NLIExample]:
        items = self.bench.perturbed(self.family, self.severity, self.language)
        return [p.example for p in items if p.example.id in self.keep]


@dataclass
class EvalData:
    source: str
    examples: dict[str, list[NLIExample]]
    files: dict[str, str] = field(default_factory=dict)
    units: list[PerturbedUnit] = field(default_factory=list)
    """Perturbed units in scoring order: set by set (first-seen order), languages within a set
    in the benchmark's unit order (benchmark runs only)."""
    benchmark: dict[str, Any] | None = None


def load_benchmark_data(cfg: BenchConfig) -> EvalData:
    """Clean sets of a generated benchmark (verified unless told otherwise), perturbed ones lazily."""
    from harness.data.benchmark import load_benchmark

    bench = load_benchmark(cfg.benchmark, verify_files=cfg.verify_benchmark)
    if cfg.languages is None:
        languages = ordered_languages(bench.languages)
    else:
        languages = [lang for lang in cfg.languages if lang in bench.languages]
    if not languages:
        raise DataError(f"{cfg.benchmark}: none of the requested languages is in the benchmark")
    clean = apply_limit({lang: bench.clean(lang) for lang in languages}, cfg.limit)
    keep = {lang: frozenset(e.id for e in items) for lang, items in clean.items()}
    by_set: dict[str, list[PerturbedUnit]] = {}
    for unit in bench.units():
        if unit.language in keep:
            by_set.setdefault(f"{unit.family}/{unit.severity}", []).append(
                PerturbedUnit(bench, unit.family, unit.severity, unit.language, keep[unit.language]))
    info = {"id": bench.id, "benchmark_hash": bench.benchmark_hash, "verified": bench.verified,
            "matches_spec": None if bench.report is None else bench.report.matches_spec,
            "verification": _verification(bench, cfg), "notes": [] if bench.report is None else bench.report.notes}
    return EvalData("benchmark", clean, {"manifest.json": sha256_file(Path(cfg.benchmark) / "manifest.json")},
                    [u for units in by_set.values() for u in units], info)


def _verification(bench: Any, cfg: BenchConfig) -> str:
    """Which check the benchmark passed, in words for the record; an unpinned one needs a flag.

    Why: a folder whose manifest names a size the spec does not pin is only internally
    consistent (anyone can write such a folder), so it is scored only on request and says so."""
    if bench.report is None:
        return "none: scored with --unverified"
    if bench.report.matches_spec:
        return f"every file hash, and the benchmark hash the spec pins ({bench.report.expected_hash})"
    if is_user_manifest(bench.manifest):  # `perturb` of user data: unpinned by nature, and labelled so
        return "every file hash against the manifest (a user-file benchmark: no spec pins user data)"
    if not cfg.allow_unpinned:
        raise DataError(f"{cfg.benchmark}: no spec pins this benchmark's hash, so it is only internally consistent "
                        f"({'; '.join(bench.report.notes) or 'no expected hash'}); pass --allow-unpinned to score it "
                        "anyway (the record and the leaderboard mark it unpinned)")
    return "every file hash against the manifest only (unpinned: --allow-unpinned)"


# ---- data -------------------------------------------------------------------------------------

def _local_folder(root: Path, split: str) -> Path | None:
    for folder in (root / "xnli", root):
        if any((folder / f"{split}-en.tsv{ext}").is_file() for ext in ("", ".gz")):
            return folder
    return None


def _xnli10_folder(root: Path, split: str) -> Path | None:
    for folder in (root, root / "XNLI-1.0"):
        if (folder / f"xnli.{split}.tsv").is_file():
            return folder
    return None


def _hash_files(paths: list[Path], root: Path) -> dict[str, str]:
    out = {}
    for path in paths:
        try:
            name = str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            name = path.name
        out[name] = sha256_file(path)
    return out


def load_eval_data(cfg: BenchConfig) -> EvalData:
    """Pick the source (auto-detected from the data root unless given) and load the split.

    A folder that cannot be read is reported by name (exit 2), never as a traceback."""
    try:
        return _load_eval_data(cfg)
    except PermissionError as exc:
        where = exc.filename or data_root(cfg.data_dir)
        raise DataError(f"{where}: cannot read the data ({exc.strerror or exc}); check --data-dir "
                        "and the folder's permissions") from None


def _check_named_root(root: Path, split: str) -> None:
    """A data root the user named must hold XNLI: no silent download elsewhere."""
    if not root.is_dir():
        raise DataError(f"data root {root} (--data-dir / $XNLI_ROBUST_DATA) is not a folder")
    if _local_folder(root, split) is None and _xnli10_folder(root, split) is None:
        raise DataError(f"data root {root} (--data-dir / $XNLI_ROBUST_DATA) holds no XNLI {split} files "
                        f"(expected xnli/{split}-xx.tsv[.gz] or xnli.{split}.tsv); XNLI-1.0 is downloaded "
                        "only when no data root is given")


def _load_eval_data(cfg: BenchConfig) -> EvalData:
    SOURCES.check(cfg.source)
    root = data_root(cfg.data_dir)
    if cfg.benchmark is not None:
        return load_benchmark_data(cfg)
    named = explicit_data_root(cfg.data_dir)
    if named is not None and cfg.source in ("auto", "local", "xnli10") and not cfg.custom_file:
        _check_named_root(named, cfg.split)
    if cfg.source == "custom" or cfg.custom_file:
        if not cfg.custom_file:
            raise DataError("--source custom needs --data-file")
        user = load_user_data(cfg.custom_file, cfg.custom_language)  # a JSONL/TSV file, or hub:OWNER/NAME[:CONFIG]:SPLIT
        examples = user.examples
        if cfg.languages is not None:
            examples = {k: v for k, v in examples.items() if k in cfg.languages} or examples
        return EvalData("custom", examples, user.files)
    source = cfg.source
    languages = cfg.languages or LANGUAGES
    if source in ("auto", "local") and (folder := _local_folder(root, cfg.split)):
        files = [find_split_file(folder, cfg.split, lang) for lang in languages]
        return EvalData("local", load_local(folder, cfg.split, languages), _hash_files(files, root))
    if source == "local":
        raise DataError(f"{root}: no {cfg.split}-xx.tsv[.gz] files (in {root} or {root / 'xnli'})")
    if source in ("auto", "xnli10"):
        folder = _xnli10_folder(root, cfg.split)
        if folder is None:
            from harness.data.sources import ensure_xnli10

            folder = ensure_xnli10()
        path = folder / f"xnli.{cfg.split}.tsv"
        return EvalData("xnli10", load_xnli10(folder, cfg.split, languages), {path.name: sha256_file(path)})
    from harness.data.sources import load_hub

    examples, files = load_hub(cfg.split, list(languages), revision=cfg.hub_revision)
    return EvalData("hub", examples, files)


def apply_limit(examples: dict[str, list[NLIExample]], limit: int | None) -> dict[str, list[NLIExample]]:
    """The first `limit` items of each language (the same ids everywhere: rows are parallel)."""
    if limit is None:
        return examples
    if limit < 1:
        raise DataError("--limit must be at least 1")
    return {lang: items[:limit] for lang, items in examples.items()}


def items_sha256(examples: dict[str, list[NLIExample]]) -> str:
    return sha256_json([[e.language, e.id, e.premise, e.hypothesis, e.label]
                        for lang in sorted(examples) for e in examples[lang]])


# ---- model ------------------------------------------------------------------------------------

def calibration_items(cfg: BenchConfig) -> tuple[list[tuple[str, str]], list[int]]:
    """Clean English dev items for label-map calibration (never the scored test items)."""
    root = data_root(cfg.data_dir)
    folder = _local_folder(root, "dev")
    if folder is None:
        raise DataError(f"--calibrate needs English XNLI dev (dev-en.tsv[.gz]) under {root}")
    dev = load_local(folder, "dev", ["en"])["en"][:CALIBRATION_ITEMS]
    return [(e.premise, e.hypothesis) for e in dev], [e.label for e in dev]


def parity_pairs(cfg: BenchConfig) -> list[tuple[str, str]]:
    """The English dev items every reduced-precision option is checked on against fp32."""
    pairs, _ = calibration_items(cfg)
    return pairs[:PARITY_ITEMS]


def check_precision_options(cfg: BenchConfig) -> None:
    """Refuse impossible precision/runtime combinations before any data or model is read."""
    if cfg.quantize and cfg.dtype != "fp32":
        raise DataError(f"--quantize {cfg.quantize} quantises an fp32 model; it cannot be combined with --dtype {cfg.dtype}")
    if cfg.dtype not in DTYPES:
        raise DataError(f"unknown --dtype {cfg.dtype!r} (expected one of {', '.join(DTYPES)})")
    if cfg.runtime not in RUNTIMES:
        raise DataError(f"unknown --runtime {cfg.runtime!r} (expected one of {', '.join(RUNTIMES)})")
    if cfg.runtime != "torch" and (cfg.quantize or cfg.dtype != "fp32"):
        raise DataError(f"--runtime {cfg.runtime} runs the fp32 model; it cannot be combined with --quantize or --dtype bf16")
    check_adapter_options(cfg)


def requested_precision(cfg: BenchConfig) -> str | None:
    """The one precision/runtime conversion the options ask for (`adapters.precision` names)."""
    return "int8" if cfg.quantize == "int8" else "bf16" if cfg.dtype == "bf16" else \
        "onnxruntime" if cfg.runtime == "onnxruntime" else None


def check_adapter_options(cfg: BenchConfig) -> None:
    """A known adapter that offers the requested precision or runtime, checked before any data or
    model is read (a backend declares what it offers in its class attribute `precisions`)."""
    from adapters import precision
    from adapters.base import ADAPTERS, adapter_class

    ADAPTERS.check(cfg.adapter)
    wanted = requested_precision(cfg)
    if wanted is not None and wanted not in precision.offered(adapter_class(cfg.adapter)):
        flag = {"int8": "--quantize int8", "bf16": "--dtype bf16", "onnxruntime": "--runtime onnxruntime"}[wanted]
        offered = [kind for kind in ADAPTERS if wanted in precision.offered(adapter_class(kind))]
        raise DataError(f"{flag} is not offered by the {cfg.adapter} adapter (only by: {', '.join(offered)}); "
                        "score it without that option")


def load_model(cfg: BenchConfig):  # type: ignore[no-untyped-def]
    from adapters import load_adapter

    check_precision_options(cfg)
    adapter = load_adapter(
        cfg.adapter, cfg.model, revision=cfg.revision, device=cfg.device, max_length=cfg.max_length,
        batch_size=cfg.batch_size, label_map=cfg.label_map,
        calibrate_with=calibration_items(cfg) if cfg.calibrate else None,
        allow_pickle=cfg.allow_pickle, trust_remote_code=cfg.trust_remote_code, progress=cfg.progress)
    conversion = requested_precision(cfg)
    if conversion is not None:
        from adapters import precision

        precision.apply(adapter, conversion, parity_pairs(cfg))
    if cfg.cache is None:
        return adapter
    from adapters.cache import CachedAdapter

    return CachedAdapter(adapter, cfg.cache)


# ---- training regime ----------------------------------------------------------------------------

def training_info(cfg: BenchConfig) -> dict[str, Any]:
    """Regime and intermediate tasks, from the options or from a recipe file."""
    info: dict[str, Any] = {"regime": cfg.regime or "unknown",
                            "intermediate_tasks": list(cfg.intermediate_tasks or []),
                            "recipe": None, "recipe_sha256": None}
    if cfg.recipe:
        from harness.training.recipe import load_recipe

        path = Path(cfg.recipe)
        recipe = load_recipe(path)
        info.update(recipe=recorded_path(path), recipe_sha256=sha256_file(path),
                    regime=cfg.regime or recipe.regime,
                    intermediate_tasks=list(cfg.intermediate_tasks or recipe.intermediate_tasks))
    if info["regime"] not in ("direct", "stilts", "unknown"):
        raise DataError(f"regime must be direct or stilts, not {info['regime']!r}")
    if info["regime"] == "stilts" and not info["intermediate_tasks"]:
        raise DataError("regime stilts needs --intermediate-tasks (e.g. anli,qqp)")
    info.update(trained_stages(cfg.model, cfg.data_dir))
    return info


def trained_stages(model: str, data_dir: str | None) -> dict[str, Any]:
    """`stages` (each stage's held-out evidence), `selected_on` and `mnli_dev_accuracy` from a
    checkpoint folder's `train_summary.json`; {} for a hub id or a folder `train` did not write."""
    from harness.training.evidence import read_training_folder

    folder = Path(model)
    found = read_training_folder(folder, data_root(data_dir)) if folder.is_dir() else None
    return found or {}


# ---- scoring ----------------------------------------------------------------------------------

@dataclass
class TimedAdapter:
    """The adapter with the seconds spent in `predict` summed: reading the benchmark and writing
    prediction lines happen between the calls and are not prediction time."""

    adapter: Any
    log: Callable[[str], None]
    seconds: float = 0.0
    by_language: bool | None = None
    """One `predict` call per language (a prompted model); None: ask the adapter's identity."""

    def predict(self, what: str, items: list[NLIExample]) -> np.ndarray:
        from adapters.base import language_dependent
        from adapters.by_language import predict_examples

        if self.by_language is None:
            self.by_language = language_dependent(self.adapter)
        self.log(f"scoring {what} ({len(items)} pairs)")
        t0 = time.perf_counter()
        probs = predict_examples(self.adapter, items, self.by_language)
        self.seconds += time.perf_counter() - t0
        return probs


GROUP_PAIRS = 4096
"""Consecutive units are scored in one `predict` call until it holds this many pairs.

Why: the adapter sorts by length within a call, so one call per unit left short units (or any
unit under `--limit`) as a few badly filled, badly padded batches: with `--limit 30`, `bench`
scored 24 pairs/s where the same adapter scores 38 on 300 mixed pairs.  Bounded, so memory
still does not grow with the benchmark."""


def scoring_jobs(examples: dict[str, list[NLIExample]], units: list[PerturbedUnit]) -> list[Job]:
    """Clean languages, then each perturbed unit, read only when its turn comes."""
    jobs: list[Job] = [("clean", language, (lambda items=items: items)) for language, items in examples.items()]
    return jobs + [(unit.set_name, unit.language, unit.load) for unit in units]


def predict_all(adapter: TimedAdapter, examples: dict[str, list[NLIExample]], units: list[PerturbedUnit],
                shard_dir: Path, group_pairs: int | None = None) -> Iterator[Scored] | None:
    """Every unit's probabilities in job order, streamed; sharded when launched with several
    processes (then None on all but the main process, which publishes the record)."""
    from harness.scoring import distributed

    group_pairs = GROUP_PAIRS if group_pairs is None else group_pairs
    jobs = scoring_jobs(examples, units)
    if distributed.world_size() == 1:
        return distributed.predict_streamed(adapter.predict, jobs, group_pairs)
    t0 = time.perf_counter()
    merged = distributed.predict_sharded(adapter.predict, jobs, shard_dir, getattr(adapter.adapter, "stats", {}),
                                         group_pairs)
    adapter.seconds = time.perf_counter() - t0
    return merged


def score_set(examples: dict[str, list[NLIExample]], probs: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    per_language, correct_by_language = {}, {}
    for language, items in examples.items():
        hits = probs[language].argmax(axis=1) == np.array([e.label for e in items])
        per_language[language] = accuracy_with_ci(hits, seed)
        correct_by_language[language] = {e.id: bool(h) for e, h in zip(items, hits)}
    return {"per_language": per_language, "macro": macro_with_ci(correct_by_language, seed)}


def prediction_lines(set_name: str, language: str, items: list[NLIExample], probs: np.ndarray) -> Iterator[bytes]:
    """One JSONL line per example of a scored unit."""
    for example, row in zip(items, probs):
        line = {"set": set_name, "language": language, "id": example.id,
                "gold": LABELS[example.label], "pred": LABELS[int(row.argmax())],
                "probs": [round(float(p), 6) for p in row]}
        yield (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


class ScoreTally:
    """What the metrics need from the scored units, kept while their prediction lines stream out.

    Clean items and probabilities are kept whole (the record and the clean scores need them, and
    every perturbed item is one of them); a perturbed unit leaves one byte per clean item of its
    language (`LabelArray`: the predicted label, or absent), whatever its own size.
    """

    def __init__(self) -> None:
        self.clean: dict[str, list[NLIExample]] = {}
        self.clean_probs: dict[str, np.ndarray] = {}
        self.position: dict[str, dict[str, int]] = {}
        self.perturbed: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        """family -> severity -> language -> int8 label per clean item (ABSENT: not in the unit)."""
        self.n_pairs = 0

    def add(self, set_name: str, language: str, items: list[NLIExample], probs: np.ndarray) -> None:
        self.n_pairs += len(items)
        if set_name == "clean":
            self.clean[language], self.clean_probs[language] = items, probs
            self.position[language] = {e.id: k for k, e in enumerate(items)}
            return
        from harness.metrics.robustness import ABSENT

        if language not in self.position:
            raise HarnessError(f"{set_name} {language} was scored before (or without) its clean items")
        labels = np.full(len(self.clean[language]), ABSENT, dtype=np.int8)
        if items:  # the ids are a subset of the clean ones (load_benchmark_data keeps only those)
            labels[np.array([self.position[language][e.id] for e in items], dtype=np.intp)] = probs.argmax(axis=1)
        family, severity = set_name.split("/")
        self.perturbed.setdefault(family, {}).setdefault(severity, {})[language] = labels

    def results(self, seed: int) -> dict[str, Any]:
        results = {"clean": score_set(self.clean, self.clean_probs, seed)}
        if self.perturbed:
            results.update(self.robustness(seed))
        return results

    def robustness(self, seed: int) -> dict[str, Any]:
        """Perturbed accuracy, drop, flip rate per family/severity/language, and worst case."""
        from harness.metrics.robustness import LabelArray, summarise

        ids = {lang: [e.id for e in items] for lang, items in self.clean.items()}
        for lang, items in ids.items():
            if len(self.position[lang]) != len(items):
                raise DataError(f"clean {lang}: duplicate item ids (robustness metrics pair items by id)")

        def view(lang: str, labels: np.ndarray) -> LabelArray:
            return LabelArray(ids[lang], self.position[lang], labels)

        gold = {lang: view(lang, np.array([e.label for e in items], dtype=np.int8)) for lang, items in self.clean.items()}
        clean = {lang: view(lang, probs.argmax(axis=1).astype(np.int8)) for lang, probs in self.clean_probs.items()}
        perturbed = {family: {severity: {lang: view(lang, labels) for lang, labels in by_lang.items()}
                              for severity, by_lang in by_severity.items()}
                     for family, by_severity in self.perturbed.items()}
        summary = summarise(gold, clean, perturbed, seed)
        return {"perturbed": {"families": summary["families"]}, "worst_case": summary["worst_case"]}


def write_predictions(scored: Iterable[Scored], path: Path) -> ScoreTally:
    """Stream the per-example predictions to gzipped JSONL and tally what the metrics need.

    Deterministic bytes: mtime 0 and no file name in the gzip header, fixed order."""
    tally = ScoreTally()
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as handle:
        for set_name, language, items, probs in scored:
            for line in prediction_lines(set_name, language, items, probs):
                handle.write(line)
            tally.add(set_name, language, items, probs)
    return tally


# ---- the run ----------------------------------------------------------------------------------

def run(cfg: BenchConfig, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Score `cfg.model` and publish `cfg.out/{result.json, predictions.jsonl.gz}`."""
    started = time.perf_counter()
    check_output_folder(cfg.out)
    if cfg.out.exists() and not cfg.overwrite:
        raise HarnessError(f"{cfg.out} already exists; pass --overwrite to replace it")
    check_precision_options(cfg)
    training = training_info(cfg)
    data = load_eval_data(cfg)
    examples = apply_limit(data.examples, cfg.limit)
    n_sets = 1 + len({unit.set_name for unit in data.units})
    log(f"data: {data.source}, {sum(len(v) for v in examples.values())} clean pairs in {len(examples)} languages, "
        f"{n_sets} sets" + (f" ({len(data.units)} perturbed units, read one at a time)" if data.units else ""))
    from harness.scoring import distributed

    cfg.device = distributed.device_for(cfg.device)
    adapter = load_model(cfg)
    timed = TimedAdapter(adapter, log)
    scored = predict_all(timed, examples, data.units, cfg.out.with_name(f".{cfg.out.name}.shards"))
    if scored is None:  # not the main process: the main one publishes the record
        return {}
    with atomic_dir(cfg.out, replace=cfg.overwrite) as tmp:  # predictions stream into it: nothing half-written
        tally = write_predictions(scored, tmp / "predictions.jsonl.gz")
        record = build_record(cfg, adapter, training, data, examples, tally.results(cfg.seed),
                              sha256_file(tmp / "predictions.jsonl.gz"), timed.seconds,
                              time.perf_counter() - started, tally.n_pairs)
        validate(record, "the new record")
        (tmp / "result.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", "utf-8")
        if data.units:
            write_heatmap(record, tmp / "heatmap.png", log)
    return record


def _world() -> int:
    from harness.scoring.distributed import world_size

    return world_size()


def write_heatmap(record: dict[str, Any], path: Path, log: Callable[[str], None]) -> None:
    """The language x family heat map beside the record; plotting is optional (matplotlib)."""
    try:
        from harness.metrics.robustness import heatmap

        languages = ordered_languages(record["data"]["languages"])  # the XNLI order, then any others
        heatmap(record["results"]["perturbed"], languages, str(path),
                f"{record['model']['id']}: accuracy drop by family and language")
    except ImportError as exc:
        log(f"no heat map: {exc}")


def _cache_stats(adapter: Any) -> dict[str, int]:
    """Hits and misses; rows the cache refused to serve (damaged) are counted when there were any."""
    stats = {"hits": adapter.hits, "misses": adapter.misses}
    if getattr(adapter, "rejected", 0):
        stats["rejected"] = adapter.rejected
    return stats


def build_record(cfg: BenchConfig, adapter: Any, training: dict[str, Any], data: EvalData,
                 examples: dict[str, list[NLIExample]], results: dict[str, Any], predictions_sha256: str,
                 predict_seconds: float, total_seconds: float, n_pairs: int) -> dict[str, Any]:
    commit, dirty = git_state()
    identity = adapter.identity()
    model = {k: identity.get(k) for k in ("id", "revision", "adapter", "weights_sha256", "label_map",
                                           "label_map_source", "max_length", "precision", "architecture",
                                           "num_parameters", "weights_format", "label_map_detail", "quantization",
                                           "precision_parity", "runtime", "remote_code")}
    model["id"] = recorded_path(model["id"]) if model["id"] and Path(model["id"]).is_dir() else model["id"]
    model["base_model"] = identity.get("base_model")
    if identity.get("prompt") is not None:  # prompted adapters only: classifier records are unchanged
        model["prompt"] = identity["prompt"]
    return {
        "schema_version": 1,
        "harness": {"version": harness.__version__, "git_commit": commit, "git_dirty": dirty},
        "model": model,
        "training": training,
        "data": {"source": data.source, "split": cfg.split, "languages": sorted(examples),
                 "files": data.files, "limit": cfg.limit,
                 "n_items": {lang: len(items) for lang, items in examples.items()},
                 "items_sha256": items_sha256(examples), "benchmark": data.benchmark},
        "seed": cfg.seed,
        "hardware": hardware(cfg.device),
        "inference": {"batch_size": cfg.batch_size, "device": cfg.device, "processes": _world(),
                      "cache": None if cfg.cache is None else _cache_stats(adapter)},
        "timing": {"total_seconds": round(total_seconds, 3), "predict_seconds": round(predict_seconds, 3),
                   "pairs_per_second": round(n_pairs / predict_seconds, 2) if predict_seconds else 0.0},
        "truncation": dict(getattr(adapter, "stats", {})),
        "results": results,
        "predictions": {"file": "predictions.jsonl.gz", "sha256": predictions_sha256},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def summary_table(record: dict[str, Any]) -> str:
    """The readable table `bench` prints at the end."""
    from tabulate import tabulate

    clean = record["results"]["clean"]
    rows = [[lang, f"{100 * s['accuracy']:.1f}", f"[{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}]", s["n"]]
            for lang, s in clean["per_language"].items()]
    macro = clean["macro"]
    rows.append(["macro", f"{100 * macro['accuracy']:.1f}", f"[{100 * macro['ci_low']:.1f}, {100 * macro['ci_high']:.1f}]", ""])
    return tabulate(rows, headers=["language", "accuracy %", "95% CI", "n"], tablefmt="github", disable_numparse=True)
