"""Generation with 2 processes: units spread one by one (baseline) against a chain per language.

Why: a worker embeds a language's clean texts once and keeps them, so when the units of one
language go to both workers, both embed the same texts.  `harness.generate.run._chains` gives
each worker whole languages instead.  This runs the same small benchmark both ways in the same
session (the v1.2 spec restricted to two languages and to the filtered char_noise family, at
`--per-language` items), each into a fresh folder (char_noise reads no cache), and prints the seconds,
the ratio and whether the benchmark hashes are equal (they must be: dispatch never changes a
file).  The e5 base model is converted once beforehand so neither run pays for it.

    XNLI_ROBUST_DATA=../shared/data .venv/bin/python benchmarks/generation_chains.py --languages de,bg
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def small_spec(languages: list[str], per_language: int):  # type: ignore[no-untyped-def]
    """v1.2 with only char_noise, in `languages`, at a size of `per_language` stratified items."""
    from harness.data.spec import load_spec, parse_spec

    raw = dict(load_spec(REPO / "harness" / "specs" / "xnli-robust-v1.2.yaml").raw)
    raw["languages"] = languages
    raw["families"] = {"char_noise": {**raw["families"]["char_noise"], "languages": "all"}}
    raw["sizes"] = {"lite": {"per_language": per_language, "stratify": ["label", "genre"]}}
    raw.pop("expected_hashes", None)
    return parse_spec(raw, where=f"v1.2 char_noise restricted to {','.join(languages)}")


def timed(out: Path, spec, per_unit: bool) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    """Seconds and benchmark hash of one generation, with per-unit dispatch or chains."""
    from harness.generate import run

    chains = run._chains
    if per_unit:
        run._chains = lambda tasks, processes: [[t] for t in tasks]  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        report = run.generate(out, spec=spec, size="lite", processes=2, progress=False)
        return time.perf_counter() - started, report.benchmark_hash
    finally:
        run._chains = chains


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="de,bg")
    parser.add_argument("--per-language", type=int, default=1500)
    args = parser.parse_args()
    from adapters.basemodel import ensure_base_model

    ensure_base_model()
    spec = small_spec(args.languages.split(","), args.per_language)
    with tempfile.TemporaryDirectory() as tmp:
        base_s, base_hash = timed(Path(tmp) / "per-unit", spec, per_unit=True)
        chain_s, chain_hash = timed(Path(tmp) / "chains", spec, per_unit=False)
    print(f"{args.languages} x char_noise x 3 severities, {args.per_language} items per language, 2 processes")
    print(f"  per-unit dispatch (baseline): {base_s:7.1f} s")
    print(f"  a chain per language:         {chain_s:7.1f} s   ratio {chain_s / base_s:.2f}")
    print(f"  same benchmark hash: {base_hash == chain_hash} ({chain_hash[:8]}…)")
    return 0 if base_hash == chain_hash else 1


if __name__ == "__main__":
    raise SystemExit(main())
