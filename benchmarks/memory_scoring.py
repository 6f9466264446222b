"""Peak memory (max RSS) of scoring a benchmark, and of only loading its items, in child processes.

Why several numbers: `bench --benchmark` streams, reading perturbed (set, language) units only
when their group (consecutive units up to `GROUP_PAIRS` pairs, scored in one call) comes up
(harness/scoring/distributed.py predict_streamed), so its data part should not grow with the
benchmark's size; before streaming it held every item.  Reading the items alone, once holding
all of them (the old way) and once one unit at a time (the streamed way), shows the data part;
the bench run (with --limit and a few languages to stay short on a shared CPU) shows the model
part and the scoring on top.  Each runs in its own process so the peaks do not mix.

    XNLI_ROBUST_DATA=../shared/data .venv/bin/python benchmarks/memory_scoring.py \\
        --benchmark runs/xnli-robust-v1-lite -- --limit 20 --languages en,th --threads 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LOAD_ONLY = """
import sys
from pathlib import Path
from harness.scoring.bench import BenchConfig, load_benchmark_data
cfg = BenchConfig(model="-", out=Path("-"), benchmark=Path(sys.argv[1]), verify_benchmark=False,
                  languages=tuple(sys.argv[2].split(",")) if sys.argv[2] else BenchConfig.languages)
data = load_benchmark_data(cfg)
held = []
n = sum(len(v) for v in data.examples.values())
for unit in data.units:
    items = unit.load()
    n += len(items)
    if sys.argv[3] == "hold":
        held.append(items)
print(f"loaded {n} items")
"""

MODEL_ONLY = """
from adapters.hf import HFAdapter
HFAdapter.load("submissions/direct-e5small-s1")
"""


def child_peak(command: list[str]) -> tuple[float, float, str]:
    """(max RSS in MiB, seconds, last output line) of one child process, measured for it alone."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, unlike RUSAGE_CHILDREN
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        lines = out.read().strip().splitlines()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n" + "\n".join(lines[-20:]))
    return usage.ru_maxrss / 1024, seconds, lines[-1] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, default=REPO / "runs" / "xnli-robust-v1-lite")
    parser.add_argument("--load-languages", default="", help="languages for the load-only run (default all)")
    parser.add_argument("bench_args", nargs="*", help="extra `bench` options after --, e.g. --limit 20")
    args = parser.parse_args()
    python = sys.executable
    base, _, _ = child_peak([python, "-c", "import harness.scoring.bench"])
    model, _, _ = child_peak([python, "-c", MODEL_ONLY])
    load, load_s, load_line = child_peak([python, "-c", LOAD_ONLY, str(args.benchmark), args.load_languages, "hold"])
    stream, stream_s, _ = child_peak([python, "-c", LOAD_ONLY, str(args.benchmark), args.load_languages, "stream"])
    with tempfile.TemporaryDirectory() as tmp:
        bench, bench_s, _ = child_peak([python, "-m", "harness.cli", "bench", "--benchmark", str(args.benchmark),
                                        "--out", str(Path(tmp) / "run"), "--no-cache", "--no-progress",
                                        "--unverified", *args.bench_args])
    print(f"import harness.scoring.bench only: max RSS {base:.0f} MiB")
    print(f"load the reference model only (HFAdapter.load): max RSS {model:.0f} MiB")
    print(f"load benchmark items, all held ({load_line}; languages: {args.load_languages or 'all'}): "
          f"max RSS {load:.0f} MiB, {load_s:.1f} s")
    print(f"read benchmark items one unit at a time (bench holds one group of units, up to ~4,096 pairs plus "
          f"one unit): max RSS {stream:.0f} MiB, {stream_s:.1f} s")
    print(f"bench {' '.join(args.bench_args)}: max RSS {bench:.0f} MiB, {bench_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
