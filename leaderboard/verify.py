"""Recompute a record's numbers before it may reach the leaderboard.

Why: a record is a claim.  `submit` used to trust it, so a record with its accuracies raised by
20 points, or with predictions edited to be all correct, was ranked.  Every number under
`results` is deterministic given the per-example predictions, the gold labels and the seed (the
bootstrap has its own seeded generator), so it is recomputed here with the harness's own scoring
code and compared number by number.  Gold labels come from the data the record names (the
benchmark folder whose hash the record carries, or the XNLI files whose items hash it carries),
never from the predictions file; the predictions' item ids must be the data's, in order.

An adaptive attack's `under_attack.<recipe>` entry is recomputed the same way from the per-item
outcomes committed beside the record (`check_attacks`); entries from before outcomes were kept
cannot be, and the page marks them.

What this cannot catch: predictions that are all consistent with the data but were not produced
by the named model (only re-scoring the weights shows that; `tests/test_reference_submissions.py`
does it for the committed records).
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from harness import LABELS
from harness.core.errors import DataError, HarnessError, IntegrityError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_file

TOLERANCE = 1e-9
"""Recomputed floats equal the recorded ones to JSON round-trip precision; this only absorbs
the last bit of a platform's summation order."""

GOLD_SOURCES = ("benchmark", "local", "xnli10")


@dataclass
class Unit:
    """The predictions of one (set, language) unit, in file order."""

    set_name: str
    language: str
    ids: list[str] = field(default_factory=list)
    gold: list[int] = field(default_factory=list)
    pred: list[int] = field(default_factory=list)


@dataclass
class Verification:
    """What a record passed; stored beside it as `verification.json` and shown on the page."""

    gold_source: str
    """"benchmark <hash>", "data <items sha256>", or "predictions file" (render time: no data)."""
    benchmark_hash: str | None = None
    benchmark_pinned: bool | None = None
    numbers_checked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"gold_source": self.gold_source, "benchmark_hash": self.benchmark_hash,
                "benchmark_pinned": self.benchmark_pinned, "numbers_checked": self.numbers_checked}


# ---- reading the predictions ------------------------------------------------------------------

def read_units(path: Path) -> list[Unit]:
    """Group prediction lines into units; a malformed line is an integrity failure, named."""
    units: list[Unit] = []
    index: dict[tuple[str, str], Unit] = {}
    for number, row in _rows(path):
        key = (row["set"], row["language"])
        unit = index.get(key)
        if unit is None:
            unit = index[key] = Unit(*key)
            units.append(unit)
        elif unit is not units[-1]:
            raise IntegrityError(f"{path}:{number}: unit {key[0]} {key[1]} is split in two runs of lines")
        unit.ids.append(row["id"])
        unit.gold.append(_label(row["gold"], path, number))
        unit.pred.append(_label(row["pred"], path, number))
        _check_probs(row, unit.pred[-1], path, number)
    return units


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict) or not {"set", "language", "id", "gold", "pred"} <= set(row):
                        raise ValueError("missing fields")
                except ValueError as exc:
                    raise IntegrityError(f"{path}:{number}: not a prediction line ({exc})") from None
                yield number, row
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{path}: unreadable predictions file ({exc})") from None


def _label(name: Any, path: Path, number: int) -> int:
    if name not in LABELS:
        raise IntegrityError(f"{path}:{number}: unknown label {name!r}")
    return LABELS.index(name)


def _check_probs(row: Mapping[str, Any], pred: int, path: Path, number: int) -> None:
    """The stored prediction is the argmax of the stored probabilities (rounded to 6 decimals)."""
    probs = row.get("probs")
    if probs is None:
        return
    if not (isinstance(probs, list) and len(probs) == len(LABELS) and all(isinstance(p, (int, float)) for p in probs)):
        raise IntegrityError(f"{path}:{number}: probs must be {len(LABELS)} numbers")
    if probs[pred] < max(probs):
        raise IntegrityError(f"{path}:{number}: pred {LABELS[pred]!r} is not the most probable label {probs}")


# ---- recomputing --------------------------------------------------------------------------------

def recompute(units: list[Unit], gold: Mapping[tuple[str, str], int], seed: int) -> dict[str, Any]:
    """`results` as `bench` computes them, from predicted labels and the given gold labels."""
    from harness.scoring.bench import ScoreTally

    tally = ScoreTally()
    for unit in units:
        items = [NLIExample(i, unit.language, "", "", _gold(gold, unit, i)) for i in unit.ids]
        tally.add(unit.set_name, unit.language, items, np.eye(len(LABELS), dtype=np.float32)[unit.pred])
    if not tally.clean:
        raise IntegrityError("the predictions file has no clean items")
    return tally.results(seed)


