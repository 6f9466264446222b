"""`xnli-robust compare --seed-level`: inference that lets seed variance in.

The default `compare` averages a side's seeds per item before resampling items, so its intervals
say how sure we are about *these* models on other items, not about the recipe.  Here a seed is
the unit it is: the bootstrap resamples seeds within each side (with replacement) and then item
clusters shared by both sides (an item id's versions in every language and severity together),
and the tests compare the per-seed measures themselves (Welch's t-test and an exact permutation
test over seed labels).  With three seeds a side the smallest two-sided permutation p is
2/C(6,3) = 0.1, and the report says so.

Two shapes: one recipe against another (`compare_seeds`: Holm across the perturbation
families), or several recipes each against one baseline (`compare_recipes`: Holm across
families x recipes, see `adjust` for exactly which tests form one family).  A side with a single
seed gets no seed-level interval and no Welch p (there is no seed variance to estimate), only the
item-level interval and the permutation p, whose floor (1/(n+1) for 1 vs n seeds) is printed.

Measures, per family, pooled over its languages and severities (every seed of both sides scored
on the same items):

- `accuracy`: accuracy on the perturbed versions;
- `drop`: clean accuracy minus perturbed accuracy on the same items;
- `flip_rate`: share of perturbed versions whose prediction differs from the clean one;
- `loss_rate`: share of perturbed versions answered wrongly among those whose clean text every
  seed of both sides got right (one fixed item set, so both sides are measured on the same items);
- `worst_case`: share of clean items right on the clean text and on every version of it in the
  family (the records' `worst_case`, which takes all families at once, is the `all` row).

Rendering and the generated verdict are in `harness/metrics/seed_report.py`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import DataError
from harness.metrics.compare import Key, load_predictions

N_BOOTSTRAP = 2000
EXACT_LIMIT = 200_000  # relabelings enumerated exactly; beyond, a seeded Monte Carlo sample
MEASURES = ("accuracy", "drop", "flip_rate", "loss_rate", "worst_case")
TESTS = ("welch_p", "permutation_p")
WHOLE = ("clean", "all")  # rows that are not one perturbation family
ALPHA, POWER = 0.05, 0.8  # the level and power the detectable differences are stated for
PLANNED_SEEDS = 10  # the target per arm, for the power projection
SEED_SUFFIX = re.compile(r"-s\d+$")


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
             n: int = N_BOOTSTRAP) -> Resamples:
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


def recipe_name(name: str) -> str:
    """A submission or folder name without its `-sN` seed suffix (`direct-e5small-s2` -> `direct-e5small`).

    The one naming rule for "the seeds of one recipe": `compare --seed-level` labels its sides
    with it and the leaderboard falls back to it when a submission has no recipe file."""
    return SEED_SUFFIX.sub("", name)


def side_label(paths: Sequence[Path]) -> str:
    """The recipe name its seeds share, else their folder names joined."""
    resolved = [Path(p).resolve() for p in paths]
    names = [p.parent.name if p.name == "result.json" else p.name for p in resolved]
    stems = {recipe_name(n) for n in names}
    return stems.pop() if len(stems) == 1 else "+".join(names)


def detectable_difference(sd_a: float, sd_b: float, n_a: int, n_b: int,
                          alpha: float = ALPHA, power: float = POWER) -> float | None:
    """Smallest true A-B difference a two-sided Welch test at `alpha` finds with `power`, given seed sds.

    The usual normal-theory planning formula with t quantiles: (t[1-alpha/2] + t[power]) * SE,
    SE and degrees of freedom as in Welch's test.  None when a side has one seed or neither spreads."""
    from scipy import stats

    if n_a < 2 or n_b < 2:
        return None
    ea, eb = sd_a ** 2 / n_a, sd_b ** 2 / n_b
    if ea + eb == 0:
        return None
    df = (ea + eb) ** 2 / (ea ** 2 / (n_a - 1) + eb ** 2 / (n_b - 1))
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * math.sqrt(ea + eb))


def _sd(values: np.ndarray) -> float | None:
    return float(values.std(ddof=1)) if len(values) > 1 else None


def _power(sa: np.ndarray, sb: np.ndarray) -> dict[str, Any]:
    """Seed sds and detectable differences now and with `PLANNED_SEEDS` a side.

    A one-seed side has no sd of its own: the projection then assumes it spreads like the other
    side (`mdd_basis` says so); the current design gets none."""
    sd_a, sd_b = _sd(sa), _sd(sb)
    now = detectable_difference(sd_a, sd_b, len(sa), len(sb)) if sd_a is not None and sd_b is not None else None
    basis = "observed" if sd_a is not None and sd_b is not None else "other side's sd for the one-seed side"
    pa, pb = (sd_a if sd_a is not None else sd_b), (sd_b if sd_b is not None else sd_a)
    planned = (detectable_difference(pa, pb, PLANNED_SEEDS, PLANNED_SEEDS)
               if pa is not None and pb is not None else None)
    return {"sd_a": sd_a, "sd_b": sd_b, "mdd": now, f"mdd_{PLANNED_SEEDS}": planned, "mdd_basis": basis}


