"""`xnli-robust export --format hf`: publish a generated benchmark as a Hugging Face `datasets` folder.

The export is the benchmark folder itself, copied byte for byte (manifest, item files, similarity
side files), plus a data card (`harness.generate.card`) whose header makes every family x
severity a `datasets` config with one split per language (`harness.data.hf_dataset` says why).
Copying instead of re-encoding keeps every sha256, so the exported folder verifies against the
spec's pins exactly as the folder does, and `bench --benchmark` scores it unchanged.

Nothing is half-written: the export is built in a temporary sibling, verified there (the copy
against the manifest, the card against the copy), read back through `datasets` config by config
and row by row, and only then renamed into place (`atomic_dir`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness.core.atomic import atomic_dir, atomic_write_text
from harness.core.errors import DataError, IntegrityError
from harness.core.hashing import sha256_file
from harness.core.paths import check_output_folder
from harness.data.benchmark import MANIFEST, verify
from harness.data.hf_dataset import CARD, CLEAN_COLUMNS, CLEAN_CONFIG, PERTURBED_COLUMNS, config_splits
from harness.generate.card import AUDITS_DIR, data_card


@dataclass(frozen=True)
class ExportReport:
    """What was published, for the command's summary."""

    out: Path
    benchmark_hash: str
    matches_spec: bool | None
    n_files: int
    rows: dict[str, dict[str, int]]
    """config -> split -> rows (as `datasets` read them back when `checked`, else from the manifest)."""
    checked: bool


def export_hf(bench: Path, out: Path, *, overwrite: bool = False, check: bool = True,
              audits_dir: Path = AUDITS_DIR, log: Callable[[str], None] | None = None) -> ExportReport:
    """Verify `bench`, copy it into `out` with a data card, read it back with `datasets`, publish.

    `check=False` skips the read-back (the copy and the card are still verified)."""
    bench, out = Path(bench), Path(out)
    _refuse_overlap(bench, out)
    check_output_folder(out)
    if out.exists() and not overwrite:
        raise DataError(f"{out} already exists; pass --overwrite to replace it")
    source = verify(bench)  # an export is made only of a benchmark that verifies
    with atomic_dir(out, replace=overwrite) as tmp:
        _copy_benchmark(bench, tmp, source.manifest)
        atomic_write_text(tmp / CARD, data_card(source, sha256_file(tmp / MANIFEST), audits_dir))
        copied = verify(tmp)
        if copied.benchmark_hash != source.benchmark_hash:  # cannot happen unless a file changed mid-copy
            raise IntegrityError(f"{bench}: the benchmark changed while it was being exported; export it again")
        rows = read_back(tmp, source.manifest, log) if check else _manifest_rows(source.manifest)
    return ExportReport(out, source.benchmark_hash, source.matches_spec, source.n_files, rows, check)


def _refuse_overlap(bench: Path, out: Path) -> None:
    """An export inside its benchmark (or around it) would change the folder it copies."""
    b, o = bench.resolve(), out.resolve()
    if b == o or b in o.parents or o in b.parents:
        raise DataError(f"--out {out} overlaps the benchmark {bench}: choose a folder outside it")


def _copy_benchmark(bench: Path, dest: Path, manifest: Mapping[str, Any]) -> None:
    """The manifest and every file it lists, bytes only (no metadata); nothing else."""
    for rel in [MANIFEST, *manifest["files"]]:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bench / rel, target)


def _manifest_rows(manifest: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    return {name: {lang: n for lang, (_, n) in splits.items()} for name, splits in config_splits(manifest).items()}


# --------------------------------------------------------------------------------------------
# Reading the export back through `datasets`
# --------------------------------------------------------------------------------------------

def read_back(folder: Path, manifest: Mapping[str, Any], log: Callable[[str], None] | None = None
              ) -> dict[str, dict[str, int]]:
    """Load every config with `datasets` (into a throwaway cache) and compare it with the files.

    Why at export time, not only in the tests: the card's promise is that `load_dataset` reads
    the item files as they are; a field `datasets` typed differently, a split it could not build
    or a row it read otherwise is found here, before anything is published."""
    import datasets  # lazy: heavy, and only the export needs it

    configs = config_splits(manifest)
    if log:
        log(f"reading {len(configs)} configs back with datasets, row by row")
    cache = Path(tempfile.mkdtemp(prefix="xnli-robust-export-check-"))
    try:
        rows = {}
        for name, splits in configs.items():
            loaded = datasets.load_dataset(str(folder), name, cache_dir=str(cache))
            rows[name] = _compare_config(folder, name, loaded, splits)
        return rows
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _compare_config(folder: Path, name: str, loaded: Any, splits: Mapping[str, tuple[str, int]]) -> dict[str, int]:
    """Splits, column types and every row as `datasets` gives them, against the item files."""
    if set(loaded) != set(splits):
        raise IntegrityError(f"{folder}: datasets gives config {name!r} the splits {sorted(loaded)}, "
                             f"the benchmark has {sorted(splits)}; nothing was published")
    columns = CLEAN_COLUMNS if name == CLEAN_CONFIG else PERTURBED_COLUMNS
    for lang, (rel, _) in splits.items():
        _check_types(folder, name, lang, loaded[lang].features, columns)
        _check_rows(folder / rel, f"config {name!r}, split {lang!r}", loaded[lang].to_list())
    return {lang: loaded[lang].num_rows for lang in splits}


def _check_types(folder: Path, name: str, lang: str, features: Mapping[str, Any], columns: Sequence[str]) -> None:
    types = {c: str(getattr(f, "dtype", f)) for c, f in features.items()}
    if types != {c: "string" for c in columns}:
        raise IntegrityError(f"{folder}: datasets types config {name!r} split {lang!r} as {types}; expected the "
                             f"string columns {list(columns)}; nothing was published")


def _check_rows(path: Path, where: str, got: list[dict[str, Any]]) -> None:
    with open(path, encoding="utf-8") as handle:
        want = [json.loads(line) for line in handle if line.strip()]
    if got == want:
        return
    if len(got) != len(want):
        detail = f"{len(got)} rows, the file has {len(want)}"
    else:
        detail = f"row {next(i for i, (a, b) in enumerate(zip(got, want)) if a != b) + 1} differs"
    raise IntegrityError(f"{path}: datasets reads it ({where}) otherwise than the file says: {detail}; "
                         "nothing was published")
