"""`xnli-robust compare A1,A2,A3 B1,B2,B3 --seed-level`: inference that lets seed variance in.

The default `compare` averages a side's seeds per item before resampling items, so its intervals
say how sure we are about *these* models on other items, not about the recipe.  Here a seed is
the unit it is: the bootstrap resamples seeds within each side (with replacement) and then item
clusters shared by both sides (an item id's versions in every language and severity together),
and the tests compare the per-seed measures themselves (Welch's t-test and an exact permutation
test over seed labels), Holm-corrected across families.  With three seeds a side the smallest
two-sided permutation p is 2/C(6,3) = 0.1, and the report says so.

Measures, per family, pooled over its languages and severities (every seed of both sides scored
on the same items):

- `accuracy`: accuracy on the perturbed versions;
- `drop`: clean accuracy minus perturbed accuracy on the same items;
- `flip_rate`: share of perturbed versions whose prediction differs from the clean one;
- `loss_rate`: share of perturbed versions answered wrongly among those whose clean text every
  seed of both sides got right (one fixed item set, so both sides are measured on the same items);
- `worst_case`: share of clean items right on the clean text and on every version of it in the
  family (the records' `worst_case`, which takes all families at once, is the `all` row).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.core.errors import DataError
from harness.metrics.compare import Key, load_predictions

N_BOOTSTRAP = 2000
EXACT_LIMIT = 200_000  # relabelings enumerated exactly; beyond, a seeded Monte Carlo sample
MEASURES = ("accuracy", "drop", "flip_rate", "loss_rate", "worst_case")


@dataclass(frozen=True)
class Side:
    """One side's predictions as a (seed, key) matrix of label codes on the shared keys."""

    pred: np.ndarray  # (n_seeds, n_keys) int
    records: list[dict[str, Any]]


@dataclass(frozen=True)
class Table:
    """One measure on one family as per-seed cluster sums: value = sums[s] @ w / (counts @ w)."""

    sums_a: np.ndarray  # (n_seeds_a, n_clusters)
    sums_b: np.ndarray  # (n_seeds_b, n_clusters)
    counts: np.ndarray  # (n_clusters,)


def load_sides(side_a: Sequence[Path], side_b: Sequence[Path]) -> tuple[list[Key], np.ndarray, Side, Side]:
    """Shared keys (scored by every seed of both sides), gold codes, and the two sides."""
    if not side_a or not side_b:
        raise DataError("a comparison side needs at least one result")
    runs_a = [load_predictions(Path(f)) for f in side_a]
    runs_b = [load_predictions(Path(f)) for f in side_b]
    runs = runs_a + runs_b
    keys = sorted(set.intersection(*(set(r) for r, _ in runs)))
    if not keys:
        raise DataError("the two sides share no scored items (different benchmarks or languages?)")
    labels = {name: k for k, name in enumerate(sorted({p for r, _ in runs for pg in r.values() for p in pg}))}
    gold = np.array([labels[runs[0][0][k][1]] for k in keys])
    def side(group: list[tuple[dict[Key, tuple[str, str]], dict[str, Any]]]) -> Side:
        return Side(np.array([[labels[r[k][0]] for k in keys] for r, _ in group]), [rec for _, rec in group])
    return keys, gold, side(runs_a), side(runs_b)


def family_of(key: Key) -> str:
    return key[0].split("/")[0]


