"""The fixed benchmark `xnli-robust-v1.1`: spec, lite subset, generation, manifest, verification.

A benchmark is a folder written once by `generate` and then only read:

    clean/<language>.jsonl                       the items the benchmark scores, unperturbed
    <family>/<severity>/<language>.jsonl         the kept perturbed items of one unit
    similarity/<family>/<severity>/<language>.jsonl   encoder similarity of every candidate
    manifest.json                                sha256 of every file, stats, resources, hash

Everything in it follows from the committed spec (`harness/specs/xnli-robust-v1.1.yaml`), the
data and the perturbation code, never from the machine, the number of processes or the order
in which units ran: every item's randomness comes from `derive_rng(seed, family, severity,
language, id)`, every file is serialised canonically, and the manifest holds no timings or
absolute paths.  `benchmark_hash` (the hash of the sorted file -> sha256 map of the item files)
is therefore the same for everyone who holds the same benchmark, and the spec carries the
expected value.  The similarity sidecars are verified like every file but left out of that
hash: encoder floats differ in the last bits between CPU kernels, and an item file must not
(decisions near the threshold are taken on float64 cosines, `_exact_near_threshold`).

Generation is resumable: it works in `<out>.partial/`, writes each unit file atomically and then
a journal entry for it (`.progress/`), skips units whose file still matches its journal, and
publishes the folder under its final name with one rename after the manifest is written.
"""

from __future__ import annotations

import concurrent.futures
import csv
import functools
import hashlib
import json
import math
import multiprocessing
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

from harness import LABELS, LANGUAGES, __version__
from harness.atomic import atomic_write_bytes
from harness.errors import DataError, IntegrityError
from harness.examples import NLIExample, parse_label
from harness.hashing import sha256_bytes, sha256_dir, sha256_file, sha256_json

SPEC_DIR = Path(__file__).resolve().parent / "specs"
DEFAULT_SPEC = SPEC_DIR / "xnli-robust-v1.1.yaml"
MANIFEST = "manifest.json"
PROGRESS = ".progress"
PARTIAL_SUFFIX = ".partial"
MANIFEST_FORMAT = 1
SIMILARITY_DIR = "similarity"
SIMILARITY_DECIMALS = 4
"""Similarities are rounded before the threshold is applied, so the stored value explains the
decision; values near the threshold are recomputed in float64 (`_exact_near_threshold`), so no
machine flips a keep/drop."""

Builder = Callable[..., Any]
"""`build(family, severity, language, data_root) -> Perturbation` (the registry's signature)."""
ScorerFactory = Callable[[float], Any]
"""`factory(threshold) -> object with scores(originals, perturbed) -> list[float] and identity()`
(what `attacks.similarity.SimilarityFilter` provides)."""


# --------------------------------------------------------------------------------------------
# Spec
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FamilySpec:
    """One perturbation family as the benchmark fixes it."""

    name: str
    severities: tuple[str, ...]
    languages: tuple[str, ...]
    similarity: float | None
    """Threshold of the semantic-similarity filter; None disables the filter for the family."""


@dataclass(frozen=True)
class SizeSpec:
    """`lite` (a stratified subset) or `full` (every test item)."""

    name: str
    per_language: int | None
    stratify: tuple[str, ...]


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    version: str
    seed: int
    split: str
    languages: tuple[str, ...]
    families: dict[str, FamilySpec]
    sizes: dict[str, SizeSpec]
    resources: dict[str, dict[str, Any]]
    """Keyed by path relative to the data root: sha256 (or content_sha256), source, licence."""
    expected_hashes: dict[str, str | None]
    sha256: str
    """Hash of the spec without `expected_hashes` (which is filled in after generation)."""
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.name}-v{self.version}"

    def size(self, name: str) -> SizeSpec:
        if name not in self.sizes:
            raise DataError(f"benchmark {self.id} has no size {name!r} (sizes: {', '.join(self.sizes)})")
        return self.sizes[name]


def load_spec(path: str | os.PathLike[str] | None = None) -> BenchmarkSpec:
    """Read a spec YAML file (the committed v1 spec by default)."""
    import yaml  # lazy: keeps `--help` fast

    path = Path(path) if path else DEFAULT_SPEC
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read spec ({exc})") from None
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: invalid YAML ({exc})") from None
    return parse_spec(raw, where=str(path))


def parse_spec(raw: Any, where: str = "spec") -> BenchmarkSpec:
    """Validate a spec mapping; every problem names the field, so a typo never runs silently."""
    from attacks.base import SEVERITIES

    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a mapping at the top level")
    for key in ("name", "version", "seed", "families", "sizes"):
        if key not in raw:
            raise DataError(f"{where}: missing field {key!r}")
    languages = _languages(raw.get("languages", "all"), LANGUAGES, f"{where}: languages")
    families = {}
    for name, body in (raw["families"] or {}).items():
        body = body or {}
        severities = tuple(body.get("severities", SEVERITIES))
        bad = [s for s in severities if s not in SEVERITIES]
        if bad:
            raise DataError(f"{where}: family {name!r}: unknown severities {bad} (known: {list(SEVERITIES)})")
        threshold = body.get("similarity")
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
            raise DataError(f"{where}: family {name!r}: similarity must be null or a number in [0, 1]")
        fam_langs = _languages(body.get("languages", "all"), languages, f"{where}: family {name!r} languages")
        families[name] = FamilySpec(name, severities, fam_langs,
                                    None if threshold is None else float(threshold))
    sizes = {}
    for name, body in (raw["sizes"] or {}).items():
        body = body or {}
        per = body.get("per_language")
        if per is not None and (not isinstance(per, int) or per <= 0):
            raise DataError(f"{where}: size {name!r}: per_language must be a positive integer or null")
        stratify = tuple(body.get("stratify", ()))
        bad = [s for s in stratify if s not in ("label", "genre")]
        if bad:
            raise DataError(f"{where}: size {name!r}: cannot stratify by {bad} (only label, genre)")
        sizes[name] = SizeSpec(name, per, stratify)
    resources = {}
    for entry in raw.get("resources") or []:
        if not isinstance(entry, dict) or "path" not in entry:
            raise DataError(f"{where}: every resource needs a 'path' (relative to the data root)")
        resources[str(entry["path"])] = dict(entry)
    expected = dict(raw.get("expected_hashes") or {})
    hashed = {k: v for k, v in raw.items() if k != "expected_hashes"}
    return BenchmarkSpec(
        name=str(raw["name"]), version=str(raw["version"]), seed=int(raw["seed"]),
        split=str(raw.get("split", "test")), languages=languages, families=families,
        sizes=sizes, resources=resources, expected_hashes=expected,
        sha256=sha256_json(hashed), raw=raw,
    )


