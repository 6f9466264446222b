"""Scale-out: 2 CPU processes under torchrun (accelerate's state) give the single-process result."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import generate_small_benchmark

from harness.cli import main


def _torchrun(args: list[str]) -> None:
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", "-m", "harness.cli",
                           "bench", *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def small_benchmark(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A real generated benchmark: 9 items in en, zh, sw; two families (no similarity filter)."""
    return generate_small_benchmark(tmp_path_factory.mktemp("sharded") / "tiny", data_root, ["en", "zh", "sw"], 9, 5)


def _predictions(folder: Path) -> list[tuple]:
    with gzip.open(folder / "predictions.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [(r["set"], r["language"], r["id"], r["gold"], r["pred"]) for r in rows]


def test_two_processes_stream_a_benchmark_like_one(tmp_path: Path, tiny_bert: Path, small_benchmark: Path) -> None:
    """Sharded runs stream unit by unit; the record and every prediction equal the single-process run."""
    common = [str(tiny_bert), "--benchmark", str(small_benchmark), "--allow-unpinned", "--no-progress", "--no-cache",
              "--max-length", "32"]
    assert main(["bench", *common, "--out", str(tmp_path / "one")]) == 0
    _torchrun([*common, "--out", str(tmp_path / "two")])
    one = json.loads((tmp_path / "one" / "result.json").read_text())
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["inference"]["processes"] == 2
    assert one["results"] == two["results"] and "perturbed" in one["results"]
    assert _predictions(tmp_path / "one") == _predictions(tmp_path / "two")
    assert len({row[0] for row in _predictions(tmp_path / "two")}) == 4  # clean + 3 perturbed sets
    assert not list(tmp_path.glob(".two.shards*")), "shards are cleaned up"


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