def _sums(values: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-seed cluster sums of a (n_seeds, n_units) matrix."""
    return np.stack([np.bincount(cluster, weights=row, minlength=n_clusters) for row in values.astype(np.float64)])


def tables(keys: list[Key], gold: np.ndarray, a: Side, b: Side) -> dict[str, dict[str, Table]]:
    """family -> measure -> Table (clean gets accuracy only; `all` gets worst_case only)."""
    ids = {item: c for c, item in enumerate(sorted({k[2] for k in keys}))}
    position = {k: i for i, k in enumerate(keys)}
    both = np.concatenate([a.pred, b.pred])
    right = both == gold
    out: dict[str, dict[str, Table]] = {}
    def table(units: list[int], values: np.ndarray) -> Table:
        cluster = np.array([ids[keys[u][2]] for u in units], dtype=np.int64)
        sums = _sums(values, cluster, len(ids))
        return Table(sums[: len(a.pred)], sums[len(a.pred):], np.bincount(cluster, minlength=len(ids)).astype(np.float64))
    clean = [i for i, k in enumerate(keys) if k[0] == "clean"]
    out["clean"] = {"accuracy": table(clean, right[:, clean])}
    all_right = right.copy()
    for family in sorted({family_of(k) for k in keys} - {"clean"}):
        units = [i for i, k in enumerate(keys) if family_of(k) == family and ("clean", k[1], k[2]) in position]
        if not units:
            continue
        twin = np.array([position[("clean", keys[u][1], keys[u][2])] for u in units])
        hit, clean_hit = right[:, units], right[:, twin]
        safe = clean_hit.all(axis=0)
        measures = {"accuracy": table(units, hit), "drop": table(units, clean_hit.astype(int) - hit),
                    "flip_rate": table(units, both[:, units] != both[:, twin])}
        if safe.any():
            measures["loss_rate"] = table([u for u, s in zip(units, safe) if s], ~hit[:, safe])
        worst = right[:, sorted(set(twin))].copy()
        column = {t: j for j, t in enumerate(sorted(set(twin)))}
        for u, t in zip(units, twin):
            worst[:, column[t]] &= right[:, u]
            all_right[:, t] &= right[:, u]
        measures["worst_case"] = table(sorted(set(twin.tolist())), worst)
        out[family] = measures
    out["all"] = {"worst_case": table(clean, all_right[:, clean])}
    return out


def point(table: Table) -> tuple[float, float]:
    """Each side's measure: the mean over its seeds of the per-seed value on all items."""
    total = table.counts.sum()
    return float(table.sums_a.sum(axis=1).mean() / total), float(table.sums_b.sum(axis=1).mean() / total)


def per_seed(table: Table) -> tuple[np.ndarray, np.ndarray]:
    total = table.counts.sum()
    return table.sums_a.sum(axis=1) / total, table.sums_b.sum(axis=1) / total


def _multiplicity(rng: np.random.Generator, n: int, rows: int) -> np.ndarray:
    """(rows, n) counts of how often each of n things was drawn in n draws with replacement."""
    draws = rng.integers(0, n, size=(rows, n))
    out = np.zeros((rows, n))
    np.add.at(out, (np.repeat(np.arange(rows), n), draws.ravel()), 1)
    return out


@dataclass(frozen=True)
class Resamples:
    """One set of bootstrap draws shared by every measure, so their intervals are coherent."""

    items: np.ndarray  # (B, n_clusters)
    seeds_a: np.ndarray  # (B, n_seeds_a)
    seeds_b: np.ndarray  # (B, n_seeds_b)

    @classmethod
    def draw(cls, n_clusters: int, n_a: int, n_b: int, seed: int, resample_seeds: bool = True,
             n: int = N_BOOTSTRAP) -> "Resamples":
        rng = np.random.default_rng(seed)
        items = _multiplicity(rng, n_clusters, n)
        if not resample_seeds:
            return cls(items, np.ones((n, n_a)), np.ones((n, n_b)))
        return cls(items, _multiplicity(rng, n_a, n), _multiplicity(rng, n_b, n))


def interval(table: Table, draws: Resamples) -> tuple[float, float]:
    """95% percentile interval of A minus B under the given draws."""
    with np.errstate(invalid="ignore", divide="ignore"):
        total = draws.items @ table.counts
        va = ((draws.seeds_a @ table.sums_a) * draws.items).sum(axis=1) / draws.seeds_a.sum(axis=1) / total
        vb = ((draws.seeds_b @ table.sums_b) * draws.items).sum(axis=1) / draws.seeds_b.sum(axis=1) / total
    low, high = np.nanpercentile(va - vb, [2.5, 97.5])
    return float(low), float(high)


def welch_p(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Two-sided Welch t-test p-value; None when a side has fewer than two seeds or neither spreads.

    t and its Welch-Satterthwaite degrees of freedom are computed here (scipy's own test warns
    on a side whose seeds agree exactly, which is common); scipy gives the t tail."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return None
    ex, ey = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    if ex + ey == 0:
        return None
    t = (x.mean() - y.mean()) / math.sqrt(ex + ey)
    df = (ex + ey) ** 2 / (ex ** 2 / (len(x) - 1) + ey ** 2 / (len(y) - 1))
    return float(2 * stats.t.sf(abs(t), df))


def permutation_min_p(n_a: int, n_b: int) -> float:
    """Smallest two-sided p the exact permutation test can give with n_a vs n_b seeds.

    Every relabeling is as likely as the observed one; with equal sides a relabeling and its
    mirror give the same |difference|, so the extreme value is reached twice."""
    return (2 if n_a == n_b else 1) / math.comb(n_a + n_b, n_a)


def permutation_p(x: Sequence[float], y: Sequence[float], seed: int = 0) -> float:
    """Two-sided permutation p of |mean(x) - mean(y)| over relabelings of the seeds.

    Exact when there are at most `EXACT_LIMIT` relabelings; otherwise a seeded Monte Carlo
    estimate with the observed labeling counted (so p is never 0)."""
    values = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
    n, n_a = len(values), len(x)
    total = values.sum()
    observed = abs(values[:n_a].mean() - values[n_a:].mean())
    if math.comb(n, n_a) <= EXACT_LIMIT:
        groups = np.array(list(itertools.combinations(range(n), n_a)), dtype=np.int64)
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        groups = np.argsort(rng.random((100_000, n)), axis=1)[:, :n_a]
        extra = 1
    sums = values[groups].sum(axis=1)
    stats_ = np.abs(sums / n_a - (total - sums) / (n - n_a))
    hits = int(np.count_nonzero(stats_ >= observed - 1e-12 * max(1.0, abs(observed))))
    return (hits + extra) / (len(groups) + extra)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (None entries are skipped and stay None)."""
    kept = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(kept):
        running = max(running, min(1.0, (len(kept) - rank) * p))
        out[i] = running
    return out


def compare_seeds(side_a: Sequence[Path], side_b: Sequence[Path], seed: int = 0) -> dict[str, Any]:
    """Seed-level comparison report: per family and measure, A, B, A-B with two intervals and tests."""
    keys, gold, a, b = load_sides(side_a, side_b)
    by_family = tables(keys, gold, a, b)
    n_clusters = len(next(iter(by_family["clean"].values())).counts)
    n_a, n_b = len(a.pred), len(b.pred)
    hierarchical = Resamples.draw(n_clusters, n_a, n_b, seed)
    items_only = Resamples.draw(n_clusters, n_a, n_b, seed, resample_seeds=False)
    rows = []
    for family, measures in by_family.items():
        for measure, table in measures.items():
            va, vb = point(table)
            sa, sb = per_seed(table)
            rows.append({"family": family, "measure": measure, "n": int(table.counts.sum()),
                         "a": va, "b": vb, "diff": va - vb, "ci": interval(table, hierarchical),
                         "ci_items_only": interval(table, items_only),
                         "seeds_a": sa.tolist(), "seeds_b": sb.tolist(),
                         "welch_p": welch_p(sa, sb), "permutation_p": permutation_p(sa, sb, seed)})
    for measure in MEASURES:  # Holm across the perturbation families, one measure at a time
        group = [r for r in rows if r["measure"] == measure and r["family"] not in ("clean", "all")]
        for test in ("welch_p", "permutation_p"):
            for row, adjusted in zip(group, holm([r[test] for r in group])):
                row[f"{test}_holm"] = adjusted
    n_families = len([f for f in by_family if f not in ("clean", "all")])
    min_p = permutation_min_p(n_a, n_b)
    return {"a": [str(p) for p in side_a], "b": [str(p) for p in side_b], "seeds": [n_a, n_b],
            "n_shared": len(keys), "n_bootstrap": N_BOOTSTRAP, "bootstrap_seed": seed, "rows": rows,
            "min_permutation_p": min_p, "min_permutation_p_holm": min(1.0, n_families * min_p),
            "n_families": n_families}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _ci(ci: tuple[float, float]) -> str:
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def render_seeds(report: dict[str, Any]) -> str:
    """Markdown table of the seed-level comparison, then what its p-values can and cannot say."""
    from tabulate import tabulate

    rows = [[r["family"], r["measure"], r["n"], _pct(r["a"]), _pct(r["b"]), f"{100 * r['diff']:+.1f}",
             _ci(r["ci"]), _ci(r["ci_items_only"]), _p(r["welch_p"]), _p(r.get("welch_p_holm")),
             _p(r["permutation_p"]), _p(r.get("permutation_p_holm"))] for r in report["rows"]]
    table = tabulate(rows, headers=["family", "measure", "n", "A %", "B %", "A-B", "95% CI seeds+items",
                                    "95% CI items only", "Welch p", "Holm", "perm. p", "Holm"],
                     tablefmt="github", disable_numparse=True)
    n_a, n_b = report["seeds"]
    notes = (f"{n_a} vs {n_b} seeds, {report['n_shared']} shared scored items. Intervals: {report['n_bootstrap']} "
             "hierarchical bootstrap draws (seeds resampled within each side, then XNLI items with their versions "
             "in every language and severity together); the items-only column keeps every seed once. Tests compare "
             "the per-seed measures: Welch's t-test and an exact permutation test over seed labels; Holm adjusts "
             f"across the {report['n_families']} perturbation families, per measure. The smallest permutation p this "
             f"design can reach is {report['min_permutation_p']:.3g} ({report['min_permutation_p_holm']:.3g} after "
             "Holm), so with few seeds no difference can be called significant by that test; Welch's p rests on "
             "normality of a handful of seed values. Percentages are pooled over the family's languages and "
             "severities; loss_rate is on versions of clean items every seed of both sides got right.")
    return f"{table}\n\n{notes}\n"
