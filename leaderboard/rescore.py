"""Re-score committed submissions on a new benchmark version, reusing what did not change.

Why: v1.1 changed how back-translations are made (and, in principle, near-threshold keep/drop
decisions), and v1.2 only how Apertium is run, not the code of the other families, so an item
of another family whose id is still in the new version has exactly the text it had before, and
the committed prediction for it is the model's answer to that text.  Those predictions seed the prediction cache under the model's
identity key and the item's text hash -- the same key `bench` looks up -- and then `bench`
runs as usual: unchanged items are cache hits, everything else (back-translation, any item
new to a unit) is scored by the model here.  The record's `inference.cache` says how many of
each; nothing is copied into a record without going through `bench`.  (The model is loaded
twice, once for its cache key and once by `bench`: seconds, in a one-off migration.)

    python -m leaderboard.rescore --benchmark runs/xnli-robust-v1.2-lite --out runs/rescore-v1.2 \
        submissions/direct-e5small-s1 submissions/stilts-anli-e5small-s1 ...
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

REUSABLE = ("clean", "char_noise", "synonym", "code_switch", "code_switch_sentence")
"""Sets whose text is a function of the item alone, with code unchanged from v1 through v1.2."""


def old_predictions(folder: Path) -> dict[tuple[str, str, str], np.ndarray]:
    """(set, language, id) -> probabilities, from a submission's committed predictions file."""
    out = {}
    with gzip.open(folder / "predictions.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            out[(row["set"], row["language"], row["id"])] = np.asarray(row["probs"], dtype=np.float32)
    return out


def reusable_pairs(bench: Any, old: dict[tuple[str, str, str], np.ndarray]
                   ) -> tuple[list[tuple[str, str, np.ndarray]], dict[str, int]]:
    """(premise, hypothesis, probs) for every item of a reusable set that the old run scored."""
    rows, counts = [], {"reused": 0, "new_to_a_unit": 0, "not_reusable": 0}
    for language in bench.languages:
        rows.extend(_take("clean", language, bench.clean(language), old, counts))
    for unit in bench.units():
        items = [p.example for p in bench.perturbed(unit.family, unit.severity, unit.language)]
        if unit.family not in REUSABLE or _rules(bench, unit) != "v1":
            counts["not_reusable"] += len(items)  # another rule set makes other text for the same id
            continue
        rows.extend(_take(f"{unit.family}/{unit.severity}", unit.language, items, old, counts))
    return rows, counts


def _rules(bench: Any, unit: Any) -> str:
    """The unit's rule set from the manifest (v1 when the params name none, as v1 units do)."""
    params = bench.manifest["units"][f"{unit.family}/{unit.severity}/{unit.language}"]["perturbation"]["params"]
    return str(params.get("rules", "v1"))


def _take(set_name: str, language: str, items: Iterable[Any], old: dict[tuple[str, str, str], np.ndarray],
          counts: dict[str, int]) -> list[tuple[str, str, np.ndarray]]:
    out = []
    for ex in items:
        probs = old.get((set_name, language, ex.id))
        if probs is None:
            counts["new_to_a_unit"] += 1
            continue
        counts["reused"] += 1
        out.append((ex.premise, ex.hypothesis, probs))
    return out


def rescore(submission: Path, benchmark: Path, out: Path, cache: Path) -> dict[str, Any]:
    """Seed the cache from `submission`'s predictions, then run `bench` on `benchmark`."""
    from harness.scoring.bench import BenchConfig, load_model, run
    from harness.data.benchmark import load_benchmark
    from adapters.cache import pair_key

    cfg = BenchConfig(model=str(submission), out=out, recipe=str(submission / "recipe.yaml"),
                      benchmark=benchmark, cache=cache, overwrite=True, progress=False)
    adapter = load_model(cfg)
    bench = load_benchmark(benchmark)
    rows, counts = reusable_pairs(bench, old_predictions(submission))
    adapter.seed({pair_key(p, h): probs for p, h, probs in rows})
    record = run(cfg, log=lambda m: print(f"  {m}", file=sys.stderr))
    return {"submission": submission.name, **counts, "cache": record["inference"]["cache"],
            "benchmark": record["data"]["benchmark"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--benchmark", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for the new runs (one per submission)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for submission in args.submissions:
        summary = rescore(submission, args.benchmark, args.out / submission.name,
                          args.out / f"{submission.name}.cache.sqlite")
        print(json.dumps(summary, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