def _gold(gold: Mapping[tuple[str, str], int], unit: Unit, item: str) -> int:
    label = gold.get((unit.language, item))
    if label is None:
        raise IntegrityError(f"predictions {unit.set_name} {unit.language}: item {item!r} is not in the data")
    return label


def compare(recorded: Any, recomputed: Any, path: str = "results", source: str = "the predictions") -> int:
    """Number of values compared; IntegrityError naming the first one that differs."""
    if isinstance(recomputed, dict):
        if not isinstance(recorded, dict) or set(recorded) != set(recomputed):
            have = sorted(recorded) if isinstance(recorded, dict) else type(recorded).__name__
            raise IntegrityError(f"{path}: the record has {have}, recomputed {sorted(recomputed)}")
        return sum(compare(recorded[k], recomputed[k], f"{path}/{k}", source) for k in sorted(recomputed))
    if recomputed is None or isinstance(recomputed, (bool, str)):
        if recorded != recomputed:
            raise IntegrityError(f"{path}: the record says {recorded!r}, recomputed from {source} {recomputed!r}")
        return 1
    ok = isinstance(recorded, (int, float)) and not isinstance(recorded, bool) and \
        math.isclose(float(recorded), float(recomputed), rel_tol=0.0, abs_tol=TOLERANCE)
    if not ok:
        raise IntegrityError(f"{path}: the record says {recorded!r}, recomputed from {source} {recomputed!r}")
    return 1


def check_numbers(record: Mapping[str, Any], units: list[Unit], gold: Mapping[tuple[str, str], int]) -> int:
    """Recompute `results` and `data.n_items`; IntegrityError on the first difference.

    Predictions shaped so that the metrics cannot be computed at all (a unit without its clean
    items, a set name without a severity) are an integrity failure too, never a traceback."""
    clean = {u.language: len(u.ids) for u in units if u.set_name == "clean"}
    if clean != dict(record["data"]["n_items"]):
        raise IntegrityError(f"data/n_items: the record says {record['data']['n_items']}, the predictions hold {clean}")
    try:
        recomputed = recompute(units, gold, int(record["seed"]))
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise IntegrityError(f"the predictions cannot be scored ({type(exc).__name__}: {exc})") from None
    except IntegrityError:
        raise
    except HarnessError as exc:  # e.g. a perturbed unit before (or without) its clean items
        raise IntegrityError(str(exc)) from None
    return compare(record["results"], recomputed)


# ---- adaptive attacks ---------------------------------------------------------------------------

def check_attacks(folder: Path, record: Mapping[str, Any]) -> int:
    """Recompute every `under_attack.<recipe>` entry that names its outcome file; the number of
    values compared.  Entries without one (made before outcomes were kept) are left as they are:
    nothing can be recomputed, and the page marks them unverifiable (`unverified_attacks`)."""
    checked = 0
    for recipe, entry in sorted((record.get("under_attack") or {}).items()):
        if entry.get("outcomes") is not None:
            checked += check_attack_entry(folder, recipe, entry)
    return checked


def unverified_attacks(record: Mapping[str, Any]) -> list[str]:
    """Recipes whose entry has no outcome file: its numbers are the record's claim only."""
    return sorted(r for r, entry in (record.get("under_attack") or {}).items() if entry.get("outcomes") is None)


def check_attack_entry(folder: Path, recipe: str, entry: Mapping[str, Any]) -> int:
    """The outcome file's sha256, its ids against the recorded sample, and every summary number
    that follows from it (per language and averaged); IntegrityError naming the first field off."""
    from harness.scoring import attack_outcomes

    where = f"under_attack/{recipe}"
    lines = attack_outcomes.read(_outcomes_path(folder, entry["outcomes"], where))
    sample = entry["settings"].get("sample") or {}
    ids = attack_outcomes.ids_sha256(o["id"] for o in lines)
    if sample.get("ids_sha256") and ids != sample["ids_sha256"]:
        raise IntegrityError(f"{where}/settings/sample/ids_sha256: the outcomes' item ids hash to {ids}, "
                             "not the recorded sample's")
    per_language, avg = attack_outcomes.recompute(lines)
    if set(entry["languages"]) != set(per_language):
        raise IntegrityError(f"{where}/languages: the record has {sorted(entry['languages'])}, "
                             f"the outcomes {sorted(per_language)}")
    source = "the attack outcomes"
    checked = 0
    for language, numbers in per_language.items():
        recorded = entry["languages"][language]
        checked += compare({k: recorded[k] for k in numbers if k in recorded}, numbers,
                           f"{where}/languages/{language}", source)
    return checked + compare(entry["average"], avg, f"{where}/average", source)


