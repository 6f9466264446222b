"""Scale-out: 2 CPU processes under torchrun (accelerate's state) give the single-process result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.cli import main


def test_two_processes_match_one(tmp_path: Path, tiny_bert: Path, data_root: Path) -> None:
    common = [str(tiny_bert), "--data-dir", str(data_root), "--split", "dev", "--limit", "7",
              "--languages", "en,zh,sw", "--no-progress", "--no-cache", "--max-length", "24"]
    assert main(["bench", *common, "--out", str(tmp_path / "one")]) == 0
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", "-m", "harness.cli",
                           "bench", *common, "--out", str(tmp_path / "two")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    one = json.loads((tmp_path / "one" / "result.json").read_text())
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["inference"]["processes"] == 2 and one["inference"]["processes"] == 1
    assert one["results"] == two["results"]
    assert one["truncation"] == two["truncation"] and one["truncation"]["truncated"] > 0
    assert not list(tmp_path.glob(".two.shards*")), "shards are cleaned up"