def _languages(value: Any, allowed: Sequence[str], where: str) -> tuple[str, ...]:
    if value == "all":
        return tuple(allowed)
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: expected 'all' or a non-empty list of language codes")
    bad = [lang for lang in value if lang not in allowed]
    if bad:
        raise DataError(f"{where}: languages {bad} are not in {list(allowed)}")
    return tuple(lang for lang in allowed if lang in value)  # canonical XNLI order


# --------------------------------------------------------------------------------------------
# Item selection (lite)
# --------------------------------------------------------------------------------------------

def _rank(seed: int, purpose: str, item_id: str) -> bytes:
    """A seeded, order-free sort key: no global RNG, the same on every machine."""
    return hashlib.sha256(f"{seed}\x1f{purpose}\x1f{item_id}".encode("utf-8")).digest()


def select_items(examples: Sequence[NLIExample], size: SizeSpec, seed: int) -> list[str]:
    """Ids of the items of a size, in file order.

    Stratified: the quota is split over the strata (label x genre) by largest remainder, and
    each stratum takes its items with the smallest seeded rank.  Chosen once from one language
    (English) and reused in all, since XNLI rows are parallel.
    """
    if size.per_language is None or size.per_language >= len(examples):
        return [ex.id for ex in examples]
    strata: dict[tuple[str, ...], list[NLIExample]] = {}
    for ex in examples:
        key = tuple(str(ex.label) if s == "label" else str(ex.genre) for s in size.stratify)
        strata.setdefault(key, []).append(ex)
    quotas = _largest_remainder({k: len(v) for k, v in strata.items()}, size.per_language)
    chosen: set[str] = set()
    for key, members in strata.items():
        ranked = sorted(members, key=lambda ex: _rank(seed, size.name, ex.id))
        chosen.update(ex.id for ex in ranked[: quotas[key]])
    return [ex.id for ex in examples if ex.id in chosen]


def _largest_remainder(counts: Mapping[tuple[str, ...], int], total: int) -> dict[tuple[str, ...], int]:
    """Split `total` proportionally to `counts`; ties broken by stratum key, not by chance."""
    n = sum(counts.values())
    exact = {k: total * c / n for k, c in counts.items()}
    quotas = {k: min(counts[k], math.floor(v)) for k, v in exact.items()}
    order = sorted(counts, key=lambda k: (-(exact[k] - math.floor(exact[k])), k))
    left = total - sum(quotas.values())
    while left > 0:
        progressed = False
        for k in order:
            if left and quotas[k] < counts[k]:
                quotas[k] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return quotas


# --------------------------------------------------------------------------------------------
# Units and their files
# --------------------------------------------------------------------------------------------

class Unit(NamedTuple):
    """One (family, severity, language): one file, one journal entry, one task."""

    family: str
    severity: str
    language: str

    @property
    def key(self) -> str:
        return f"{self.family}/{self.severity}/{self.language}"

    @property
    def relpath(self) -> str:
        return f"{self.family}/{self.severity}/{self.language}.jsonl"

    @property
    def similarity_relpath(self) -> str:
        return f"{SIMILARITY_DIR}/{self.relpath}"

    @property
    def journal_name(self) -> str:
        return f"{self.family}__{self.severity}__{self.language}.json"


def spec_units(spec: BenchmarkSpec) -> list[Unit]:
    """Every unit of a spec, in a fixed order."""
    return [Unit(f.name, sev, lang) for f in spec.families.values()
            for sev in f.severities for lang in f.languages]


def json_line(obj: Mapping[str, Any]) -> str:
    """One JSONL record: sorted keys, compact, UTF-8 text kept exactly as produced.

    Unlike `canonical_json` the texts are not NFC-normalised: a perturbation's output is
    written byte for byte, so the benchmark scores exactly what the perturbation made.
    """
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def clean_record(ex: NLIExample) -> dict[str, Any]:
    return {"id": ex.id, "language": ex.language, "label": LABELS[ex.label], "genre": ex.genre,
            "premise": ex.premise, "hypothesis": ex.hypothesis}


def perturbed_record(orig: NLIExample, new: NLIExample) -> dict[str, Any]:
    record = clean_record(new)
    record.update(orig_premise=orig.premise, orig_hypothesis=orig.hypothesis)
    return record


def _encode_lines(records: Iterable[Mapping[str, Any]]) -> bytes:
    return "".join(json_line(r) + "\n" for r in records).encode("utf-8")


