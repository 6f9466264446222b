"""Which stage of an Apertium pipeline carries state from one segment to the next.

Why: v1.1 found that a segment's translation could depend on the segments before it in the
same null-flush pipeline.  This runs every known mode's null-flush pipeline stage by stage on
real XNLI segments (the language's test rows; for languages without XNLI text, the installed
reverse mode's translations of the target's rows) and, for every stage, compares its output
for each segment in one stream with its output for that segment alone, feeding the next
stage the history-free (alone) outputs.  A stage with 0 differences on every mode is treated
as stateless by `ApertiumEngine(protocol="fresh-tagger")`; the tagger is the one that is not.

    XNLI_ROBUST_DATA=../shared/data python benchmarks/apertium_stage_state.py --rows 40

Prints one line per mode: `mode segments stage:differences ...`.  Takes a few minutes per mode.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
from pathlib import Path

from attacks.translation import APERTIUM_MODES, ApertiumEngine, _pipeline_stages

XNLI_LANGUAGES = {"en", "es", "fr", "bg", "ru", "hi", "ur"}


def xnli_texts(language: str, rows: int) -> list[str]:
    path = Path(os.environ.get("XNLI_ROBUST_DATA", "../shared/data")) / "xnli" / f"test-{language}.tsv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = [line.rstrip("\n").split("\t") for _, line in zip(range(rows), handle)]
    return [text for fields in lines for text in fields[:2]]


def run(stage: str, stream: str) -> str:
    return subprocess.run(["bash", "-c", stage, "apertium", "-n", ""], input=stream,
                          capture_output=True, text=True, check=False).stdout


def stage_differences(mode: str, texts: list[str]) -> list[tuple[str, int]]:
    current = [subprocess.run(["apertium-destxt"], input=t, capture_output=True, text=True, check=True).stdout
               for t in texts]
    report = []
    for stage in _pipeline_stages(mode):
        batch = run(stage, "".join(s + "\0" for s in current)).split("\0")[:len(current)]
        alone = [run(stage, s + "\0").split("\0")[0] for s in current]
        report.append((stage.split()[0], sum(b != a for b, a in zip(batch, alone))))
        current = alone
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40, help="XNLI test rows per mode (2 segments each)")
    parser.add_argument("--modes", help="comma-separated modes (default: every mode the project knows)")
    args = parser.parse_args()
    engine = ApertiumEngine(pairs=list(APERTIUM_MODES), protocol="fresh-tagger")
    wanted = set(args.modes.split(",")) if args.modes else None
    for (src, tgt), mode in sorted(APERTIUM_MODES.items(), key=lambda kv: kv[1]):
        if wanted and mode not in wanted:
            continue
        texts = xnli_texts(src, args.rows) if src in XNLI_LANGUAGES else \
            [t for t in engine.translate(xnli_texts(tgt, args.rows), tgt, src) if t]
        cells = " ".join(f"{name}:{n}" for name, n in stage_differences(mode, texts))
        print(mode, len(texts), cells, flush=True)


if __name__ == "__main__":
    main()
