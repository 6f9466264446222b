"""`xnli-robust compare A B`: a paired, item-by-item comparison of two results or two seed groups.

Both sides are scored on the same items, so differences are computed per item and resampled
jointly (a paired bootstrap that resamples XNLI items, keeping an item's versions in every
language and severity together); a McNemar exact test on the discordant items is reported too.  A side may be several result folders (seeds): an item's correctness is then the
mean over seeds (bootstrap) and the majority vote (McNemar), so seed spread narrows nothing it
should not.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from harness.core.errors import DataError
from harness.core.record import load_record

N_BOOTSTRAP = 2000
Key = tuple[str, str, str]  # (set, language, item id)


def load_predictions(folder: Path) -> tuple[dict[Key, tuple[str, str]], dict[str, Any]]:
    """(prediction, gold) per item from a result folder's predictions file, and its record."""
    result = folder / "result.json" if folder.is_dir() else folder
    record = load_record(result)
    path = result.parent / record["predictions"]["file"]
    if not path.is_file():
        raise DataError(f"{path}: predictions file missing (compare needs per-example predictions)")
    out = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            out[(row["set"], row["language"], row["id"])] = (row["pred"], row["gold"])
    return out, record


def load_correctness(folder: Path) -> tuple[dict[Key, bool], dict[str, Any]]:
    """Item-level correctness from a result folder's predictions file."""
    predictions, record = load_predictions(folder)
    return {key: pred == gold for key, (pred, gold) in predictions.items()}, record


def load_side(folders: Iterable[Path]) -> tuple[dict[Key, float], dict[Key, bool], list[dict[str, Any]]]:
    """Mean correctness over seeds, majority-vote correctness, and the records."""
    runs = [load_correctness(Path(f)) for f in folders]
    if not runs:
        raise DataError("a comparison side needs at least one result")
    keys = set.intersection(*(set(r) for r, _ in runs))
    mean = {k: float(np.mean([r[k] for r, _ in runs])) for k in keys}
    vote = {k: mean[k] > 0.5 for k in keys}
    return mean, vote, [rec for _, rec in runs]


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts b (A right only), c (B right only)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, float(2 * tail / 2 ** n)) if n < 5000 else _normal_p(b, c)


def _normal_p(b: int, c: int) -> float:
    z = (abs(b - c) - 1) / math.sqrt(b + c)
    return math.erfc(z / math.sqrt(2))