def examples_sha256(examples: Sequence[NLIExample]) -> str:
    """Content hash of the items (layout-independent: the same for .tsv, .tsv.gz or XNLI-1.0)."""
    rows = [[ex.id, ex.premise, ex.hypothesis, ex.label, ex.genre] for ex in examples]
    return sha256_bytes(json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


# --------------------------------------------------------------------------------------------
# The worker: one unit
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitTask:
    """Everything a (possibly spawned) worker needs; picklable, no open handles."""

    unit: Unit
    examples: tuple[NLIExample, ...]
    seed: int
    threshold: float | None
    data_root: str
    work_dir: str
    builder: Builder
    scorer_factory: ScorerFactory | None
    resources: dict[str, dict[str, Any]]


def run_unit(task: UnitTask) -> dict[str, Any]:
    """Perturb, filter and write one unit, then journal it; returns the journal entry.

    The journal is written after the file, both atomically: a unit is either complete (file
    and matching journal) or redone on resume.
    """
    from attacks.base import derive_rng

    started = time.perf_counter()
    unit, data_root = task.unit, Path(task.data_root)
    perturbation = task.builder(unit.family, unit.severity, unit.language, data_root)
    _check_perturbation(perturbation, unit)
    candidates, stats = _perturb_all(perturbation, task, derive_rng)
    records, sims, scorer_identity = _filter(candidates, task)
    n_dropped = len(candidates) - len(records)
    stats.update(n_dropped_similarity=n_dropped, n_kept=len(records))
    stats["coverage"] = round(len(records) / stats["n_items"], 6) if stats["n_items"] else 0.0
    cands = stats["n_items"] - stats["n_not_applicable"]
    stats["drop_rate"] = round(n_dropped / cands, 6) if cands else 0.0
    written = {unit.relpath: _encode_lines(records)}
    if sims is not None:
        written[unit.similarity_relpath] = _encode_lines(sims)
    for rel, data in written.items():
        atomic_write_bytes(Path(task.work_dir) / rel, data)
    entry = {
        "unit": unit.key,
        "files": {rel: {"sha256": sha256_bytes(d), "bytes": len(d)} for rel, d in sorted(written.items())},
        "perturbation": {"name": perturbation.name, "family": perturbation.family,
                         "version": str(perturbation.version), "severity": perturbation.severity,
                         "params": perturbation.params()},
        "resources": _resource_identities(perturbation.resource_files(), data_root, task.resources),
        "similarity_threshold": task.threshold, "similarity_encoder": scorer_identity,
        "stats": stats,
    }
    journal = Path(task.work_dir) / PROGRESS / unit.journal_name
    atomic_write_bytes(journal, json_line({**entry, "seconds": round(time.perf_counter() - started, 3)}).encode())
    return {**entry, "seconds": time.perf_counter() - started}


def _check_perturbation(p: Any, unit: Unit) -> None:
    if p.family != unit.family or p.severity != unit.severity or unit.language not in p.languages:
        raise DataError(f"{unit.key}: the registry built {p.name!r} (family {p.family!r}, severity "
                        f"{p.severity!r}, languages {sorted(p.languages)}), which does not match the unit")


def _perturb_all(p: Any, task: UnitTask, derive_rng: Callable[..., random.Random]
                 ) -> tuple[list[tuple[NLIExample, NLIExample]], dict[str, Any]]:
    """Apply the perturbation item by item with each item's own RNG."""
    unit = task.unit
    pairs, n_na, n_unchanged = [], 0, 0
    rngs = [derive_rng(task.seed, unit.family, unit.severity, unit.language, ex.id) for ex in task.examples]
    if callable(getattr(p, "perturb_batch", None)):  # e.g. MT: one batched call per unit
        outputs = list(p.perturb_batch(list(task.examples), rngs))
    else:
        outputs = [p.perturb(ex, rng) for ex, rng in zip(task.examples, rngs)]
    if len(outputs) != len(task.examples):
        raise DataError(f"{unit.key}: perturbation {p.name!r} returned {len(outputs)} results for {len(task.examples)} items")
    for ex, new in zip(task.examples, outputs):
        if not isinstance(new, NLIExample):
            n_na += 1
            continue
        if (new.id, new.label, new.language) != (ex.id, ex.label, ex.language):
            raise DataError(f"{unit.key}: perturbation {p.name!r} changed the id, label or language of item {ex.id}")
        if (new.premise, new.hypothesis) == (ex.premise, ex.hypothesis):
            n_unchanged += 1  # an edit that changes nothing is no test of robustness
            continue
        pairs.append((ex, new))
    stats = {"n_items": len(task.examples), "n_perturbed": len(pairs),
             "n_not_applicable": n_na + n_unchanged, "n_unchanged": n_unchanged}
    return pairs, stats


def _filter(pairs: list[tuple[NLIExample, NLIExample]], task: UnitTask
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any] | None]:
    """Semantic-similarity filter: min over the changed sentences, rounded, vs the threshold.

    Returns the kept records, the similarity of every candidate (kept or not, for audits and
    threshold calibration) and the encoder's identity.
    """
    if task.threshold is None or task.scorer_factory is None:
        return [perturbed_record(o, n) for o, n in pairs], None, None
    scorer = _scorer(task.scorer_factory, task.threshold)
    raw = _pair_similarities(scorer, pairs, task)
    sims = [round(c, SIMILARITY_DECIMALS) for c in _exact_near_threshold(scorer, pairs, raw, task.threshold)]
    records, table = [], []
    for (orig, new), sim in zip(pairs, sims):
        kept = sim >= task.threshold
        table.append({"id": orig.id, "similarity": sim, "kept": kept})
        if kept:
            records.append(perturbed_record(orig, new))
    return records, table, _encoder_identity(scorer)


def _encoder_identity(scorer: Any) -> dict[str, Any]:
    """The encoder's identity without the threshold (recorded per family, not per encoder)."""
    return {k: v for k, v in scorer.identity().items() if k != "threshold"}


def _changed_sides(pairs: list[tuple[NLIExample, NLIExample]]) -> list[tuple[int, str, str, str]]:
    """(item, side, original, perturbed) for every sentence an edit changed."""
    return [(i, side, a, b) for i, (orig, new) in enumerate(pairs)
            for side, a, b in (("p", orig.premise, new.premise), ("h", orig.hypothesis, new.hypothesis))
            if a != b]


def _pair_similarities(scorer: Any, pairs: list[tuple[NLIExample, NLIExample]], task: UnitTask) -> list[float]:
    """Unrounded min cosine per item; one batched encoder call per unit (never per process)."""
    if _has_encoder(scorer):
        return _encoder_similarities(scorer.encoder, pairs, task)
    changed = _changed_sides(pairs)
    sims = [1.0] * len(pairs)
    scores = list(scorer.scores([c[2] for c in changed], [c[3] for c in changed])) if changed else []
    for (i, *_), score in zip(changed, scores):
        sims[i] = float(score) if math.isnan(float(score)) else min(sims[i], float(score))
    return sims


def _exact_near_threshold(scorer: Any, pairs: list[tuple[NLIExample, NLIExample]], raw: list[float],
                          threshold: float) -> list[float]:
    """Recompute with the scorer's exact path every cosine whose decision a machine could flip.

    Why: the benchmark hash must not depend on the CPU's instruction set, the thread count or
    the batch a sentence was encoded in.  Those move a float32 cosine by about 1e-6 (at most
    2.4e-7 measured between an H200 and this CPU), which changes a keep/drop decision only
    next to the boundary `threshold - 0.5e-4` (similarities are rounded to 4 decimals).  Every
    cosine within `EXACT_MARGIN` of it, or unknown (NaN), is recomputed in float64, one text
    at a time (`SimilarityFilter.exact_scores`), and that value decides.  A scorer without an
    exact path (test doubles) keeps its own values.
    """
    exact = getattr(scorer, "exact_scores", None)
    boundary = threshold - 0.5 * 10 ** -SIMILARITY_DECIMALS
    redo = {i for i, c in enumerate(raw) if math.isnan(c) or abs(c - boundary) < EXACT_MARGIN}
    if not redo or not callable(exact):
        return list(raw)
    changed = [c for c in _changed_sides(pairs) if c[0] in redo]
    scores = exact([c[2] for c in changed], [c[3] for c in changed])
    out = list(raw)
    for i in redo:
        out[i] = 1.0
    for (i, *_), score in zip(changed, scores):
        out[i] = min(out[i], float(score))
    return out


