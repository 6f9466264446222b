"""GPU scoring throughput of the harness's path for XLM-R-large- and base-sized models, fp32 and bf16.

Why it looks like this:
- The device machine has no network and receives at most 64 MiB, so the pairs and the tokenizer
  travel as a small bundle made here first (`--prepare`): 20,000 XNLI test pairs drawn evenly at
  random from all 15 languages (so their token lengths follow the real test distribution) and the
  XLM-R sentencepiece tokenizer of the converted e5 base (the same vocabulary as XLM-R).
- The models are randomly initialised with the XLM-R configs: throughput depends on the shapes,
  not on the weights, and 2 GB of XLM-R-large weights cannot travel.  The bf16-vs-fp32 agreement
  on a random model is printed but says little (its outputs are nearly uniform); `--model FOLDER`
  adds the parity check on a real checkpoint present on the machine.
- Timed end to end: `HFAdapter.predict` on the text pairs, i.e. tokenisation, length sorting,
  dynamic padding, host-device copies and softmax, exactly what `bench` runs.  A fixed pad-128
  batch-32 fp32 loop on the pre-tokenised pairs reproduces the issue's anchor shape.
- Without CUDA it runs the same code on a tiny model on the CPU (`--tiny` or automatically) and
  says that the GPU part was skipped; numbers from that are not throughput claims.

    .venv/bin/python benchmarks/gpu_scoring.py --prepare runs/gpu-scoring-bundle   # here, once
    .venv/bin/python benchmarks/gpu_scoring.py --bundle runs/gpu-scoring-bundle --out $OUT/gpu.json  # on the GPU

Anchors from issue #6 (H200): XLM-R large fp32, pad 128, batch 32: 565 pairs/s; bf16 dynamic
padding, batch 1024: 7,517 pairs/s; target >= 7,500 pairs/s end to end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

from adapters import precision
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

Pairs = list[tuple[str, str]]
SIZES = {  # XLM-R shapes; vocabulary 250002 like the real checkpoints
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
}
ANCHORS = {"fp32 pad-128 batch 32 (H200)": 565.0, "bf16 dynamic batch 1024 (H200)": 7517.0, "target": 7500.0}


# ---- the bundle -------------------------------------------------------------------------------

def prepare(out: Path, n: int, seed: int) -> None:
    """Write `out/pairs.jsonl.gz` (n test pairs, all 15 languages) and `out/tokenizer/`."""
    from harness import LANGUAGES
    from harness.data.xnli import load_local
    from harness.core.paths import cache_root, data_root

    data = load_local(data_root() / "xnli", "test", LANGUAGES)
    every = [(lang, e.premise, e.hypothesis) for lang in LANGUAGES for e in data[lang]]
    chosen = np.random.default_rng(seed).choice(len(every), size=min(n, len(every)), replace=False)
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "pairs.jsonl.gz", "wt", encoding="utf-8") as handle:
        for i in sorted(chosen):
            lang, premise, hypothesis = every[i]
            handle.write(json.dumps({"language": lang, "premise": premise, "hypothesis": hypothesis},
                                    ensure_ascii=False) + "\n")
    base = cache_root() / "models" / "multilingual-e5-small"
    (out / "tokenizer").mkdir(exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy2(base / name, out / "tokenizer" / name)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"bundle {out}: {len(chosen)} pairs from {len(every)} test pairs, {size / 2**20:.1f} MiB")


def load_bundle(folder: Path) -> tuple[Pairs, Any]:
    from transformers import AutoTokenizer

    if not (folder / "pairs.jsonl.gz").is_file():
        raise SystemExit(f"{folder} has no pairs.jsonl.gz: make it with --prepare {folder} where the data is")
    with gzip.open(folder / "pairs.jsonl.gz", "rt", encoding="utf-8") as handle:
        pairs = [(row["premise"], row["hypothesis"]) for row in map(json.loads, handle)]
    return pairs, AutoTokenizer.from_pretrained(folder / "tokenizer")


# ---- models and paths -------------------------------------------------------------------------

def random_adapter(size: str, tokenizer: Any, device: str, batch_size: int, seed: int = 0) -> Any:
    """An HFAdapter around a randomly initialised XLM-R of the given size."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    from adapters.hf import HFAdapter
    from adapters.labels import LabelMap

    torch.manual_seed(seed)
    config = XLMRobertaConfig(vocab_size=250002, num_labels=3, max_position_embeddings=514, type_vocab_size=1,
                              pad_token_id=tokenizer.pad_token_id, **SIZES[size])
    net = XLMRobertaForSequenceClassification(config).eval().to(device)
    info = {"id": f"random-xlmr-{size}", "num_parameters": int(sum(p.numel() for p in net.parameters()))}
    return HFAdapter(net, tokenizer, LabelMap((0, 1, 2), "config"), info, 128, batch_size, device)


