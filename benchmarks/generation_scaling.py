"""Full-size generation of one language with 1 and with N processes: seconds, speed-up, same hash.

The whole full benchmark takes hours on 2 cores, so this measures one language at full size
(all 5,010 test items, every family that covers it) with the committed v1 spec's seed,
families and thresholds, once per process count, each into a fresh folder.  The e5 similarity
filter dominates; `--device cuda` puts it on a GPU (decisions stay the CPU's).  The runs use
the configured cache root: the e5 base model is converted once beforehand so no run pays for
it, and back-translation (en, es, fr only) would read translations cached by earlier runs, so
the default language, German, has no back-translation.  At full size every item file is also
compared with the pinned full v1 benchmark's per-file hash (a CPU-only check of those units).

    XNLI_ROBUST_DATA=../shared/data .venv/bin/python benchmarks/generation_scaling.py --language de --processes 1,2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def one_language_spec(language: str):  # type: ignore[no-untyped-def]
    """The v1 spec restricted to one language (families that do not cover it dropped)."""
    from harness.data.spec import load_spec, parse_spec

    raw = dict(load_spec().raw)
    raw["languages"] = [language]
    families = {}
    for name, body in raw["families"].items():
        langs = body.get("languages", "all")
        if langs == "all" or language in langs:
            families[name] = {**body, "languages": "all"}
    raw["families"] = families
    raw.pop("expected_hashes", None)
    return parse_spec(raw, where=f"v1 restricted to {language}")


def against_pinned(files: dict) -> str:
    """Compare each item file with the pinned full benchmark's per-file hash (same path, same bytes)."""
    pinned = json.loads((REPO / "harness" / "specs" / "xnli-robust-v1-full.files.json").read_text("utf-8"))["files"]
    items = {rel: e["sha256"] for rel, e in files.items() if rel in pinned}
    same = sorted(rel for rel, sha in items.items() if pinned[rel] == sha)
    differ = sorted(set(items) - set(same))
    return f"against the pinned full v1 files: {len(same)} identical, {len(differ)} different {differ}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="de")
    parser.add_argument("--size", default="full")
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts, one run each")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from adapters.basemodel import ensure_base_model
    from harness.generate.run import generate

    ensure_base_model()
    spec = one_language_spec(args.language)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(p) for p in args.processes.split(",")]:
            start = time.perf_counter()
            report = generate(Path(tmp) / f"p{n}", size=args.size, spec=spec, processes=n, progress=False,
                              device=args.device)
            rows.append((n, time.perf_counter() - start, report.benchmark_hash, len(report.units_run)))
            print(f"processes={n}: {rows[-1][1]:.1f} s, {rows[-1][3]} units, hash {report.benchmark_hash[:16]}", flush=True)
            if args.size == "full":
                print(against_pinned(report.manifest["files"]), flush=True)
    base = rows[0][1]
    print(f"| processes | seconds | speed-up vs {rows[0][0]} | units | hash |\n|---|---|---|---|---|")
    for n, sec, digest, units in rows:
        print(f"| {n} | {sec:.1f} | {base / sec:.2f}x | {units} | {digest[:16]} |")
    print("identical hashes: " + str(len({r[2] for r in rows}) == 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
