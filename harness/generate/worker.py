"""One unit of generation (family x severity x language), run in a worker process.

Every item's randomness comes from `derive_rng(seed, family, severity, language, id)`, so a
unit's file depends on its inputs only, never on the process that ran it or on the order in
which units ran.
"""

from __future__ import annotations

import functools
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from harness.core.atomic import atomic_write_bytes
from harness.core.errors import DataError, IntegrityError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_bytes, sha256_dir, sha256_file
from harness.data.benchmark import PROGRESS, _encode_lines, json_line
from harness.data.spec import Unit
from harness.generate.similarity import _filter
from harness.generate.task import UnitTask

# --------------------------------------------------------------------------------------------
# The worker: one unit
# --------------------------------------------------------------------------------------------

def run_unit(task: UnitTask) -> dict[str, Any]:
    """Perturb, filter and write one unit, then journal it; returns the journal entry.

    The journal is written after the file, both atomically: a unit is either complete (file
    and matching journal) or redone on resume.
    """
    from attacks.base import derive_rng

    started = time.perf_counter()
    unit, data_root = task.unit, Path(task.data_root)
    perturbation = task.builder(unit.family, unit.severity, unit.language, data_root, **task.params)
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
    if task.params:  # only when the spec gives some: units of specs without params stay as they were
        entry["spec_params"] = dict(task.params)
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