def compare_seeds(side_a: Sequence[Path], side_b: Sequence[Path], seed: int = 0) -> dict[str, Any]:
    """One recipe against another: per family and measure, A, B, A-B with two intervals and tests,
    Holm-adjusted across the perturbation families (`compare_recipes` widens that to recipes)."""
    arm = _arm(side_a, side_b, seed)
    holm_families = adjust([arm])
    return {**arm, "holm_families": holm_families}


def compare_recipes(arms: Sequence[Sequence[Path]], baseline: Sequence[Path], seed: int = 0) -> dict[str, Any]:
    """Several recipes each against one baseline, Holm-adjusted across families x recipes.

    Every arm is compared with the baseline on the items both score; the tests of one measure
    (one test kind: Welch or permutation) over every perturbation family of every arm form one
    Holm family, clean accuracy over the arms another, and worst case over all families another."""
    if not arms:
        raise DataError("compare --baseline needs at least one group to compare against the baseline")
    reports = [_arm(a, baseline, seed) for a in arms]
    holm_families = adjust(reports)
    return {"baseline": [str(p) for p in baseline], "baseline_label": side_label(baseline),
            "arms": reports, "holm_families": holm_families, "n_bootstrap": N_BOOTSTRAP, "bootstrap_seed": seed}


def _arm(side_a: Sequence[Path], side_b: Sequence[Path], seed: int) -> dict[str, Any]:
    """Rows for one A-vs-B comparison, without any multiplicity correction yet."""
    keys, gold, a, b = load_sides(side_a, side_b)
    by_family = tables(keys, gold, a, b)
    n_clusters = len(next(iter(by_family["clean"].values())).counts)
    n_a, n_b = len(a.pred), len(b.pred)
    seed_level = min(n_a, n_b) >= 2
    hierarchical = Resamples.draw(n_clusters, n_a, n_b, seed)
    items_only = Resamples.draw(n_clusters, n_a, n_b, seed, resample_seeds=False)
    rows = []
    for family, measures in by_family.items():
        for measure, table in measures.items():
            va, vb = point(table)
            sa, sb = per_seed(table)
            rows.append({"family": family, "measure": measure, "n": int(table.counts.sum()),
                         "a": va, "b": vb, "diff": va - vb,
                         "ci": interval(table, hierarchical) if seed_level else None,
                         "ci_items_only": interval(table, items_only),
                         "seeds_a": sa.tolist(), "seeds_b": sb.tolist(),
                         "welch_p": welch_p(sa, sb), "permutation_p": permutation_p(sa, sb, seed),
                         **_power(sa, sb)})
    return {"a": [str(p) for p in side_a], "b": [str(p) for p in side_b],
            "label_a": side_label(side_a), "label_b": side_label(side_b), "seeds": [n_a, n_b],
            "seed_level": seed_level, "why_not": None if seed_level else ONE_SEED,
            "n_shared": len(keys), "n_bootstrap": N_BOOTSTRAP, "bootstrap_seed": seed, "rows": rows,
            "min_permutation_p": permutation_min_p(n_a, n_b),
            "n_families": len([f for f in by_family if f not in WHOLE])}


ONE_SEED = ("a side has one seed: its seed-to-seed variance cannot be estimated, so there is no seed-level "
            "interval and no Welch test; the item-level interval covers these particular models only")


def _scope(family: str) -> str:
    return family if family in WHOLE else "families"


def adjust(arms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holm-adjust every row's Welch and permutation p in place, and describe each family of tests.

    A family of tests is one test kind on one measure over one scope: the perturbation families
    of every arm together, or the clean row of every arm, or the every-family worst case of every
    arm.  Tests without a p (Welch on a one-seed side) are not in it.  Each row also gets the
    smallest adjusted permutation p its family can reach (m times the smallest raw p possible)."""
    groups: dict[tuple[str, str, str], list[tuple[dict[str, Any], float]]] = {}
    for arm in arms:
        for row in arm["rows"]:
            for test in TESTS:
                groups.setdefault((_scope(row["family"]), row["measure"], test), []).append(
                    (row, arm["min_permutation_p"]))
    described = []
    for (scope, measure, test), members in groups.items():
        adjusted = holm([row[test] for row, _ in members])
        m = sum(p is not None for p in adjusted)
        for (row, _), value in zip(members, adjusted):
            row[f"{test}_holm"] = value
            row[f"{test}_holm_m"] = m
        if test == "permutation_p":
            reachable = min(1.0, m * min(p for _, p in members)) if m else None
            for row, _ in members:
                row["permutation_p_holm_min"] = reachable
        described.append({"scope": scope, "measure": measure, "test": test, "m": m})
    return described
