"""`xnli-robust audit`: a seeded sample of original/perturbed pairs as CSV, for reading.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from harness.core.atomic import atomic_write_bytes
from harness.data.benchmark import PerturbedItem, load_benchmark
from harness.data.spec import BenchmarkSpec
from harness.generate.select import _rank

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