def _cluster_sums(keys: list[Key], series: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-item (pairID) counts and sums: the same item in several languages or severities is
    one cluster, because its versions are not independent draws."""
    clusters = {item: k for k, item in enumerate(sorted({key[2] for key in keys}))}
    index = np.array([clusters[key[2]] for key in keys])
    counts = np.bincount(index, minlength=len(clusters)).astype(np.float64)
    return counts, {name: np.bincount(index, weights=values, minlength=len(clusters)) for name, values in series.items()}


def _bootstrap(keys: list[Key], series: dict[str, np.ndarray], stat, seed: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Percentile interval of `stat(means)` under a cluster bootstrap over items."""
    counts, sums = _cluster_sums(keys, series)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(N_BOOTSTRAP // 200):
        idx = rng.integers(0, len(counts), size=(200, len(counts)))
        total = counts[idx].sum(axis=1)
        samples.append(stat({name: values[idx].sum(axis=1) / total for name, values in sums.items()}))
    low, high = np.percentile(np.concatenate(samples), [2.5, 97.5])
    return float(low), float(high)


def _group(keys: Iterable[Key]) -> dict[tuple[str, str], list[Key]]:
    """(family, language) -> keys; family is the part of the set name before '/'."""
    groups: dict[tuple[str, str], list[Key]] = defaultdict(list)
    for key in keys:
        groups[(key[0].split("/")[0], key[1])].append(key)
    return groups


def compare_cell(a: dict[Key, float], b: dict[Key, float], va: dict[Key, bool], vb: dict[Key, bool],
                 keys: list[Key], clean_keys: dict[Key, Key] | None, seed: int) -> dict[str, Any]:
    """Accuracy difference A-B on `keys` (and drop difference when clean twins are given)."""
    keys = sorted(keys)
    xa, xb = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    cell: dict[str, Any] = {"n": len(keys), "a": float(xa.mean()), "b": float(xb.mean()),
                            "diff": float(xa.mean() - xb.mean())}
    series = {"a": xa, "b": xb}
    cell["ci"] = _bootstrap(keys, series, lambda m: m["a"] - m["b"], seed)
    disc_b = sum(1 for k in keys if va[k] and not vb[k])
    disc_c = sum(1 for k in keys if vb[k] and not va[k])
    cell["mcnemar"] = {"a_only": disc_b, "b_only": disc_c, "p": mcnemar_p(disc_b, disc_c)}
    if clean_keys is not None:
        series["ca"] = np.array([a[clean_keys[k]] for k in keys])
        series["cb"] = np.array([b[clean_keys[k]] for k in keys])
        drop = lambda m: (m["ca"] - m["a"]) - (m["cb"] - m["b"])  # noqa: E731
        cell["drop_a"] = float(series["ca"].mean() - xa.mean())
        cell["drop_b"] = float(series["cb"].mean() - xb.mean())
        cell["drop_diff"] = float(drop({k: v.mean() for k, v in series.items()}))
        cell["drop_ci"] = _bootstrap(keys, series, drop, seed + 1)
    return cell


def compare(side_a: list[Path], side_b: list[Path], seed: int = 0) -> dict[str, Any]:
    a, va, rec_a = load_side(side_a)
    b, vb, rec_b = load_side(side_b)
    shared = sorted(set(a) & set(b))
    if not shared:
        raise DataError("the two sides share no scored items (different benchmarks or languages?)")
    cells: dict[str, dict[str, Any]] = defaultdict(dict)
    for (family, language), keys in sorted(_group(shared).items()):
        twins = None if family == "clean" else {k: ("clean", k[1], k[2]) for k in keys if ("clean", k[1], k[2]) in a}
        if twins is not None:
            keys = [k for k in keys if k in twins and twins[k] in b]
        if keys:
            cells[family][language] = compare_cell(a, b, va, vb, keys, twins, seed)
    overall = {family: compare_cell(a, b, va, vb, [k for k in shared if k[0].split("/")[0] == family],
                                    None if family == "clean" else {k: ("clean", k[1], k[2]) for k in shared},
                                    seed)
               for family in sorted(cells) if family == "clean" or all(("clean", k[1], k[2]) in a for k in shared if k[0].split("/")[0] == family)}
    report = {"a": [str(p) for p in side_a], "b": [str(p) for p in side_b], "n_shared": len(shared),
              "cells": dict(cells), "overall": overall}
    report["verdict"] = verdict(report, rec_a, rec_b)
    return report


def _name(records: list[dict[str, Any]]) -> str:
    training = records[0]["training"]
    regime = training["regime"] + (f" ({', '.join(training['intermediate_tasks'])})" if training["intermediate_tasks"] else "")
    return f"{regime}, {len(records)} seed{'s' if len(records) > 1 else ''}"


def verdict(report: dict[str, Any], rec_a: list[dict[str, Any]], rec_b: list[dict[str, Any]]) -> str:
    """One paragraph that states the differences with their uncertainty, without overclaiming."""
    parts = [f"A = {_name(rec_a)}; B = {_name(rec_b)}; {report['n_shared']} shared scored items."]
    clean = report["overall"].get("clean")
    if clean:
        parts.append(_sentence("Clean accuracy", clean["diff"], clean["ci"]))
    for family, cell in report["overall"].items():
        if family != "clean" and "drop_diff" in cell:
            parts.append(_sentence(f"Under {family} the accuracy drop", cell["drop_diff"], cell["drop_ci"],
                                   lower_is_better=True))
    parts.append("Intervals are 95% paired cluster bootstraps over XNLI items (an item's versions in every "
                 "language and severity resampled together); seeds enter as per-item mean correctness, so "
                 "seed-to-seed spread beyond that is not in the intervals, and McNemar tests treat the "
                 "item-language pairs as independent, which overstates their significance.")
    return " ".join(parts)


def _sentence(what: str, diff: float, ci: tuple[float, float], lower_is_better: bool = False) -> str:
    pts = f"{100 * diff:+.1f} points (95% CI {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})"
    if ci[0] <= 0 <= ci[1]:
        return f"{what} differs by {pts} (A minus B): not distinguishable from zero."
    better = (diff < 0) if lower_is_better else (diff > 0)
    return f"{what} differs by {pts} (A minus B): {'A' if better else 'B'} is better, and the interval excludes zero."


def render(report: dict[str, Any]) -> str:
    """Markdown tables of the comparison, then the verdict."""
    from tabulate import tabulate

    rows = []
    for family, by_language in report["cells"].items():
        for language, cell in by_language.items():
            rows.append([family, language, cell["n"], f"{100 * cell['a']:.1f}", f"{100 * cell['b']:.1f}",
                         f"{100 * cell['diff']:+.1f} [{100 * cell['ci'][0]:+.1f}, {100 * cell['ci'][1]:+.1f}]",
                         f"{cell['mcnemar']['p']:.3g}",
                         "" if "drop_diff" not in cell else
                         f"{100 * cell['drop_diff']:+.1f} [{100 * cell['drop_ci'][0]:+.1f}, {100 * cell['drop_ci'][1]:+.1f}]"])
    table = tabulate(rows, headers=["set", "lang", "n", "A %", "B %", "A-B [95% CI]", "McNemar p", "drop A-B [95% CI]"],
                     tablefmt="github", disable_numparse=True)
    return f"{table}\n\n{report['verdict']}\n"
