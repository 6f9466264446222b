"""Scale-out with accelerate's process state.

GPUs: `accelerate launch --multi_gpu --num_processes N -m harness.cli bench ... --device cuda`.
CPU processes: `torchrun --nproc_per_node N -m harness.cli bench ...` (accelerate's own multi-CPU
launcher needs MPI; torchrun sets the same WORLD_SIZE/RANK variables and accelerate's
`PartialState(cpu=True)` then runs the gloo backend).

Each process scores every `world`-th item of each group of consecutive (set, language) lists
(`grouped`: the same groups a single process scores), one group at a time, and writes its shard
to a folder beside the output; the main process reassembles the probabilities
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

from harness.core.examples import NLIExample


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
Loaded = tuple[str, str, list[NLIExample]]
Scored = tuple[str, str, list[NLIExample], np.ndarray]
Predict = Callable[[str, list[NLIExample]], np.ndarray]
"""(what is scored, for the log; items) -> probabilities."""


def grouped(jobs: Sequence[Job], group_pairs: int) -> Iterator[list[Loaded]]:
    """Consecutive jobs, loaded, in groups of at least `group_pairs` items (the last may be smaller).

    Why: the adapter sorts by length within one call, so scoring a short list (a unit under
    `--limit`) alone gives a few badly filled, badly padded batches.  Deterministic, so every
    process forms the same groups; bounded, so memory does not grow with the benchmark."""
    group: list[Loaded] = []
    size = 0
    for set_name, language, load in jobs:
        items = load()
        group.append((set_name, language, items))
        size += len(items)
        if size >= group_pairs:
            yield group
            group, size = [], 0
    if group:
        yield group


def describe(group: Sequence[Loaded]) -> str:
    """`set language`, or the first and last of a group, for the progress log."""
    (first_set, first_lang, _), (last_set, last_lang, _) = group[0], group[-1]
    if len(group) == 1:
        return f"{first_set} {first_lang}"
    return f"{first_set} {first_lang} .. {last_set} {last_lang} ({len(group)} units)"


def split(group: Sequence[Loaded], probs: np.ndarray) -> Iterator[Scored]:
    """The probabilities of a group's concatenated items, back to its units."""
    start = 0
    for set_name, language, items in group:
        yield set_name, language, items, probs[start:start + len(items)]
        start += len(items)


def predict_streamed(predict: Predict, jobs: Sequence[Job], group_pairs: int) -> Iterator[Scored]:
    """One process: each group scored in one call, its units yielded in job order."""
    for group in grouped(jobs, group_pairs):
        yield from split(group, predict(describe(group), [e for _, _, items in group for e in items]))


def predict_sharded(predict: Predict, jobs: Sequence[Job], shard_dir: Path, stats: dict[str, int],
                    group_pairs: int) -> Iterator[Scored] | None:
    """Every job's items with their probabilities, in job order, on the main process (None elsewhere).

    Streamed: each process loads one group at a time, scores every `world`-th item of it and
    writes that shard to its own file, so no process holds more than one group's items.  After
    one barrier the main process re-reads each group, merges its shards in item order and yields
    its units, deleting the shard files as it goes.  `stats` (the adapter's pair and truncation
    counters) is summed over processes in place.
    """
    st = state()
    rank, world = st.process_index, st.num_processes
    shard_dir.mkdir(parents=True, exist_ok=True)
    for i, group in enumerate(grouped(jobs, group_pairs)):
        items = [e for _, _, members in group for e in members]
        _save(shard_dir / f"group{i}.rank{rank}.npy", predict(describe(group), items[rank::world]))
    _save(shard_dir / f"stats.rank{rank}.npy", np.array([stats.get("pairs", 0), stats.get("truncated", 0)]))
    st.wait_for_everyone()
    if not st.is_main_process:
        return None
    totals = sum(np.load(shard_dir / f"stats.rank{r}.npy") for r in range(world))
    stats.update(pairs=int(totals[0]), truncated=int(totals[1]))
    return _merged(jobs, shard_dir, world, group_pairs)


def _save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name("." + path.name)
    with open(tmp, "wb") as handle:
        np.save(handle, array)
    tmp.replace(path)


def _merged(jobs: Sequence[Job], shard_dir: Path, world: int, group_pairs: int) -> Iterator[Scored]:
    for i, group in enumerate(grouped(jobs, group_pairs)):
        n_items = sum(len(items) for _, _, items in group)
        parts = [np.load(shard_dir / f"group{i}.rank{r}.npy") for r in range(world)]
        merged = np.zeros((n_items, max(p.shape[1] for p in parts)), dtype=np.float32)
        for r, part in enumerate(parts):
            merged[r::world] = part
            (shard_dir / f"group{i}.rank{r}.npy").unlink()
        yield from split(group, merged)
    shutil.rmtree(shard_dir, ignore_errors=True)