def fixed_padding(adapter: Any, pairs: Pairs, batch_size: int = 32, length: int = 128) -> np.ndarray:
    """The anchor's shape: every batch padded to 128 tokens, dataset order."""
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            batch = adapter.tokenizer([p for p, _ in chunk], [h for _, h in chunk], padding="max_length",
                                      truncation=True, max_length=length, return_tensors="pt").to(adapter.device)
            rows.append(torch.softmax(adapter.model(**batch).logits.float(), dim=-1).cpu().numpy())
    return np.concatenate(rows)


def per_batch_sync(adapter: Any, pairs: Pairs) -> np.ndarray:
    """The harness loop before the overlapped one: `tokenizer.pad` per batch, a device sync per batch."""
    import torch

    encoded = adapter._encode(pairs)
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]["input_ids"]), i))
    out = np.zeros((len(pairs), 3), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), adapter.batch_size):
            chunk = order[start:start + adapter.batch_size]
            batch = adapter.tokenizer.pad([encoded[i] for i in chunk], return_tensors="pt").to(adapter.device)
            out[chunk] = torch.softmax(adapter.model(**batch).logits.float(), dim=-1).cpu().numpy()
    return out


def timed(fn: Callable[[], np.ndarray], device: str) -> tuple[np.ndarray, float]:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def measure(size: str, pairs: Pairs, tokenizer: Any, device: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """fp32 anchor loop, fp32 dynamic, bf16 dynamic: pairs/s and bf16-vs-fp32 agreement."""
    import torch

    rows: list[dict[str, Any]] = []
    adapter = random_adapter(size, tokenizer, device, args.fp32_batch)
    adapter.predict(pairs[:256])  # warm-up: kernels, allocator, tokenizer threads
    anchor_pairs = pairs[:args.anchor_n]
    _, sec = timed(lambda: fixed_padding(adapter, anchor_pairs), device)
    rows.append({"model": size, "path": "fp32 pad-128 batch 32, dataset order", "pairs": len(anchor_pairs), "seconds": sec})
    fp32, sec = timed(lambda: adapter.predict(pairs), device)
    rows.append({"model": size, "path": f"harness fp32 dynamic, batch {args.fp32_batch}", "pairs": len(pairs), "seconds": sec})
    parity = precision.apply(adapter, "bf16", pairs[:300], min_agreement=0.0)  # random weights: recorded, not enforced
    adapter.batch_size = args.bf16_batch
    adapter.predict(pairs[:256])
    old, sec = timed(lambda: per_batch_sync(adapter, pairs), device)
    rows.append({"model": size, "path": f"bf16 dynamic, batch {args.bf16_batch}, pad + sync per batch (previous loop)",
                 "pairs": len(pairs), "seconds": sec})
    encode_sec = timed(lambda: adapter._encode(pairs), "cpu")[1]
    rows.append({"model": size, "path": "tokenisation alone (host)", "pairs": len(pairs), "seconds": encode_sec})
    bf16, sec = timed(lambda: adapter.predict(pairs), device)
    rows.append({"model": size, "path": f"harness bf16 dynamic, batch {args.bf16_batch}", "pairs": len(pairs), "seconds": sec,
                 "max_abs_diff_vs_previous_loop": float(np.abs(adapter.label_map.reorder(old) - bf16).max()),
                 "agreement_with_fp32": float((fp32.argmax(1) == bf16.argmax(1)).mean()),
                 "parity_check_300": parity["label_agreement"]})
    if device.startswith("cuda"):
        rows[-1]["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    adapter.model = None  # free the weights before the next size is built
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    for row in rows:
        row["pairs_per_second"] = round(row["pairs"] / row["seconds"], 1)
    return rows


def real_model_parity(folder: str, pairs: Pairs, device: str, batch_size: int) -> dict[str, Any]:
    """bf16 vs fp32 agreement of a real checkpoint on the bundle's pairs."""
    from adapters.hf import HFAdapter

    adapter = HFAdapter.load(folder, device=device, batch_size=batch_size)
    fp32 = adapter.predict(pairs)
    parity = precision.apply(adapter, "bf16", pairs[:300], min_agreement=0.0)
    bf16 = adapter.predict(pairs)
    return {"model": folder, "pairs": len(pairs), "agreement": float((fp32.argmax(1) == bf16.argmax(1)).mean()),
            "max_probability_change": float(np.abs(fp32 - bf16).max()), "parity_check_300": parity}


# ---- main -------------------------------------------------------------------------------------

def environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    env = {"torch": torch.__version__, "transformers": transformers.__version__, "device": device,
           "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| model | path | pairs | pairs/s | bf16 agreement with fp32 |\n|---|---|---|---|---|")
    for row in rows:
        agreement = row.get("agreement_with_fp32")
        print(f"| {row['model']} | {row['path']} | {row['pairs']} | {row['pairs_per_second']:,.1f} | "
              f"{'' if agreement is None else f'{agreement:.4f} (random weights)'} |")
    print("anchors: " + ", ".join(f"{k}: {v:,.0f} pairs/s" for k, v in ANCHORS.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", type=Path, help="write the bundle (pairs + tokenizer) to this folder and stop")
    parser.add_argument("--bundle", type=Path, default=REPO / "runs" / "gpu-scoring-bundle")
    parser.add_argument("--n", type=int, default=20000, help="pairs in the bundle")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="large,base")
    parser.add_argument("--fp32-batch", type=int, default=256)
    parser.add_argument("--bf16-batch", type=int, default=1024)
    parser.add_argument("--anchor-n", type=int, default=4000, help="pairs for the slow pad-128 fp32 loop")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run on a tiny model (also chosen without CUDA)")
    parser.add_argument("--model", help="a real checkpoint folder on this machine: bf16-vs-fp32 parity on it")
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.n, args.seed)
        return 0
    import torch

    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda" if cuda else "cpu"
    pairs, tokenizer = load_bundle(args.bundle)
    if not cuda:
        print("no CUDA (or --tiny): GPU part skipped; CPU smoke run of the same path on a tiny model, 200 pairs")
        sizes, pairs = ["tiny"], pairs[:200]
        args.anchor_n, args.fp32_batch, args.bf16_batch = 64, 32, 64
    else:
        sizes = args.sizes.split(",")
    rows = [row for size in sizes for row in measure(size, pairs, tokenizer, device, args)]
    print_table(rows)
    result: dict[str, Any] = {"environment": environment(device), "rows": rows, "anchors": ANCHORS, "gpu_skipped": not cuda}
    if args.model:
        result["real_model_parity"] = real_model_parity(args.model, pairs, device, args.fp32_batch)
        print(f"real model bf16 vs fp32: {json.dumps(result['real_model_parity'])}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
