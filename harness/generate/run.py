"""`generate`: write (or finish writing) a benchmark folder from its spec.

Generation is resumable: it works in `<out>.partial/`, writes each unit file atomically and then
a journal entry for it (`.progress/`), skips units whose file still matches its journal, and
publishes the folder under its final name with one rename after the manifest is written.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from harness import __version__
from harness.core.atomic import atomic_write_bytes
from harness.core.errors import DataError, IntegrityError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_file
from harness.data.benchmark import (
    MANIFEST,
    PARTIAL_SUFFIX,
    PROGRESS,
    VerifyReport,
    _encode_lines,
    clean_record,
    examples_sha256,
    json_line,
    manifest_bytes,
    verify,
)
from harness.data.spec import (
    BenchmarkSpec,
    SizeSpec,
    Unit,
    check_families,
    load_spec,
    parse_spec,
    spec_units,
)
from harness.generate.manifest import build_manifest
from harness.generate.select import select_items
from harness.generate.similarity import DeviceScorerFactory, _default_scorer_factory
from harness.generate.task import Builder, ScorerFactory, UnitTask
from harness.generate.worker import _init_worker, run_unit

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


def _default_builder(family: str, severity: str, language: str, data_root: Path, **params: Any) -> Any:
    from attacks.registry import build

    return build(family, severity, language, data_root, **params)


def generate(out_dir: str | os.PathLike[str], *, size: str = "lite",
             spec: BenchmarkSpec | None = None, data_root: str | os.PathLike[str] | None = None,
             processes: int = 1, builder: Builder | None = None,
             scorer_factory: ScorerFactory | None = None, families: Sequence[str] | None = None,
             progress: bool = True, device: str = "cpu",
             items: Mapping[str, Sequence[NLIExample]] | None = None) -> GenerateReport:
    """Write (or finish writing) the benchmark of `spec` at `size` into `out_dir`.

    `builder` and `scorer_factory` default to the perturbation registry and the e5 similarity
    filter; they must be picklable (module-level) when `processes > 1`, and a script calling
    this with `processes > 1` needs the usual `if __name__ == "__main__":` guard (workers are
    spawned, not forked: forking a process that holds torch threads can deadlock).  `families`
    restricts the run to some families (a partial benchmark: its hash will not match the spec's).
    `device` (e.g. "cuda") runs the similarity encoder there; near-threshold cosines are
    recomputed in float64 on the CPU as in any run (`CpuCheckedFilter`), so the files and hash
    are those of a CPU run.  `items` (language -> examples, e.g. a user's file for `perturb`)
    replaces the spec's selection of XNLI items: every one of them is perturbed.
    """
    from harness.core.paths import data_root as resolve_root

    spec = spec or load_spec()
    size_spec = spec.size(size)
    root = resolve_root(data_root)
    out = Path(out_dir)
    if families is not None:
        unknown = [f for f in families if f not in spec.families]
        if unknown:
            raise DataError(f"families {unknown} are not in spec {spec.id} ({', '.join(spec.families)})")
        spec = _restrict(spec, families)
    if builder is None:  # the registry builds the families: they must be registered ones
        check_families(spec)
    if (out / MANIFEST).is_file():
        report = verify(out, spec=spec)
        return GenerateReport(out, report.benchmark_hash, [], [], {}, report.manifest, report)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} exists, is not empty and holds no {MANIFEST}: choose a new folder")
    work = out.with_name(out.name + PARTIAL_SUFFIX)
    run_id = _prepare_work_dir(work, spec, size_spec, root)
    if not (work / MANIFEST).is_file():
        data, ids = _load_items(spec, size_spec, root) if items is None else _given_items(spec, items)
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
    from harness.data.xnli import check_parallel, load_local

    languages = list(dict.fromkeys(["en", *spec.languages]))
    full = load_local(root / "xnli", spec.split, languages)
    check_parallel(full)
    for lang, examples in full.items():
        _check_content_pin(spec, lang, examples)
    ids = select_items(full["en"], size, spec.seed)
    wanted = set(ids)
    data = {lang: [ex for ex in full[lang] if ex.id in wanted] for lang in spec.languages}
    return data, ids


def _given_items(spec: BenchmarkSpec, items: Mapping[str, Sequence[NLIExample]]
                 ) -> tuple[dict[str, list[NLIExample]], list[str]]:
    """Items the caller loaded (a user file), in the spec's language order; ids in that order."""
    missing = [lang for lang in spec.languages if not items.get(lang)]
    if missing:
        raise DataError(f"no items for the spec's languages {missing}")
    data = {lang: list(items[lang]) for lang in spec.languages}
    return data, [ex.id for lang in spec.languages for ex in data[lang]]


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
        family = spec.families[unit.family]
        tasks.append(UnitTask(unit, tuple(data[unit.language]), spec.seed, family.similarity, str(root),
                              str(work), builder, scorer_factory, spec.resources,
                              family.build_params(unit.severity, unit.language)))
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
            futures = {pool.submit(run_chain, chain): chain for chain in _chains(tasks, processes)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    entries = _chain_result(future, futures[future])
                    yield from entries
                    bar.update(len(entries))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()


def _chains(tasks: list[UnitTask], processes: int) -> list[list[UnitTask]]:
    """The tasks of each language as one chain, longest chains first; one task each if there are
    fewer languages than processes.

    Why: a worker embeds a language's clean texts once and keeps them (`_clean_vectors`).  When
    the units of one language are spread over both workers, both embed the same 10,020 texts
    (about 200 s each at full size on this CPU); a chain per language embeds them once.  Longest
    first keeps the last chains short, so workers finish together.  Files never depend on this:
    every unit's output is a function of its own inputs.
    """
    by_language: dict[str, list[UnitTask]] = {}
    for task in tasks:
        by_language.setdefault(task.unit.language, []).append(task)
    if len(by_language) < processes:
        return [[task] for task in tasks]
    return sorted(by_language.values(), key=len, reverse=True)


def _chain_result(future: concurrent.futures.Future, chain: list[UnitTask]) -> list[dict[str, Any]]:
    """A chain's entries; a worker that died (killed, out of memory) is named by its units, as a
    failing unit names itself in `run_chain`."""
    try:
        return future.result()
    except concurrent.futures.process.BrokenProcessPool as exc:
        units = ", ".join(t.unit.key for t in chain)
        raise RuntimeError(f"a worker died while running the units {units}: {exc}") from exc


def run_chain(chain: list[UnitTask]) -> list[dict[str, Any]]:
    """Run a worker's chain of units in order; a failure names its unit (each unit journals
    itself, so the units before it are kept for a resume)."""
    return [_labelled(run_unit, task) for task in chain]


def _labelled(fn: Callable[[UnitTask], dict[str, Any]], task: UnitTask) -> dict[str, Any]:
    try:
        return fn(task)
    except Exception as exc:
        raise _unit_error(exc, task) from exc


def _unit_error(exc: Exception, task: UnitTask) -> Exception:
    """Name the unit in the error; keep the harness error type so the CLI prints it cleanly."""
    message = f"unit {task.unit.key} failed: {exc}"
    if isinstance(exc, (DataError, IntegrityError)):
        return type(exc)(message)
    return RuntimeError(message)
