"""CPU scoring throughput: the harness's adapter vs two naive baselines, measured in one run.

Baselines on the same pairs and the same merged model: (1) `transformers.pipeline
("text-classification")` with batch size 32, (2) a loop padding every batch to a fixed length
(128) in dataset order.  Tokenisation is included everywhere.  Prints pairs/s and the ratios.

    XNLI_ROBUST_DATA=../shared/data .venv/bin/python benchmarks/cpu_scoring.py --n 400
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def pairs_from_test(n: int) -> list[tuple[str, str]]:
    """n pairs spread over the 15 languages (real XNLI test length distribution)."""
    from harness import LANGUAGES
    from harness.data import load_local
    from harness.paths import data_root

    data = load_local(data_root() / "xnli", "test", LANGUAGES)
    per = max(1, n // len(LANGUAGES))
    return [(e.premise, e.hypothesis) for lang in LANGUAGES for e in data[lang][::97][:per]]


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def pipeline_baseline(model, tokenizer, pairs, batch_size: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    from transformers import pipeline

    clf = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1, top_k=None)
    out = clf([{"text": p, "text_pair": h} for p, h in pairs], batch_size=batch_size, truncation=True, max_length=128)
    return np.array([[d["score"] for d in sorted(row, key=lambda d: d["label"])] for row in out])


def fixed_padding_baseline(model, tokenizer, pairs, batch_size: int, length: int = 128) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            batch = tokenizer([p for p, _ in chunk], [h for _, h in chunk], padding="max_length",
                              truncation=True, max_length=length, return_tensors="pt")
            rows.append(torch.softmax(model(**batch).logits, dim=-1).numpy())
    return np.concatenate(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "submissions" / "direct-e5small-s1"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    import torch

    from adapters.hf import HFAdapter

    pairs = pairs_from_test(args.n)
    adapter = HFAdapter.load(args.model, batch_size=args.batch_size)
    adapter.predict(pairs[:8])  # warm-up
    ours, t_ours = timed(adapter.predict, pairs)
    net, tok = adapter.model, adapter.tokenizer
    pipe, t_pipe = timed(pipeline_baseline, net, tok, pairs, args.batch_size)
    fixed, t_fixed = timed(fixed_padding_baseline, net, tok, pairs, args.batch_size)
    print(f"{len(pairs)} XNLI test pairs (15 languages), batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    print("| path | pairs/s | harness speed-up |\n|---|---|---|")
    for name, seconds in (("harness (sorted, dynamic padding)", t_ours), ("transformers.pipeline", t_pipe),
                          ("fixed padding to 128, dataset order", t_fixed)):
        print(f"| {name} | {len(pairs) / seconds:.1f} | {seconds / t_ours:.2f}x |")
    same = (ours.argmax(1) == fixed.argmax(1)).mean()
    print(f"prediction agreement with the fixed-padding loop: {same:.4f}; "
          f"max |p| difference vs pipeline: {np.abs(np.sort(ours, 1) - np.sort(pipe, 1)).max():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