def _outcomes_path(folder: Path, named: Mapping[str, Any], where: str) -> Path:
    """The outcome file an entry names: `attacks/<name>` beside the record, with its sha256."""
    relative = Path(str(named["file"]))
    if relative.is_absolute() or len(relative.parts) != 2 or relative.parts[0] != "attacks" or \
            relative.name.startswith("."):
        raise DataError(f"{folder}: {where}/outcomes/file {named['file']!r} must be attacks/<file name>")
    path = folder / relative
    if not path.is_file():
        raise DataError(f"{path}: the record's attack outcomes file ({where}) is missing")
    if sha256_file(path) != named["sha256"]:
        raise IntegrityError(f"{path}: sha256 does not match {where}/outcomes/sha256 (the outcomes were altered)")
    return path


def predictions_path(folder: Path, record: Mapping[str, Any]) -> Path:
    """The record's predictions file, checked against the sha256 the record names."""
    path = folder / record["predictions"]["file"]
    if Path(record["predictions"]["file"]).name != record["predictions"]["file"]:
        raise DataError(f"{folder}: predictions file {record['predictions']['file']!r} must be a plain file name")
    if not path.is_file():
        raise DataError(f"{path}: the record's predictions file is missing")
    if sha256_file(path) != record["predictions"]["sha256"]:
        raise IntegrityError(f"{path}: sha256 does not match the record (the predictions were altered)")
    return path


def gold_from_predictions(units: list[Unit]) -> dict[tuple[str, str], int]:
    """Gold labels as the predictions file states them: used at render time, when the data the
    record was scored on may be absent; the perturbed units must agree with the clean ones."""
    gold = {(u.language, i): g for u in units if u.set_name == "clean" for i, g in zip(u.ids, u.gold)}
    _check_stated_gold(units, gold)
    return gold


def _check_stated_gold(units: list[Unit], gold: Mapping[tuple[str, str], int]) -> None:
    for unit in units:
        for item, stated in zip(unit.ids, unit.gold):
            if gold.get((unit.language, item), stated) != stated:
                raise IntegrityError(f"predictions {unit.set_name} {unit.language} item {item!r}: gold label "
                                     f"{LABELS[stated]!r} differs from the data's {LABELS[gold[(unit.language, item)]]!r}")


def verify_stored(folder: Path, record: Mapping[str, Any], benchmarks: Mapping[str, Any] | None = None
                  ) -> Verification:
    """Render-time check of a stored submission: hash, predictions and every number.

    Gold labels come from the predictions file (checked against the data at submit), unless
    `benchmarks` ({benchmark hash: opened Benchmark}, from `leaderboard --benchmark`) holds the
    record's benchmark: then from it, as at submit, so predictions edited after submit are caught."""
    units = read_units(predictions_path(folder, record))
    claimed = (record["data"].get("benchmark") or {}).get("benchmark_hash")
    if benchmarks and claimed in benchmarks:
        gold, info = _gold_from_benchmark(record, units, benchmarks[claimed])
        _check_stated_gold(units, gold)
    else:
        gold, info = gold_from_predictions(units), Verification("predictions file", claimed, None)
    info.numbers_checked = check_numbers(record, units, gold) + check_attacks(folder, record)
    return info


def open_benchmarks(folders: list[Path]) -> dict[str, Any]:
    """{benchmark hash: Benchmark} for `leaderboard --benchmark`, each verified once."""
    from harness.data.benchmark import load_benchmark

    opened = [load_benchmark(folder) for folder in folders]
    return {bench.benchmark_hash: bench for bench in opened}


# ---- gold labels from the data ------------------------------------------------------------------

def verify_against_data(folder: Path, record: Mapping[str, Any], *, benchmark: Path | None,
                        data_dir: str | None, allow_unpinned: bool = False) -> Verification:
    """Submit-time check: gold labels and item ids from the data the record names."""
    source = record["data"]["source"]
    if source not in GOLD_SOURCES:
        raise DataError(f"records scored on source {source!r} cannot be verified (gold labels are read from "
                        f"{', '.join(GOLD_SOURCES)}); score on XNLI files or a benchmark to submit")
    units = read_units(predictions_path(folder, record))
    if source == "benchmark":
        gold, info = _benchmark_gold(record, units, benchmark, allow_unpinned)
    else:
        gold, info = _data_gold(record, units, data_dir)
    _check_stated_gold(units, gold)
    info.numbers_checked = check_numbers(record, units, gold) + check_attacks(folder, record)
    return info


