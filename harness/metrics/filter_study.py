"""Is the similarity filter independent of the models it is used to test?  (issue #14, item 5)

The benchmark's filter keeps a perturbed item only if multilingual-e5-small finds it similar
enough to the original, and the reference models are fine-tuned from that same encoder.  The
worry: the filter may drop exactly the items those models get wrong, so that the benchmark
under-reports their drop.  This study answers it from three item sets per unit, all made by
the same generation code with the same seed:

- **none**: every candidate (the spec generated with the filter switched off);
- **e5**: the candidates the benchmark kept;
- **chrF**: a filter that is not e5 -- the same number of candidates dropped per unit, those
  with the lowest character n-gram F-score (sacrebleu's sentence chrF, min over the changed
  sentences, as the e5 filter takes the min cosine).

For every model it reports drop (clean minus perturbed accuracy on the same items) and flip
rate under each filter, and the flip rate on what each filter drops.  If e5 dropped items the
e5 models fail on more than a surface-similarity filter of the same size does, the e5-dropped
flip rate is higher than the chrF-dropped one; the report gives that difference per arm with an
item bootstrap.  Only ids and numbers are written, never text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import DataError
from harness.data.benchmark import Benchmark, PerturbedItem

FILTERS = ("none", "e5", "chrf")
N_BOOTSTRAP = 2000


@dataclass(frozen=True)
class Candidate:
    """One perturbed candidate of a unit and which filters keep it."""

    family: str
    severity: str
    language: str
    id: str
    e5: float | None
    chrf: float
    kept: dict[str, bool]


def chrf_similarity(item: PerturbedItem) -> float:
    """Sentence chrF (0-1) of the perturbed text against the original, min over changed sides.

    An unchanged item scores 1.0, like the e5 filter's cosine of an unchanged sentence.
    """
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    scores = [metric.sentence_score(new, [old]).score / 100.0
              for old, new in ((item.original.premise, item.example.premise),
                               (item.original.hypothesis, item.example.hypothesis)) if old != new]
    return min(scores) if scores else 1.0


def unit_candidates(filtered: Benchmark, unfiltered: Benchmark, family: str, severity: str,
                    language: str) -> list[Candidate]:
    """The unit's candidates with the keep decision of each filter.

    The unfiltered benchmark must hold, for every kept item, byte-identical text: the filter
    is then the only difference between the two, which is what the study relies on.
    """
    kept = {p.example.id: p for p in filtered.perturbed(family, severity, language)}
    sims = filtered.similarities(family, severity, language)
    items = unfiltered.perturbed(family, severity, language)
    for item in items:
        other = kept.get(item.example.id)
        if other is not None and other.example != item.example:
            raise DataError(f"{family}/{severity}/{language} item {item.example.id}: the unfiltered "
                            "benchmark's text differs from the kept item's (not the same generation)")
    missing = set(kept) - {i.example.id for i in items}
    if missing:
        raise DataError(f"{family}/{severity}/{language}: kept items absent from the unfiltered "
                        f"benchmark ({len(missing)}, e.g. {sorted(missing)[0]})")
    chrf = {i.example.id: chrf_similarity(i) for i in items}
    n_drop = len(items) - len(kept)
    chrf_dropped = {i for i, _ in sorted(chrf.items(), key=lambda kv: (kv[1], kv[0]))[:n_drop]}
    return [Candidate(family, severity, language, i.example.id, sims.get(i.example.id), chrf[i.example.id],
                      {"none": True, "e5": i.example.id in kept, "chrf": i.example.id not in chrf_dropped})
            for i in items]


def all_candidates(filtered: Benchmark, unfiltered: Benchmark) -> list[Candidate]:
    """Candidates of every unit of the filtered benchmark."""
    out: list[Candidate] = []
    for unit in filtered.units():
        out.extend(unit_candidates(filtered, unfiltered, unit.family, unit.severity, unit.language))
    return out


# ---- per-model outcomes ------------------------------------------------------------------------

Predictions = Mapping[tuple[str, str, str], tuple[str, str]]
"""(set, language, id) -> (prediction, gold), as `compare.load_predictions` reads them."""


def outcomes(candidates: Sequence[Candidate], predictions: Predictions) -> np.ndarray:
    """Per candidate: [clean correct, perturbed correct, flipped] as 0/1 floats.

    A candidate the model has no prediction for is an error: the predictions must come from a
    run on the unfiltered benchmark (which holds every candidate).
    """
    rows = np.zeros((len(candidates), 3))
    for k, c in enumerate(candidates):
        clean = predictions.get(("clean", c.language, c.id))
        pert = predictions.get((f"{c.family}/{c.severity}", c.language, c.id))
        if clean is None or pert is None:
            raise DataError(f"no prediction for {c.family}/{c.severity}/{c.language} item {c.id}: "
                            "score the unfiltered benchmark")
        rows[k] = (clean[0] == clean[1], pert[0] == pert[1], clean[0] != pert[0])
    return rows


def cell_measures(rows: np.ndarray, mask: np.ndarray) -> dict[str, float | int]:
    """Drop (points), flip rate (%) and n over the masked candidates."""
    n = int(mask.sum())
    if n == 0:
        return {"n": 0, "drop": math.nan, "flip_rate": math.nan}
    sub = rows[mask]
    return {"n": n, "drop": 100.0 * float(sub[:, 0].mean() - sub[:, 1].mean()),
            "flip_rate": 100.0 * float(sub[:, 2].mean())}


def masks(candidates: Sequence[Candidate]) -> dict[str, np.ndarray]:
    """Kept by each filter, and dropped by e5 / by chrF (the sets the filters disagree on)."""
    kept = {f: np.array([c.kept[f] for c in candidates], dtype=bool) for f in FILTERS}
    return {**{f"kept_{f}": kept[f] for f in FILTERS},
            "dropped_e5": ~kept["e5"], "dropped_chrf": ~kept["chrf"]}


def bootstrap_difference(a: np.ndarray, b: np.ndarray, clusters: np.ndarray, seed: int,
                         n_boot: int = N_BOOTSTRAP) -> tuple[float, float]:
    """95% interval of mean(a) - mean(b) over two item sets, resampling XNLI item clusters.

    `a`, `b`: per-candidate values, NaN where a candidate is not in that set; `clusters`: the
    item id of each candidate (an item's versions in several units move together).
    """
    ids, inverse = np.unique(clusters, return_inverse=True)
    rng = np.random.default_rng(seed)
    sums = np.zeros((2, len(ids)))
    counts = np.zeros((2, len(ids)))
    for row, values in enumerate((a, b)):
        present = ~np.isnan(values)
        np.add.at(sums[row], inverse[present], values[present])
        np.add.at(counts[row], inverse[present], 1.0)
    draws = rng.integers(0, len(ids), size=(n_boot, len(ids)))
    weights = np.apply_along_axis(np.bincount, 1, draws, minlength=len(ids)).astype(float)
    n = weights @ counts.T
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, (weights @ sums.T) / n, np.nan)  # a draw missing a set says nothing
    low, high = np.nanpercentile(mean[:, 0] - mean[:, 1], [2.5, 97.5])
    return float(low), float(high)


def study(candidates: Sequence[Candidate], models: Mapping[str, tuple[str, Predictions]],
          seed: int = 0) -> dict[str, Any]:
    """The whole report: filter overlap per family, and per model and arm the measures."""
    m = masks(candidates)
    families = sorted({c.family for c in candidates})
    fam = {f: np.array([c.family == f for c in candidates]) for f in families}
    clusters = np.array([c.id for c in candidates])
    per_model = {}
    for name, (arm, preds) in sorted(models.items()):
        rows = outcomes(candidates, preds)
        per_model[name] = {"arm": arm, "families": {
            f: {key: cell_measures(rows, m[key] & fam[f]) for key in m} for f in families}}
        flips = rows[:, 2] * 100.0
        for f in families:
            a = np.where(m["dropped_e5"] & fam[f], flips, np.nan)
            b = np.where(m["dropped_chrf"] & fam[f], flips, np.nan)
            ci = bootstrap_difference(a, b, clusters, seed) if np.any(~np.isnan(a)) and np.any(~np.isnan(b)) else None
            per_model[name]["families"][f]["dropped_flip_difference_ci"] = ci
    return {"overlap": _overlap(candidates, families, m), "models": per_model,
            "arms": _arms(per_model, families), "n_candidates": len(candidates), "seed": seed,
            "n_bootstrap": N_BOOTSTRAP}


def _overlap(candidates: Sequence[Candidate], families: Iterable[str], m: Mapping[str, np.ndarray]
             ) -> dict[str, dict[str, Any]]:
    """Per family: candidates, how many each filter drops, and how many both drop."""
    out = {}
    for f in families:
        sel = np.array([c.family == f for c in candidates])
        both = int((m["dropped_e5"] & m["dropped_chrf"] & sel).sum())
        n_e5 = int((m["dropped_e5"] & sel).sum())
        out[f] = {"candidates": int(sel.sum()), "dropped": n_e5, "dropped_by_both": both,
                  "drop_rate": 100.0 * n_e5 / max(int(sel.sum()), 1),
                  "agreement_on_dropped": (100.0 * both / n_e5) if n_e5 else math.nan}
    return out


def _arms(per_model: Mapping[str, Any], families: Sequence[str]) -> dict[str, Any]:
    """Seed means per arm (mean over the arm's models) of every measure."""
    arms: dict[str, list[str]] = {}
    for name, entry in per_model.items():
        arms.setdefault(entry["arm"], []).append(name)
    out = {}
    for arm, names in sorted(arms.items()):
        out[arm] = {"models": sorted(names), "families": {}}
        for f in families:
            cell = {}
            for key in per_model[names[0]]["families"][f]:
                if key == "dropped_flip_difference_ci":
                    continue
                for measure in ("drop", "flip_rate"):
                    values = [per_model[n]["families"][f][key][measure] for n in names]
                    cell.setdefault(key, {})[measure] = float(np.mean(values))
                    cell[key][f"{measure}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
                cell[key]["n"] = per_model[names[0]]["families"][f][key]["n"]
            out[arm]["families"][f] = cell
    return out


# ---- report ------------------------------------------------------------------------------------

def render(report: Mapping[str, Any], title: str, sources: Mapping[str, str]) -> str:
    """Markdown: overlap, drops under each filter per arm, and flips on what each filter drops."""
    lines = [f"# {title}", "", "_Generated by `python -m harness.metrics.filter_study`; do not edit by hand._", ""]
    lines += [f"- {k}: {v}" for k, v in sources.items()]
    lines += ["", "## What each filter drops", "",
              "| family | candidates | e5 drops | drop rate | chrF (same count) also drops |",
              "|---|---|---|---|---|"]
    for f, o in report["overlap"].items():
        lines.append(f"| {f} | {o['candidates']} | {o['dropped']} | {o['drop_rate']:.1f}% | "
                     f"{o['dropped_by_both']} ({_num(o['agreement_on_dropped'])}%) |")
    lines += ["", "## Drop and flip rate under each filter (arm means over seeds)", "",
              ("Drop: clean minus perturbed accuracy on the same items, points; flip: % of items whose "
               "prediction changes. `kept by` a filter is the benchmark that filter would make."), "",
              ("| arm (seeds) | family | drop: no filter | drop: e5 (the benchmark) | drop: chrF | "
               "flip: no filter | flip: e5 | flip: chrF | flip on e5-dropped | flip on chrF-dropped |"),
              "|---|---|---|---|---|---|---|---|---|---|"]
    for arm, entry in report["arms"].items():
        for f, cell in entry["families"].items():
            lines.append(f"| {arm} ({len(entry['models'])}) | {f} | " + " | ".join(
                [_num(cell[f"kept_{k}"]["drop"]) for k in FILTERS]
                + [_num(cell[f"kept_{k}"]["flip_rate"]) for k in FILTERS]
                + [_num(cell["dropped_e5"]["flip_rate"]), _num(cell["dropped_chrf"]["flip_rate"])]) + " |")
    lines += ["", "## Per model: flip on e5-dropped minus flip on chrF-dropped", "",
              "95% interval from a bootstrap over XNLI items (an item's units resampled together).", "",
              "| model | arm | family | e5-dropped flip | chrF-dropped flip | difference [95% CI] |",
              "|---|---|---|---|---|---|"]
    for name, entry in report["models"].items():
        for f, cell in entry["families"].items():
            a, b = cell["dropped_e5"]["flip_rate"], cell["dropped_chrf"]["flip_rate"]
            ci = cell["dropped_flip_difference_ci"]
            span = f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else ""
            lines.append(f"| {name} | {entry['arm']} | {f} | {_num(a)} | {_num(b)} | {_num(a - b, sign=True)}{span} |")
    return "\n".join(lines) + "\n"


def _num(value: float | None, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.1f}" if sign else f"{value:.1f}"


# ---- command line ------------------------------------------------------------------------------

def arm_of(record: Mapping[str, Any]) -> str:
    """A record's arm: its regime and intermediate tasks (seeds of one recipe share it)."""
    training = record.get("training") or {}
    tasks = training.get("intermediate_tasks") or []
    return training.get("regime", "unknown") + (f"-{'+'.join(tasks)}" if tasks else "")


def report_stem(out: Path) -> Path:
    """The report path without .md/.json: a name with dots (`FILTER-v2.1-lite`) keeps them all."""
    return out.with_suffix("") if out.suffix in (".md", ".json") else out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study on a filtered benchmark, its unfiltered twin and bench runs on the twin."""
    import argparse
    import json

    from harness.core.atomic import atomic_write_text
    from harness.data.benchmark import load_benchmark
    from harness.metrics.compare import load_predictions

    parser = argparse.ArgumentParser(prog="python -m harness.metrics.filter_study", description=__doc__.split("\n")[0])
    parser.add_argument("--filtered", type=Path, required=True, help="the benchmark (e5 filter on)")
    parser.add_argument("--unfiltered", type=Path, required=True, help="the same spec generated with the filter off")
    parser.add_argument("--runs", type=Path, nargs="+", required=True,
                        help="bench output folders of the models, scored on the unfiltered benchmark")
    parser.add_argument("--out", type=Path, required=True, help="report path; .json and .md are written")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    filtered = load_benchmark(args.filtered)
    unfiltered = load_benchmark(args.unfiltered, verify_files=False)
    candidates = all_candidates(filtered, unfiltered)
    models = {}
    for folder in args.runs:
        preds, record = load_predictions(folder)
        models[Path(record["model"]["id"]).name] = (arm_of(record), preds)
    report = study(candidates, models, seed=args.seed)
    report["filtered_benchmark"] = {"id": filtered.id, "hash": filtered.benchmark_hash}
    report["unfiltered_benchmark_hash"] = unfiltered.benchmark_hash
    sources = {"benchmark": f"{filtered.id} ({filtered.benchmark_hash[:12]}…)",
               "unfiltered twin": f"same spec, similarity: null ({unfiltered.benchmark_hash[:12]}…)",
               "candidates": str(report["n_candidates"]), "models": ", ".join(sorted(models))}
    stem = report_stem(args.out)
    atomic_write_text(stem.with_name(stem.name + ".json"), json.dumps(report, indent=1, sort_keys=True, allow_nan=True) + "\n")
    atomic_write_text(stem.with_name(stem.name + ".md"), render(report, f"Filter independence: {filtered.id}", sources))
    print(f"wrote {stem}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
