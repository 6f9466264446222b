"""Measure back-translation routes a spec names: what each round trip keeps, drops and costs.

Two steps, so that the benchmark itself is made exactly as `xnli-robust generate` makes it:

    python benchmarks/bt_routes.py generate OUT --times TIMES.json [--processes 2]
    python benchmarks/bt_routes.py table OUT --times TIMES.json

`generate` calls the same function as the CLI (`harness.generate.run.generate`) on the candidate
spec (default `harness/specs/candidates/back-translation-routes.yaml`) and also keeps what the CLI
does not print: each unit's wall seconds in its worker (machine-specific, so outside the
benchmark folder).  Use a fresh `$XNLI_ROBUST_CACHE` to time cold translation.

`table` reads the manifest's counts per unit (items in, produced, not applicable, dropped by the
similarity filter, kept) and re-runs each route over the unit's items through the translation
cache to split "not applicable" into *failed* (the engine returned nothing for a side) and
*identical* (neither side changed); it checks that the split adds up to the manifest's count.
It also gives the mean word-level edit ratio (1 - difflib ratio over words, premise and
hypothesis) of the round trips that succeeded, the measure the module docstring of
`attacks.backtranslation` orders v1's severities by.  It prints numbers and route ids only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import time
from pathlib import Path
from typing import Any

CANDIDATE = Path(__file__).resolve().parents[1] / "harness" / "specs" / "candidates" / "back-translation-routes.yaml"


def cmd_generate(args: argparse.Namespace) -> None:
    from harness.data.spec import load_spec
    from harness.generate.run import generate

    started = time.perf_counter()
    report = generate(args.out, size=args.size, spec=load_spec(args.spec), processes=args.processes, progress=False)
    wall = time.perf_counter() - started
    times = {"total_s": round(wall, 1), "processes": args.processes,
             "units_s": {k: round(v, 1) for k, v in sorted(report.seconds.items())}}
    Path(args.times).write_text(json.dumps(times, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{args.out}: hash {report.benchmark_hash}, {len(report.units_run)} units in {wall:.0f} s")


def _edit_ratio(a: str, b: str) -> float:
    return 1.0 - difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()


def _split_not_applicable(unit: dict[str, Any], originals: list[Any], root: Path) -> dict[str, Any]:
    """Re-run the unit's route (cache-warm) and count failed / identical / changed items."""
    from attacks.backtranslation import build
    from attacks.translation import normalize_space

    params = unit["perturbation"]["params"]
    perturbation = build(params["severity"], params["language"], root, route=params["route"])
    pairs = perturbation._translated_pairs(originals)  # what perturb_batch classifies
    failed = identical = 0
    ratios = []
    for ex, (premise, hypothesis) in zip(originals, pairs):
        if not premise or not hypothesis:
            failed += 1
            continue
        before = (normalize_space(ex.premise), normalize_space(ex.hypothesis))
        identical += (premise, hypothesis) == before
        ratios += [_edit_ratio(before[0], premise), _edit_ratio(before[1], hypothesis)]
    return {"failed": failed, "identical": identical,
            "edit_ratio": sum(ratios) / len(ratios) if ratios else float("nan")}


def cmd_table(args: argparse.Namespace) -> None:
    from harness.core.paths import data_root
    from harness.data.benchmark import load_benchmark
    from harness.data.spec import load_spec

    spec = load_spec(args.spec)
    bench = load_benchmark(args.out, spec=spec)
    times = json.loads(Path(args.times).read_text(encoding="utf-8")) if args.times else {"units_s": {}}
    root = data_root(None)
    rows = []
    for key, unit in sorted(bench.manifest["units"].items(), key=lambda kv: _order(kv[0], spec)):
        stats, language = unit["stats"], key.split("/")[2]
        split = _split_not_applicable(unit, bench.clean(language), root)
        if split["failed"] + split["identical"] != stats["n_not_applicable"]:
            raise SystemExit(f"{key}: re-run gives {split} but the manifest counts "
                             f"{stats['n_not_applicable']} not applicable: the route is not deterministic")
        n = stats["n_items"]
        rows.append([unit["perturbation"]["params"]["route"], key.split("/")[1], n, stats["n_perturbed"],
                     _pct(split["failed"], n), _pct(split["identical"], n),
                     f"{split['edit_ratio']:.2f}", stats["n_dropped_similarity"],
                     _pct(stats["n_dropped_similarity"], stats["n_perturbed"]), stats["n_kept"],
                     _pct(stats["n_kept"], n), times["units_s"].get(key, "")])
    header = ["route", "slot", "items in", "produced", "failed %", "identical %", "edit ratio",
              "dropped (sim)", "drop % of produced", "kept", "kept % of items in", "unit wall s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    if times.get("total_s"):
        print(f"\ntotal wall {times['total_s']} s with {times['processes']} processes")


def _order(key: str, spec: Any) -> tuple[int, int]:
    from attacks.base import SEVERITIES

    _, severity, language = key.split("/")
    return spec.languages.index(language), SEVERITIES.index(severity)


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}" if whole else "-"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, func in (("generate", cmd_generate), ("table", cmd_table)):
        q = sub.add_parser(name)
        q.add_argument("out", type=Path, help="benchmark folder")
        q.add_argument("--spec", type=Path, default=CANDIDATE)
        q.add_argument("--times", help="JSON of wall seconds (written by generate, read by table)",
                       required=name == "generate")
        q.set_defaults(func=func)
    sub.choices["generate"].add_argument("--size", default="lite")
    sub.choices["generate"].add_argument("--processes", type=int, default=2)
    args = p.parse_args()
    from harness.core import quiet

    quiet.configure(False)  # as the CLI does: no third-party load reports
    args.func(args)


if __name__ == "__main__":
    main()