def _has_encoder(scorer: Any) -> bool:
    return callable(getattr(getattr(scorer, "encoder", None), "encode", None))


def _encoder_similarities(encoder: Any, pairs: list[tuple[NLIExample, NLIExample]], task: UnitTask) -> list[float]:
    """Fast path for an embedding encoder: the clean texts of a language are embedded once.

    Every unit of a language shares the same originals, so they are embedded in one call per
    language (always the same call, whichever process or order), and a unit embeds only its
    changed sentences: about half the encoder work of pairwise scoring.  Near-threshold values
    are recomputed exactly afterwards (`_exact_near_threshold`).
    """
    import numpy as np

    clean = _clean_vectors(encoder, task.examples)
    changed = _changed_sides(pairs)
    vectors = encoder.encode([c[3] for c in changed]) if changed else np.zeros((0, 0))
    sims = [1.0] * len(pairs)
    for (i, _, original, _), vec in zip(changed, vectors):
        sims[i] = min(sims[i], float(np.clip(np.dot(clean[original], vec), -1.0, 1.0)))
    return sims


_CLEAN_VECTORS: dict[tuple[int, str], dict[str, Any]] = {}


def _clean_vectors(encoder: Any, examples: Sequence[NLIExample]) -> dict[str, Any]:
    """text -> vector for all premises and hypotheses of a unit's items (cached per process)."""
    texts = list(dict.fromkeys(t for ex in examples for t in (ex.premise, ex.hypothesis)))
    key = (id(encoder), sha256_json(texts))
    if key not in _CLEAN_VECTORS:
        if len(_CLEAN_VECTORS) >= 3:  # tasks run language by language; bounds memory on full
            _CLEAN_VECTORS.pop(next(iter(_CLEAN_VECTORS)))
        _CLEAN_VECTORS[key] = dict(zip(texts, encoder.encode(texts)))
    return _CLEAN_VECTORS[key]


_SCORERS: dict[tuple[Any, float], Any] = {}


def _scorer(factory: ScorerFactory, threshold: float) -> Any:
    """One encoder per process and threshold: loading it costs seconds, scoring milliseconds."""
    key = (factory, threshold)
    if key not in _SCORERS:
        _SCORERS[key] = factory(threshold)
    return _SCORERS[key]