def _benchmark_gold(record: Mapping[str, Any], units: list[Unit], folder: Path | None,
                    allow_unpinned: bool) -> tuple[dict[tuple[str, str], int], Verification]:
    from harness.data.benchmark import load_benchmark

    claimed = (record["data"].get("benchmark") or {}).get("benchmark_hash")
    if folder is None:
        raise DataError(f"the record was scored on benchmark {claimed}: pass --benchmark DIR (the benchmark folder) "
                        "so its gold labels and item ids can be checked")
    bench = load_benchmark(folder)  # every file hash verified, or IntegrityError
    if bench.benchmark_hash != claimed:
        raise IntegrityError(f"{folder}: benchmark hash {bench.benchmark_hash} is not the record's {claimed}")
    if not bool(bench.report and bench.report.matches_spec) and not allow_unpinned:
        raise DataError(f"{folder}: no spec pins this benchmark's hash (internally consistent only); "
                        "pass --allow-unpinned to submit it anyway (the page marks it unpinned)")
    return _gold_from_benchmark(record, units, bench)


def _gold_from_benchmark(record: Mapping[str, Any], units: list[Unit], bench: Any
                         ) -> tuple[dict[tuple[str, str], int], Verification]:
    from harness.scoring.bench import apply_limit, items_sha256

    missing = [lang for lang in record["data"]["languages"] if lang not in bench.languages]
    if missing:
        raise IntegrityError(f"{bench.root}: the benchmark has no {', '.join(missing)}, which the record scores")
    clean = apply_limit({lang: bench.clean(lang) for lang in record["data"]["languages"]}, record["data"]["limit"])
    _check_items(record, items_sha256(clean), bench.root)
    gold = {(e.language, e.id): e.label for items in clean.values() for e in items}
    _check_unit_ids(units, clean, bench)
    pinned = bool(bench.report and bench.report.matches_spec)
    return gold, Verification(f"benchmark {bench.benchmark_hash}", bench.benchmark_hash, pinned)


def _check_unit_ids(units: list[Unit], clean: Mapping[str, list[NLIExample]], bench: Any) -> None:
    """Every unit of the benchmark (for the record's languages) is predicted, item for item."""
    expected = {("clean", lang): [e.id for e in items] for lang, items in clean.items()}
    for unit in bench.units():
        if unit.language in clean:
            keep = set(expected[("clean", unit.language)])
            ids = [p.example.id for p in bench.perturbed(unit.family, unit.severity, unit.language)]
            expected[(f"{unit.family}/{unit.severity}", unit.language)] = [i for i in ids if i in keep]
    _same_ids(units, expected)


def _same_ids(units: list[Unit], expected: Mapping[tuple[str, str], list[str]]) -> None:
    found = {(u.set_name, u.language): u.ids for u in units}
    for key in sorted(set(expected) | set(found)):
        if key not in found:
            raise IntegrityError(f"predictions: no unit {key[0]} {key[1]}, which the data holds")
        if key not in expected:
            raise IntegrityError(f"predictions: unit {key[0]} {key[1]} is not in the data")
        if found[key] != expected[key]:
            raise IntegrityError(f"predictions {key[0]} {key[1]}: item ids differ from the data's "
                                 f"({len(found[key])} predicted, {len(expected[key])} in the data)")


def _check_items(record: Mapping[str, Any], actual: str, where: Path | str) -> None:
    claimed = record["data"].get("items_sha256")
    if claimed != actual:
        raise IntegrityError(f"{where}: the items (ids, texts, labels) hash to {actual}, "
                             f"not the record's data/items_sha256 {claimed}")


def _data_gold(record: Mapping[str, Any], units: list[Unit], data_dir: str | None
               ) -> tuple[dict[tuple[str, str], int], Verification]:
    from harness.scoring.bench import BenchConfig, apply_limit, items_sha256, load_eval_data
    from harness.core.paths import data_root

    data = record["data"]
    cfg = BenchConfig(model="", out=Path("."), data_dir=data_dir, source=data["source"], split=data["split"],
                      languages=tuple(data["languages"]))
    clean = apply_limit(load_eval_data(cfg).examples, data["limit"])
    _check_items(record, items_sha256(clean), data_root(data_dir))
    _same_ids(units, {("clean", lang): [e.id for e in items] for lang, items in clean.items()})
    gold = {(e.language, e.id): e.label for items in clean.values() for e in items}
    return gold, Verification(f"data {data.get('items_sha256')}")
