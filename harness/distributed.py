"""Scale-out with accelerate's process state.

GPUs: `accelerate launch --multi_gpu --num_processes N -m harness.cli bench ... --device cuda`.
CPU processes: `torchrun --nproc_per_node N -m harness.cli bench ...` (accelerate's own multi-CPU
launcher needs MPI; torchrun sets the same WORLD_SIZE/RANK variables and accelerate's
`PartialState(cpu=True)` then runs the gloo backend).

Each process scores every `world`-th item of each (set, language) list and writes its shard
to a folder beside the output; the main process reassembles the probabilities in item order
and alone builds and publishes the record, so the result equals a single-process run.  Only
used when launched with several processes (WORLD_SIZE > 1); accelerate is imported lazily.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.examples import NLIExample

Sets = dict[str, dict[str, list[NLIExample]]]
Probs = dict[str, dict[str, np.ndarray]]


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


def predict_sharded(predict: Callable[[Sets], Probs], sets: Sets, shard_dir: Path,
                    stats: dict[str, int]) -> Probs | None:
    """Probabilities for all items on the main process (None on the others).

    `stats` (the adapter's pair and truncation counters) is summed over processes in place."""
    st = state()
    rank, world = st.process_index, st.num_processes
    mine = {s: {lang: items[rank::world] for lang, items in by_lang.items()} for s, by_lang in sets.items()}
    probs = predict(mine)
    shard_dir.mkdir(parents=True, exist_ok=True)
    flat = {f"{s}\x1f{lang}": arr for s, by_lang in probs.items() for lang, arr in by_lang.items()}
    flat["__stats__"] = np.array([stats.get("pairs", 0), stats.get("truncated", 0)])
    tmp = shard_dir / f".rank{rank}.npz"
    with open(tmp, "wb") as handle:
        np.savez(handle, **flat)
    tmp.replace(shard_dir / f"rank{rank}.npz")
    st.wait_for_everyone()
    if not st.is_main_process:
        return None
    shards = [np.load(shard_dir / f"rank{r}.npz") for r in range(world)]
    totals = sum(shard["__stats__"] for shard in shards)
    stats.update(pairs=int(totals[0]), truncated=int(totals[1]))
    out: Probs = {}
    for s, by_lang in sets.items():
        out[s] = {}
        for lang, items in by_lang.items():
            merged = np.zeros((len(items), 3), dtype=np.float32)
            for r, shard in enumerate(shards):
                merged[r::world] = shard[f"{s}\x1f{lang}"]
            out[s][lang] = merged
    shutil.rmtree(shard_dir, ignore_errors=True)
    return out
