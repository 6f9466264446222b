"""Scale-out with accelerate's process state.

GPUs: `accelerate launch --multi_gpu --num_processes N -m harness.cli bench ... --device cuda`.
CPU processes: `torchrun --nproc_per_node N -m harness.cli bench ...` (accelerate's own multi-CPU
launcher needs MPI; torchrun sets the same WORLD_SIZE/RANK variables and accelerate's
`PartialState(cpu=True)` then runs the gloo backend).

Each process scores every `world`-th item of each (set, language) list, one list at a time, and
writes its shard to a folder beside the output; the main process reassembles the probabilities
in item order and alone builds and publishes the record, so the result equals a single-process
run.  Only used when launched with several processes (WORLD_SIZE > 1); accelerate is imported
lazily.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from harness.examples import NLIExample


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


_CPU = {"value": True}


def state() -> Any:
    from accelerate import PartialState

    return PartialState(cpu=_CPU["value"])


def device_for(requested: str) -> str:
    """One GPU per process when scoring on cuda; the CPU threads are split between processes."""
    if world_size() == 1:
        return requested
    _CPU["value"] = not requested.startswith("cuda")
    if requested.startswith("cuda"):
        return f"cuda:{state().local_process_index}"
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size()))
    return requested


Job = tuple[str, str, Callable[[], list[NLIExample]]]
"""(set name, language, loader): a loader reads the items only when the job's turn comes."""
Scored = tuple[str, str, list[NLIExample], np.ndarray]


def predict_sharded(predict: Callable[[str, str, list[NLIExample]], np.ndarray], jobs: Sequence[Job],
                    shard_dir: Path, stats: dict[str, int]) -> Iterator[Scored] | None:
    """Every job's items with their probabilities, in job order, on the main process (None elsewhere).

    Streamed: each process loads one job at a time, scores every `world`-th item and writes
    that shard to its own file, so no process holds more than one job's items.  After one
    barrier the main process re-reads each job, merges its shards in item order and yields it,
    deleting the shard files as it goes.  `stats` (the adapter's pair and truncation counters)
    is summed over processes in place.
    """
    st = state()
    rank, world = st.process_index, st.num_processes
    shard_dir.mkdir(parents=True, exist_ok=True)
    for i, (set_name, language, load) in enumerate(jobs):
        _save(shard_dir / f"job{i}.rank{rank}.npy", predict(set_name, language, load()[rank::world]))
    _save(shard_dir / f"stats.rank{rank}.npy", np.array([stats.get("pairs", 0), stats.get("truncated", 0)]))
    st.wait_for_everyone()
    if not st.is_main_process:
        return None
    totals = sum(np.load(shard_dir / f"stats.rank{r}.npy") for r in range(world))
    stats.update(pairs=int(totals[0]), truncated=int(totals[1]))
    return _merged(jobs, shard_dir, world)


def _save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name("." + path.name)
    with open(tmp, "wb") as handle:
        np.save(handle, array)
    tmp.replace(path)


def _merged(jobs: Sequence[Job], shard_dir: Path, world: int) -> Iterator[Scored]:
    for i, (set_name, language, load) in enumerate(jobs):
        items = load()
        parts = [np.load(shard_dir / f"job{i}.rank{r}.npy") for r in range(world)]
        merged = np.zeros((len(items), max(p.shape[1] for p in parts)), dtype=np.float32)
        for r, part in enumerate(parts):
            merged[r::world] = part
            (shard_dir / f"job{i}.rank{r}.npy").unlink()
        yield set_name, language, items, merged
    shutil.rmtree(shard_dir, ignore_errors=True)
