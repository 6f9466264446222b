"""`xnli-robust audit`: a seeded sample of original/perturbed pairs as CSV, for reading.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

from harness.core.atomic import atomic_write_bytes
from harness.core.sampling import rank
from harness.data.benchmark import Benchmark, PerturbedItem, load_benchmark
from harness.data.spec import BenchmarkSpec, Unit

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
        ranked = sorted(items, key=lambda s: rank(seed, f"audit\x1f{family}\x1f{s[0]}", s[1].example.id))
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


# --------------------------------------------------------------------------------------------
# Reading sheets for a validity audit (harness.metrics.validity reads the judgments)
# --------------------------------------------------------------------------------------------

def audit_sample(bench: Benchmark, per_severity: int = 10, seed: int = 0,
                 min_per_cell: int = 0) -> list[tuple[Unit, PerturbedItem]]:
    """`per_severity` items of every unit in a seeded hash order: stratified by family x severity x
    language, so a family x language cell gets 3 x `per_severity` (30 by default) readings.

    With `min_per_cell` (the bar needs 30 readings), a cell with fewer severities (a
    back-translation route that exists at one severity only) takes ceil(`min_per_cell` / its
    units) per unit instead, so that it can reach the bar; a three-severity cell with 30 and
    `per_severity` 10 gets exactly the sample it got without it."""
    units = sorted(bench.units())
    per_cell = Counter((u.family, u.language) for u in units)
    sample = []
    for unit in units:
        take = max(per_severity, -(-min_per_cell // per_cell[(unit.family, unit.language)]))
        items = bench.perturbed(*unit)
        purpose = f"validity\x1f{unit.family}\x1f{unit.severity}\x1f{unit.language}"
        ranked = sorted(items, key=lambda it: rank(seed, purpose, it.example.id))
        sample += [(unit, it) for it in ranked[:take]]
    return sample


def _sheet_entry(number: int, unit: Unit, item: PerturbedItem) -> str:
    ex, orig = item.example, item.original
    lines = [f"[{number}] {unit.family}/{unit.severity}/{unit.language} {ex.id}  gold: {ex.label_name}"]
    for side, before, after in (("premise", orig.premise, ex.premise), ("hypothesis", orig.hypothesis, ex.hypothesis)):
        if before == after:
            lines.append(f"  {side} (unchanged): {before}")
        else:
            lines += [f"  {side} original : {before}", f"  {side} perturbed: {after}"]
    return "\n".join(lines)


def write_audit_sheets(root: str | os.PathLike[str], out_dir: str | os.PathLike[str], per_severity: int = 10,
                       seed: int = 0, verify_files: bool = True, spec: BenchmarkSpec | None = None,
                       min_per_cell: int = 0) -> dict[str, int]:
    """Per language: `<lang>.sheet.txt` (original beside perturbed, for reading; it holds XNLI
    text, so it stays out of the repository) and `<lang>.keys.jsonl` (the sampled items' ids, what
    the judgments must cover).  Returns items per language."""
    bench = load_benchmark(root, verify_files=verify_files, spec=spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_language: dict[str, list[tuple[Unit, PerturbedItem]]] = {}
    for unit, item in audit_sample(bench, per_severity, seed, min_per_cell):
        by_language.setdefault(unit.language, []).append((unit, item))
    for language, entries in by_language.items():
        sheet = "\n\n".join(_sheet_entry(i, unit, item) for i, (unit, item) in enumerate(entries, 1))
        keys = "".join(json.dumps({"benchmark": bench.id, "family": unit.family, "severity": unit.severity,
                                   "language": unit.language, "id": item.example.id}, ensure_ascii=False) + "\n"
                       for unit, item in entries)
        atomic_write_bytes(out / f"{language}.sheet.txt", (sheet + "\n").encode("utf-8"))
        atomic_write_bytes(out / f"{language}.keys.jsonl", keys.encode("utf-8"))
    return {language: len(entries) for language, entries in by_language.items()}


# --------------------------------------------------------------------------------------------
# Carrying judgments to a new benchmark version
# --------------------------------------------------------------------------------------------

def carry_judgments(new_root: str | os.PathLike[str], old_root: str | os.PathLike[str],
                    old_judgments: list, per_severity: int = 10, seed: int = 0,
                    min_per_cell: int = 0, judged_files: dict[str, str] | None = None
                    ) -> tuple[list, list[tuple[Unit, PerturbedItem]]]:
    """Split the new benchmark's sample into judgments carried over and items still to read.

    Why: a reading judges one text.  When a new version keeps an item's text byte for byte (the
    same original and perturbed premise and hypothesis, gold label and unit), the old reading is
    a reading of exactly that text and stays valid; anything else must be read again.  The sample
    is the one `audit --sheets` draws for the new benchmark (same seed and rule), so carried and
    new judgments together cover it exactly.  Returns (carried judgments re-keyed to the new
    benchmark id, the sampled (unit, item) pairs with no valid old reading).

    `old_root` is the benchmark the judgments read, or -- with `judged_files`, the read
    benchmark's pinned per-file hashes (its `*.files.json`) -- another folder whose unit files
    have exactly those hashes (e.g. a later version made of the same units): an old reading is
    then used only from a unit whose file there is byte-identical to the one read.
    """
    from dataclasses import replace

    new, old = load_benchmark(new_root), load_benchmark(old_root)
    old_ids = {j.benchmark for j in old_judgments}
    if len(old_ids) != 1 or (judged_files is None and old_ids != {old.id}):
        raise ValueError(f"the old judgments are of {sorted(old_ids)}, the old benchmark is {old.id} "
                         "(give the judged benchmark's pinned file hashes to use another folder)")
    same_file = {rel for rel, entry in old.manifest["files"].items()
                 if judged_files is None or judged_files.get(rel) == entry["sha256"]}
    by_key = {(j.family, j.severity, j.language, j.id): j for j in old_judgments}
    old_items: dict[Unit, dict[str, PerturbedItem]] = {}
    carried, to_read = [], []
    for unit, item in audit_sample(new, per_severity, seed, min_per_cell):
        previous = by_key.get((unit.family, unit.severity, unit.language, item.example.id))
        if previous is not None and unit not in old_items:
            old_items[unit] = ({it.example.id: it for it in old.perturbed(*unit)}
                               if unit in set(old.units()) and unit.relpath in same_file else {})
        same = previous is not None and _same_text(old_items[unit].get(item.example.id), item)
        if same:
            carried.append(replace(previous, benchmark=new.id))
        else:
            to_read.append((unit, item))
    return carried, to_read


def _same_text(old: PerturbedItem | None, new: PerturbedItem) -> bool:
    """Byte-identical item: both texts, both originals, gold label and id."""
    return old is not None and (old.example, old.original) == (new.example, new.original)


def write_carried_sheets(new_root: str | os.PathLike[str], old_root: str | os.PathLike[str],
                         old_audit_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                         audit_dir: str | os.PathLike[str], per_severity: int = 10, seed: int = 0,
                         min_per_cell: int = 0, judged_files: dict[str, str] | None = None
                         ) -> dict[str, tuple[int, int]]:
    """`carry_judgments`, written: keys of the whole sample and sheets of the items to read under
    `out_dir` (outside the repository: sheets hold XNLI text), and the carried judgments as
    `<lang>.carried.audit.jsonl` under `audit_dir`, beside which readers write `<lang>.audit.jsonl`.
    Returns (carried, to read) per language."""
    from harness.metrics.validity import AUDIT_FIELDS, SUFFIX, read_audit

    old = [j for path in sorted(Path(old_audit_dir).glob(f"*{SUFFIX}")) for j in read_audit(path)]
    carried, to_read = carry_judgments(new_root, old_root, old, per_severity, seed, min_per_cell, judged_files)
    new_id = load_benchmark(new_root, verify_files=False).id
    out, audits = Path(out_dir), Path(audit_dir)
    out.mkdir(parents=True, exist_ok=True)
    audits.mkdir(parents=True, exist_ok=True)
    languages = sorted({j.language for j in carried} | {u.language for u, _ in to_read})
    counts = {}
    for language in languages:
        mine = [(u, it) for u, it in to_read if u.language == language]
        kept = [j for j in carried if j.language == language]
        keys = [{"benchmark": new_id, "family": j.family, "severity": j.severity, "language": language, "id": j.id}
                for j in kept]
        keys += [{"benchmark": new_id, "family": u.family, "severity": u.severity, "language": language,
                  "id": it.example.id} for u, it in mine]
        sheet = "\n\n".join(_sheet_entry(i, u, it) for i, (u, it) in enumerate(mine, 1))
        atomic_write_bytes(out / f"{language}.keys.jsonl",
                           "".join(json.dumps(k, ensure_ascii=False) + "\n" for k in keys).encode("utf-8"))
        if mine:
            atomic_write_bytes(out / f"{language}.sheet.txt", (sheet + "\n").encode("utf-8"))
        if kept:
            atomic_write_bytes(audits / f"{language}.carried{SUFFIX}",
                               "".join(json.dumps({f: getattr(j, f) for f in AUDIT_FIELDS}, ensure_ascii=False) + "\n"
                                       for j in kept).encode("utf-8"))
        counts[language] = (len(kept), len(mine))
    return counts