def _resource_identities(files: Mapping[str, str], data_root: Path,
                         spec_resources: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """sha256 of every file a perturbation depends on, checked against the spec's pins."""
    out = {}
    for name, raw_path in sorted(files.items()):
        path = Path(raw_path)
        digest = _cached_hash(str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
        shown = _display_path(path, data_root)
        pinned = spec_resources.get(shown, {}).get("sha256")
        if pinned and pinned != digest:
            raise IntegrityError(f"resource {shown} has sha256 {digest}, but the spec pins {pinned}: "
                                 "this data root would not give the benchmark the spec describes")
        out[name] = {"path": shown, "sha256": digest}
    return out


@functools.lru_cache(maxsize=256)
def _cached_hash(path: str, mtime_ns: int, size: int) -> str:
    p = Path(path)
    return sha256_dir(p) if p.is_dir() else sha256_file(p)


def _display_path(path: Path, data_root: Path) -> str:
    """Relative to the data root when inside it; otherwise only the name (no machine paths)."""
    try:
        return path.resolve().relative_to(data_root.resolve()).as_posix()
    except ValueError:
        return f"<external>/{path.name}"


def _init_worker(threads: int) -> None:
    """Give each worker an equal share of the cores before torch is (lazily) imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------

@dataclass
class GenerateReport:
    """What a generation did; timings live here, never in the manifest."""

    out_dir: Path
    benchmark_hash: str
    units_run: list[str]
    units_reused: list[str]
    seconds: dict[str, float]
    manifest: dict[str, Any]
    verified: VerifyReport
    """The final verification of the published folder (callers need not verify again)."""


def _default_builder(family: str, severity: str, language: str, data_root: Path) -> Any:
    from attacks.registry import build

    return build(family, severity, language, data_root)


def _default_scorer_factory(threshold: float) -> Any:
    from attacks.similarity import SimilarityFilter

    return SimilarityFilter(threshold)


EXACT_MARGIN = 2e-4
"""Cosines this close to the threshold's rounding boundary (or unknown) are recomputed in
float64.  Kernel, thread and batch differences move a float32 cosine by ~1e-6 (an H200 against
this CPU: at most 2.4e-7 over 200 pairs), so 2e-4 is two orders of magnitude of headroom; it
catches about 1 candidate in 4,000 (249 of 955,215 in the full benchmark)."""


class CpuCheckedFilter:
    """The e5 filter encoding on an accelerator, with decisions no machine changes.

    Why: the benchmark hash must not depend on the machine.  The accelerator's float32 cosines
    decide every item far from the threshold; `generate` recomputes those near it (and any the
    fast scorer could not give, NaN) through `exact_scores`, which runs the CPU encoder in
    float64 one text at a time -- the same path a CPU-only run takes for the same items.  The
    similarity side files, outside the benchmark hash, may differ in their last rounded digit.
    """

    def __init__(self, threshold: float, device: str, fast: Any = None, cpu: Any = None) -> None:
        from attacks.similarity import SentenceEncoder, SimilarityFilter

        self.threshold = float(threshold)
        self._fast = fast or SimilarityFilter(threshold, SentenceEncoder(batch_size=256, device=device))
        self._cpu = cpu or SimilarityFilter(threshold)
        self.rechecked = 0

    def scores(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[float]:
        return [float(c) for c in self._fast.scores(originals, perturbed)]

    def exact_scores(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[float]:
        self.rechecked += len(originals)
        return list(self._cpu.exact_scores(originals, perturbed))

    def identity(self) -> dict[str, Any]:
        return self._cpu.identity()  # the same weights: where they ran is not part of the benchmark


@dataclass(frozen=True)
class DeviceScorerFactory:
    """Picklable, hashable factory (one encoder per worker process) for `generate(device=...)`."""

    device: str

    def __call__(self, threshold: float) -> Any:
        return CpuCheckedFilter(threshold, self.device)


def generate(out_dir: str | os.PathLike[str], *, size: str = "lite",
             spec: BenchmarkSpec | None = None, data_root: str | os.PathLike[str] | None = None,
             processes: int = 1, builder: Builder | None = None,
             scorer_factory: ScorerFactory | None = None, families: Sequence[str] | None = None,
             progress: bool = True, device: str = "cpu") -> GenerateReport:
    """Write (or finish writing) the benchmark of `spec` at `size` into `out_dir`.

    `builder` and `scorer_factory` default to the perturbation registry and the e5 similarity
    filter; they must be picklable (module-level) when `processes > 1`, and a script calling
    this with `processes > 1` needs the usual `if __name__ == "__main__":` guard (workers are
    spawned, not forked: forking a process that holds torch threads can deadlock).  `families`
    restricts the run to some families (a partial benchmark: its hash will not match the spec's).
    `device` (e.g. "cuda") runs the similarity encoder there; near-threshold cosines are
    recomputed in float64 on the CPU as in any run (`CpuCheckedFilter`), so the files and hash
    are those of a CPU run.
    """
    from harness.paths import data_root as resolve_root

    spec = spec or load_spec()
    size_spec = spec.size(size)
    root = resolve_root(data_root)
    out = Path(out_dir)
    if families is not None:
        unknown = [f for f in families if f not in spec.families]
        if unknown:
            raise DataError(f"families {unknown} are not in spec {spec.id} ({', '.join(spec.families)})")
        spec = _restrict(spec, families)
    if (out / MANIFEST).is_file():
        report = verify(out, spec=spec)
        return GenerateReport(out, report.benchmark_hash, [], [], {}, report.manifest, report)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} exists, is not empty and holds no {MANIFEST}: choose a new folder")
    work = out.with_name(out.name + PARTIAL_SUFFIX)
    run_id = _prepare_work_dir(work, spec, size_spec, root)
    if not (work / MANIFEST).is_file():
        data, ids = _load_items(spec, size_spec, root)
        _write_clean(work, data)
        journals, ran, reused, seconds = _run_units(
            spec, data, work, root, processes, builder or _default_builder,
            scorer_factory or (_default_scorer_factory if device == "cpu" else DeviceScorerFactory(device)), progress)
        manifest = build_manifest(spec, size_spec, work, data, ids, journals, run_id)
        atomic_write_bytes(work / MANIFEST, manifest_bytes(manifest))
    else:
        ran, reused, seconds = [], [], {}
    shutil.rmtree(work / PROGRESS, ignore_errors=True)
    _remove_stale_temps(work)
    if out.exists():
        out.rmdir()  # empty, checked above
    os.replace(work, out)
    report = verify(out, spec=spec)
    return GenerateReport(out, report.benchmark_hash, ran, reused, seconds, report.manifest, report)


def _restrict(spec: BenchmarkSpec, families: Sequence[str]) -> BenchmarkSpec:
    raw = dict(spec.raw)
    raw["families"] = {k: v for k, v in (spec.raw.get("families") or {}).items() if k in families}
    raw["expected_hashes"] = {}
    raw["partial_of"] = spec.sha256
    return parse_spec(raw, where=f"{spec.id} restricted to {list(families)}")


def _prepare_work_dir(work: Path, spec: BenchmarkSpec, size: SizeSpec, root: Path) -> dict[str, Any]:
    """Create or reopen the work folder; refuse to resume a different benchmark into it."""
    run_id = {"spec_sha256": spec.sha256, "size": size.name, "harness_version": __version__}
    marker = work / PROGRESS / "run.json"
    if marker.is_file():
        found = json.loads(marker.read_text(encoding="utf-8"))
        if found != run_id:
            raise DataError(f"{work} holds an unfinished run of a different spec, size or harness "
                            f"version ({found}); remove it or choose another output folder")
    else:
        if work.exists() and any(p.name != PROGRESS for p in work.iterdir()):
            raise DataError(f"{work} exists without a run marker: remove it or choose another folder")
        atomic_write_bytes(marker, json_line(run_id).encode("utf-8"))
    _remove_stale_temps(work)
    return run_id


def _remove_stale_temps(folder: Path) -> None:
    """Temporary files of writes that a kill interrupted (atomic writes name them `.*.tmp`)."""
    for path in folder.rglob(".*.tmp"):
        if path.is_file():
            path.unlink()


def _load_items(spec: BenchmarkSpec, size: SizeSpec, root: Path
                ) -> tuple[dict[str, list[NLIExample]], list[str]]:
    """The selected items of every language, in file order, checked against the spec's pins."""
    from harness.data import check_parallel, load_local

    languages = list(dict.fromkeys(["en", *spec.languages]))
    full = load_local(root / "xnli", spec.split, languages)
    check_parallel(full)
    for lang, examples in full.items():
        _check_content_pin(spec, lang, examples)
    ids = select_items(full["en"], size, spec.seed)
    wanted = set(ids)
    data = {lang: [ex for ex in full[lang] if ex.id in wanted] for lang in spec.languages}
    return data, ids


def _check_content_pin(spec: BenchmarkSpec, language: str, examples: list[NLIExample]) -> None:
    path = f"xnli/{spec.split}-{language}.tsv.gz"
    pinned = spec.resources.get(path, {}).get("content_sha256")
    if pinned and pinned != examples_sha256(examples):
        raise IntegrityError(f"the {spec.split} set of {language!r} differs from the one the spec pins "
                             f"({path}); the generated benchmark would not be {spec.id}")


def _write_clean(work: Path, data: Mapping[str, list[NLIExample]]) -> None:
    for lang, examples in data.items():
        target = work / "clean" / f"{lang}.jsonl"
        payload = _encode_lines(clean_record(ex) for ex in examples)
        if not target.is_file() or target.read_bytes() != payload:
            atomic_write_bytes(target, payload)


def _journal_ok(work: Path, unit: Unit) -> dict[str, Any] | None:
    """The journal entry of a finished unit, if its file is still exactly what was journaled."""
    journal = work / PROGRESS / unit.journal_name
    if not journal.is_file():
        return None
    try:
        entry = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    files = entry.get("files") or {}
    if entry.get("unit") != unit.key or unit.relpath not in files:
        return None
    for rel, meta in files.items():
        if not (work / rel).is_file() or sha256_file(work / rel) != meta.get("sha256"):
            return None
    entry.pop("seconds", None)  # timings never reach the manifest
    return entry


def _run_units(spec: BenchmarkSpec, data: Mapping[str, list[NLIExample]], work: Path, root: Path,
               processes: int, builder: Builder, scorer_factory: ScorerFactory, progress: bool
               ) -> tuple[dict[str, dict[str, Any]], list[str], list[str], dict[str, float]]:
    journals: dict[str, dict[str, Any]] = {}
    reused, tasks = [], []
    for unit in sorted(spec_units(spec), key=lambda u: u.language):  # language-major: cache locality
        entry = _journal_ok(work, unit)
        if entry is not None:
            journals[unit.key] = entry
            reused.append(unit.key)
            continue
        threshold = spec.families[unit.family].similarity
        tasks.append(UnitTask(unit, tuple(data[unit.language]), spec.seed, threshold, str(root),
                              str(work), builder, scorer_factory, spec.resources))
    seconds: dict[str, float] = {}
    for entry in _execute(tasks, processes, progress, len(reused)):
        seconds[entry["unit"]] = entry.pop("seconds")
        journals[entry["unit"]] = entry
    return journals, [t.unit.key for t in tasks], reused, seconds


def _execute(tasks: list[UnitTask], processes: int, progress: bool, done: int) -> Iterator[dict[str, Any]]:
    """Run tasks in this process (processes=1) or in a spawn pool; stop at the first failure."""
    from tqdm import tqdm

    bar = tqdm(total=len(tasks) + done, initial=done, unit="unit", disable=not progress,
               desc="generate", file=sys.stderr)
    try:
        if processes <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield _labelled(run_unit, task)
                bar.update()
            return
        threads = max(1, (os.cpu_count() or 1) // processes)
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=ctx, initializer=_init_worker,
                                                    initargs=(threads,)) as pool:
            futures = {pool.submit(run_unit, t): t for t in tasks}
            try:
                for future in concurrent.futures.as_completed(futures):
                    yield _result(future, futures[future])
                    bar.update()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()


def _labelled(fn: Callable[[UnitTask], dict[str, Any]], task: UnitTask) -> dict[str, Any]:
    try:
        return fn(task)
    except Exception as exc:
        raise _unit_error(exc, task) from exc


def _result(future: concurrent.futures.Future, task: UnitTask) -> dict[str, Any]:
    try:
        return future.result()
    except Exception as exc:
        raise _unit_error(exc, task) from exc


def _unit_error(exc: Exception, task: UnitTask) -> Exception:
    """Name the unit in the error; keep the harness error type so the CLI prints it cleanly."""
    message = f"unit {task.unit.key} failed: {exc}"
    if isinstance(exc, (DataError, IntegrityError)):
        return type(exc)(message)
    return RuntimeError(message)


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------

def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under `folder` except the manifest, by posix relative path."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != MANIFEST:
            out[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Pretty for humans, but with sorted keys: resumed and fresh runs give identical bytes."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def benchmark_hash(files: Mapping[str, Mapping[str, Any]]) -> str:
    """The benchmark's identity: canonical JSON of the sorted path -> sha256 map of item files.

    Similarity sidecars are excluded (machine-sensitive floats); `verify` still checks them.
    """
    return sha256_json({rel: entry["sha256"] for rel, entry in files.items()
                        if not rel.startswith(SIMILARITY_DIR + "/")})


def build_manifest(spec: BenchmarkSpec, size: SizeSpec, work: Path, data: Mapping[str, list[NLIExample]],
                   ids: list[str], journals: Mapping[str, dict[str, Any]], run_id: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """Everything the numbers depend on, and nothing machine-specific (no times, no paths)."""
    public = {k: v for k, v in spec.raw.items() if k != "expected_hashes"}
    files = {rel: e for rel, e in file_table(work).items() if not rel.startswith(PROGRESS + "/")}
    units = {key: journals[key] for key in sorted(journals)}
    return {
        "format": MANIFEST_FORMAT,
        "benchmark": {"name": spec.name, "version": spec.version, "id": spec.id, "size": size.name},
        "spec_sha256": spec.sha256,
        "harness_version": run_id["harness_version"],
        "seed": spec.seed,
        "selection": {"per_language": size.per_language, "stratify": list(size.stratify),
                      "n_items": len(ids), "ids_sha256": sha256_json(ids),
                      "label_counts": _counts(data, "label"), "genre_counts": _counts(data, "genre")},
        "data": {lang: {"n_items": len(exs), "content_sha256": examples_sha256(exs)}
                 for lang, exs in data.items()},
        "families": _family_summary(spec, units),
        "similarity_encoder": _one_encoder(units),
        "units": units,
        "spec": public,
        "files": files,
        "benchmark_hash": benchmark_hash(files),
    }


def _counts(data: Mapping[str, list[NLIExample]], attr: str) -> dict[str, int]:
    first = next(iter(data.values()), [])
    out: dict[str, int] = {}
    for ex in first:
        key = LABELS[ex.label] if attr == "label" else str(ex.genre)
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _family_summary(spec: BenchmarkSpec, units: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Threshold, drop rate and coverage per family (and per severity) for the manifest."""
    out = {}
    for fam in spec.families.values():
        rows = [u for u in units.values() if u["unit"].startswith(fam.name + "/")]
        out[fam.name] = {"similarity_threshold": fam.similarity, "languages": list(fam.languages),
                         "severities": list(fam.severities), **_rates(rows),
                         "by_severity": {sev: _rates([u for u in rows if u["unit"].split("/")[1] == sev])
                                         for sev in fam.severities}}
    return out


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    items = sum(r["stats"]["n_items"] for r in rows)
    kept = sum(r["stats"]["n_kept"] for r in rows)
    dropped = sum(r["stats"]["n_dropped_similarity"] for r in rows)
    candidates = sum(r["stats"]["n_perturbed"] for r in rows)
    return {"n_items": items, "n_kept": kept, "n_dropped_similarity": dropped,
            "coverage": round(kept / items, 6) if items else 0.0,
            "drop_rate": round(dropped / candidates, 6) if candidates else 0.0}


def _one_encoder(units: Mapping[str, dict[str, Any]]) -> Any:
    identities = {json_line(u["similarity_encoder"]) for u in units.values() if u.get("similarity_encoder")}
    if len(identities) > 1:
        raise IntegrityError(f"units were filtered with different similarity encoders: {sorted(identities)}")
    return json.loads(identities.pop()) if identities else None


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------

@dataclass
class VerifyReport:
    """Outcome of a successful verification (a failed one raises IntegrityError)."""

    root: Path
    benchmark_hash: str
    size: str
    n_files: int
    expected_hash: str | None
    matches_spec: bool | None
    """True: the spec's expected hash matches; None: the spec pins no hash for this benchmark."""
    notes: list[str]
    manifest: dict[str, Any] = field(repr=False)


def read_manifest(root: Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        partial = Path(root).with_name(Path(root).name + PARTIAL_SUFFIX)
        hint = f" ({partial} holds an unfinished generation: rerun generate)" if partial.exists() else ""
        raise IntegrityError(f"{root}: no {MANIFEST}; not a finished benchmark{hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise IntegrityError(f"{path}: not a manifest of format {MANIFEST_FORMAT}")
    return manifest


def verify(root: str | os.PathLike[str], spec: BenchmarkSpec | None = None) -> VerifyReport:
    """Recompute every hash; raise IntegrityError listing every mismatch, extra or missing file.

    Also compares the benchmark hash with the one the spec expects for this size, which is what
    proves two people hold the same benchmark (a consistent but altered folder fails here).
    """
    root = Path(root)
    manifest = read_manifest(root)
    problems = _file_problems(root, manifest.get("files") or {})
    recorded = manifest.get("benchmark_hash")
    actual = benchmark_hash(manifest.get("files") or {})
    if recorded != actual:
        problems.append(f"benchmark_hash in the manifest is {recorded}, but its file table hashes to {actual}")
    spec = spec or spec_for(manifest)
    expected, matches, notes = _spec_expectation(manifest, spec, actual)
    if matches is False:
        problems.append(f"benchmark hash {actual} differs from the hash spec {spec.id} expects "
                        f"for {manifest['benchmark'].get('size')}: {expected}")
        problems.extend(_pin_diagnosis(manifest, spec))
    if problems:
        listing = "\n  ".join(problems[:50]) + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
        raise IntegrityError(f"{root}: benchmark verification failed ({len(problems)} problems):\n  {listing}")
    return VerifyReport(root, actual, manifest["benchmark"].get("size", "?"), len(manifest["files"]),
                        expected, matches, notes, manifest)


def committed_specs() -> dict[tuple[str, str], Path]:
    """(name, version) -> path of every spec committed under `harness/specs`."""
    import yaml

    out = {}
    for path in sorted(SPEC_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and "name" in raw and "version" in raw:
            out[(str(raw["name"]), str(raw["version"]))] = path
    return out


def spec_for(manifest: Mapping[str, Any]) -> BenchmarkSpec:
    """The committed spec a manifest names (a v1 folder verifies against v1), else the default."""
    bench = manifest.get("benchmark") or {}
    path = committed_specs().get((str(bench.get("name")), str(bench.get("version"))))
    return load_spec(path)


def pinned_files_path(spec: BenchmarkSpec, size: str) -> Path:
    """`harness/specs/<spec id>-<size>.files.json`: the sha256 of every item file of a pin."""
    return SPEC_DIR / f"{spec.id}-{size}.files.json"


def read_pinned_files(spec: BenchmarkSpec, size: str) -> dict[str, Any] | None:
    path = pinned_files_path(spec, size)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_pinned_files(manifest: Mapping[str, Any], out: Path, note: str) -> None:
    """The per-file pin of a generated benchmark: hashes and engine identities, never text."""
    files = {rel: e["sha256"] for rel, e in sorted(manifest["files"].items())
             if not rel.startswith(SIMILARITY_DIR + "/")}
    engines = {key: _unit_engines(unit) for key, unit in sorted(manifest["units"].items())}
    pin = {"benchmark": manifest["benchmark"]["id"], "size": manifest["benchmark"]["size"],
           "benchmark_hash": manifest["benchmark_hash"], "note": note, "files": files,
           "similarity_encoder": manifest.get("similarity_encoder"),
           "engines": {k: v for k, v in engines.items() if v}}
    atomic_write_bytes(out, (json.dumps(pin, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))


def _unit_engines(unit: Mapping[str, Any]) -> dict[str, str]:
    """engine name -> version, for the engines a unit's perturbation ran (MT hops)."""
    hops = ((unit.get("perturbation") or {}).get("params") or {}).get("hops") or []
    return {h["engine"]: h["engine_version"] for h in hops if "engine" in h and "engine_version" in h}


def _pin_diagnosis(manifest: Mapping[str, Any], spec: BenchmarkSpec, limit: int = 5) -> list[str]:
    """Which files differ from the pin, the likely causes, and what to do."""
    size = str((manifest.get("benchmark") or {}).get("size"))
    pin = read_pinned_files(spec, size)
    lines = []
    if pin is not None:
        ours = {rel: e.get("sha256") for rel, e in (manifest.get("files") or {}).items()
                if not rel.startswith(SIMILARITY_DIR + "/")}
        differ = sorted(rel for rel in set(ours) | set(pin["files"]) if ours.get(rel) != pin["files"].get(rel))
        shown = ", ".join(differ[:limit]) + (f" and {len(differ) - limit} more" if len(differ) > limit else "")
        lines.append(f"{len(differ)} of {len(pin['files'])} files differ from the pin "
                     f"({pinned_files_path(spec, size).name}): {shown}")
        lines.extend(_engine_causes(manifest, pin, differ))
        if pin.get("similarity_encoder") and manifest.get("similarity_encoder") != pin.get("similarity_encoder"):
            lines.append("likely cause: the similarity encoder's identity differs from the pin's "
                         f"(here {json.dumps(manifest.get('similarity_encoder'), sort_keys=True)})")
    lines.append("what to do: regenerate on this machine after `make system-deps` (the pinned engine "
                 "versions), with a cold translation cache if in doubt; or score it anyway with "
                 "`xnli-robust bench --unverified` (the record then says it is unverified)")
    return lines


def _engine_causes(manifest: Mapping[str, Any], pin: Mapping[str, Any], differ: Sequence[str]) -> list[str]:
    units = manifest.get("units") or {}
    causes = []
    for rel in differ:
        key = rel[:-len(".jsonl")] if rel.endswith(".jsonl") else rel
        here, pinned = _unit_engines(units.get(key) or {}), (pin.get("engines") or {}).get(key) or {}
        for engine in sorted(set(here) | set(pinned)):
            if here.get(engine) != pinned.get(engine):
                causes.append(f"likely cause for {rel}: engine {engine} is {here.get(engine)!r} here, "
                              f"the pin was made with {pinned.get(engine)!r}")
    for engine, version in sorted(_machine_engines(pin).items()):
        pinned_versions = {v.get(engine) for v in (pin.get("engines") or {}).values() if engine in v}
        if version not in pinned_versions:
            causes.append(f"likely cause: this machine's {engine} is {version!r}; the pin used "
                          f"{', '.join(sorted(map(repr, pinned_versions)))}")
    return sorted(set(causes))[:5]


def _machine_engines(pin: Mapping[str, Any]) -> dict[str, str]:
    """The version of each engine the pin used, as installed on this machine (where loadable)."""
    from attacks.translation import create_engine

    names = sorted({e for v in (pin.get("engines") or {}).values() for e in v} - {"precomputed"})
    out = {}
    for name in names:
        try:
            out[name] = create_engine(name).version
        except Exception as exc:  # noqa: BLE001 - a missing engine is itself the likely cause
            out[name] = f"unavailable ({exc})"
    return out


def _file_problems(root: Path, files: Mapping[str, Mapping[str, Any]]) -> list[str]:
    problems = []
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    for rel in sorted(present - set(files)):
        problems.append(f"{rel}: present but not in the manifest")
    for rel, entry in sorted(files.items()):
        if rel not in present:
            problems.append(f"{rel}: listed in the manifest but missing")
            continue
        digest = sha256_file(root / rel)
        if digest != entry.get("sha256"):
            problems.append(f"{rel}: sha256 {digest} != manifest {entry.get('sha256')}")
        elif (root / rel).stat().st_size != entry.get("bytes"):
            problems.append(f"{rel}: size differs from the manifest")
    return problems


def _spec_expectation(manifest: Mapping[str, Any], spec: BenchmarkSpec, actual: str
                      ) -> tuple[str | None, bool | None, list[str]]:
    bench = manifest.get("benchmark") or {}
    notes = []
    if (bench.get("name"), bench.get("version")) != (spec.name, spec.version):
        return None, None, [f"benchmark {bench.get('id')} is not {spec.id}: no expected hash to compare"]
    if manifest.get("spec_sha256") != spec.sha256:
        notes.append("generated from a spec that differs from the committed one (spec_sha256)")
    expected = spec.expected_hashes.get(bench.get("size"))
    if not expected:
        notes.append(f"spec {spec.id} pins no hash for size {bench.get('size')!r}: checked internal consistency only")
        return None, None, notes
    return expected, expected == actual, notes


# --------------------------------------------------------------------------------------------
# Reading a benchmark (for `bench` and `audit`)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PerturbedItem:
    """A perturbed example with the original it came from."""

    example: NLIExample
    original: NLIExample
    similarity: float | None


@dataclass
class Benchmark:
    """A verified (or knowingly unverified) benchmark folder; files are read on demand."""

    root: Path
    manifest: dict[str, Any]
    verified: bool
    report: VerifyReport | None = None

    @property
    def benchmark_hash(self) -> str:
        return self.manifest["benchmark_hash"]

    @property
    def id(self) -> str:
        return f"{self.manifest['benchmark']['id']}-{self.manifest['benchmark']['size']}"

    @property
    def languages(self) -> list[str]:
        return list(self.manifest["data"])

    def units(self) -> list[Unit]:
        return [Unit(*key.split("/")) for key in self.manifest["units"]]

    def clean(self, language: str) -> list[NLIExample]:
        return [_example(r) for r in self._records(f"clean/{language}.jsonl")]

    def perturbed(self, family: str, severity: str, language: str) -> list[PerturbedItem]:
        unit = Unit(family, severity, language)
        sims = {}
        if unit.similarity_relpath in self.manifest["files"]:
            sims = {r["id"]: r["similarity"] for r in self._records(unit.similarity_relpath)}
        return [_perturbed_item(r, sims.get(r["id"])) for r in self._records(unit.relpath)]

    def _records(self, rel: str) -> list[dict[str, Any]]:
        if rel not in self.manifest["files"]:
            raise DataError(f"{self.root}: benchmark has no file {rel}")
        with open(self.root / rel, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def _example(r: Mapping[str, Any], prefix: str = "") -> NLIExample:
    label = parse_label(str(r["label"]))
    if label is None:
        raise DataError(f"benchmark item {r.get('id')}: unknown label {r['label']!r}")
    return NLIExample(r["id"], r["language"], r[prefix + "premise"], r[prefix + "hypothesis"], label, r.get("genre"))


def _perturbed_item(r: Mapping[str, Any], similarity: float | None) -> PerturbedItem:
    return PerturbedItem(_example(r), _example(r, "orig_"), similarity)


def load_benchmark(root: str | os.PathLike[str], verify_files: bool = True,
                   spec: BenchmarkSpec | None = None) -> Benchmark:
    """Open a benchmark; verification (every hash) is on unless the caller opts out explicitly."""
    root = Path(root)
    if verify_files:
        report = verify(root, spec=spec)
        return Benchmark(root, report.manifest, True, report)
    return Benchmark(root, read_manifest(root), False)


# --------------------------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------------------------

AUDIT_COLUMNS = ("family", "severity", "language", "id", "label", "similarity",
                 "orig_premise", "premise", "orig_hypothesis", "hypothesis",
                 "label_preserved", "fluent", "notes")
"""The last three columns are left empty for the human reviewer."""


def audit(root: str | os.PathLike[str], out_csv: str | os.PathLike[str], per_cell: int = 20,
          seed: int = 0, verify_files: bool = True, spec: BenchmarkSpec | None = None) -> int:
    """Export a seeded random sample per (family, language), original beside perturbed.

    UTF-8 with a BOM so spreadsheet programs show Thai, Hindi or Arabic correctly; returns
    the number of rows written.
    """
    bench = load_benchmark(root, verify_files=verify_files, spec=spec)
    cells: dict[tuple[str, str], list[tuple[str, PerturbedItem]]] = {}
    for unit in bench.units():
        items = bench.perturbed(*unit)
        cells.setdefault((unit.family, unit.language), []).extend((unit.severity, it) for it in items)
    rows = []
    for (family, language), items in sorted(cells.items()):
        ranked = sorted(items, key=lambda s: _rank(seed, f"audit\x1f{family}\x1f{s[0]}", s[1].example.id))
        for severity, item in ranked[:per_cell]:
            ex, orig = item.example, item.original
            rows.append([family, severity, language, ex.id, ex.label_name,
                         "" if item.similarity is None else f"{item.similarity:.4f}",
                         orig.premise, ex.premise, orig.hypothesis, ex.hypothesis, "", "", ""])
    _write_csv(Path(out_csv), rows)
    return len(rows)


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    import io

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8-sig"))
