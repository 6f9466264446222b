"""CPU scoring throughput: the harness's adapter vs two naive baselines, measured in one run.

Baselines on the same pairs and the same merged model: (1) `transformers.pipeline
("text-classification")` with the same batch size, (2) a loop padding every batch to a fixed
length (128) in dataset order.  Tokenisation is included everywhere.  The harness's opt-in speed
options are measured beside them: `--dtype bf16`, `--quantize int8` and `--runtime onnxruntime`
(fp32 through ONNX Runtime), each with the agreement
of its predicted labels with fp32 on these pairs and on the 300 English dev items `bench` checks
(an option `bench` would refuse is still timed, and marked refused).  Every path runs
`--repeats` times, interleaved, and the fastest run counts, so a neighbour's load hits all alike.

    XNLI_ROBUST_DATA=../shared/data .venv/bin/python benchmarks/cpu_scoring.py --n 300 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

Pairs = list[tuple[str, str]]


def pairs_from_test(n: int) -> Pairs:
    """n pairs spread over the 15 languages (real XNLI test length distribution)."""
    from harness import LANGUAGES
    from harness.data import load_local
    from harness.paths import data_root

    data = load_local(data_root() / "xnli", "test", LANGUAGES)
    per = max(1, n // len(LANGUAGES))
    return [(e.premise, e.hypothesis) for lang in LANGUAGES for e in data[lang][::97][:per]]


def dev_parity_pairs() -> Pairs:
    """The English dev items `bench` checks reduced precision on."""
    from harness.bench import BenchConfig, parity_pairs

    return parity_pairs(BenchConfig(model="-", out=Path("-")))


def pipeline_baseline(model, tokenizer, pairs: Pairs, batch_size: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Probabilities in the model's output order (the pipeline names labels, sorted by score)."""
    from transformers import pipeline

    clf = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1, top_k=None)
    out = clf([{"text": p, "text_pair": h} for p, h in pairs], batch_size=batch_size, truncation=True, max_length=128)
    index = model.config.label2id
    return np.array([[d["score"] for d in sorted(row, key=lambda d: index[d["label"]])] for row in out])


def fixed_padding_baseline(model, tokenizer, pairs: Pairs, batch_size: int, length: int = 128) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    rows = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            batch = tokenizer([p for p, _ in chunk], [h for _, h in chunk], padding="max_length",
                              truncation=True, max_length=length, return_tensors="pt")
            rows.append(torch.softmax(model(**batch).logits.float(), dim=-1).numpy())
    return np.concatenate(rows)


def reduced(adapter: Any, option: str, dev: Pairs) -> tuple[Any, str]:
    """A copy of the fp32 adapter in `option` precision and bench's verdict on its parity check."""
    candidate = copy.copy(adapter)
    candidate.info, candidate.stats = dict(adapter.info), dict(adapter.stats)
    convert = {"bf16": candidate.cast_bf16, "int8": candidate.quantize_int8,
               "onnxruntime": candidate.use_onnxruntime}[option]
    parity = convert(dev, min_agreement=0.0)
    verdict = "accepted" if parity["label_agreement"] >= 0.99 else "refused by bench"
    return candidate, f"{parity['label_agreement']:.3f} on {parity['n_items']} en dev ({verdict})"


def best_of(paths: dict[str, Callable[[], np.ndarray]], repeats: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Fastest of `repeats` interleaved runs per path, and each path's output."""
    seconds = {name: float("inf") for name in paths}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, fn in paths.items():
            start = time.perf_counter()
            outputs[name] = fn()
            seconds[name] = min(seconds[name], time.perf_counter() - start)
    return seconds, outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "submissions" / "direct-e5small-s1"))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--options", default="bf16,int8,onnxruntime", help="comma-separated speed options to time ('' for none)")
    args = parser.parse_args()
    import torch

    from adapters.hf import HFAdapter

    if args.threads:
        torch.set_num_threads(args.threads)
    pairs = pairs_from_test(args.n)
    adapter = HFAdapter.load(args.model, batch_size=args.batch_size)
    net, tok, bs = adapter.model, adapter.tokenizer, args.batch_size
    canonical = adapter.label_map.reorder  # baselines answer in model order
    paths: dict[str, Callable[[], np.ndarray]] = {
        "harness fp32 (sorted, dynamic padding)": lambda: adapter.predict(pairs),
        "transformers.pipeline fp32": lambda: canonical(pipeline_baseline(net, tok, pairs, bs)),
        "fixed padding to 128 fp32, dataset order": lambda: canonical(fixed_padding_baseline(net, tok, pairs, bs)),
    }
    parity: dict[str, str] = {}
    options = [o for o in args.options.split(",") if o]
    if options:
        dev = dev_parity_pairs()
    for option in options:
        fast, parity[option] = reduced(adapter, option, dev)
        paths[f"harness {option}"] = lambda fast=fast: fast.predict(pairs)
        if option == "bf16":
            bf_net = fast.model
            paths["transformers.pipeline bf16"] = lambda: canonical(pipeline_baseline(bf_net, tok, pairs, bs))
    adapter.predict(pairs[:8])  # warm-up; the fastest of the repeats counts anyway
    seconds, outputs = best_of(paths, args.repeats)
    report(pairs, args, seconds, outputs, parity, torch.get_num_threads())
    return 0


def report(pairs: Pairs, args: argparse.Namespace, seconds: dict[str, float], outputs: dict[str, np.ndarray],
           parity: dict[str, str], threads: int) -> None:
    ours = "harness fp32 (sorted, dynamic padding)"
    pipe = "transformers.pipeline fp32"
    reference = outputs[ours].argmax(1)
    print(f"{len(pairs)} XNLI test pairs (15 languages), batch {args.batch_size}, torch threads {threads}, "
          f"best of {args.repeats}")
    print("| path | pairs/s | speed vs pipeline fp32 | label agreement with harness fp32 (these pairs) | parity check |")
    print("|---|---|---|---|---|")
    for name, sec in seconds.items():
        option = name.removeprefix("harness ") if name.startswith("harness ") and name != ours else None
        print(f"| {name} | {len(pairs) / sec:.1f} | {seconds[pipe] / sec:.2f}x | "
              f"{(outputs[name].argmax(1) == reference).mean():.3f} | {parity.get(option or '', '')} |")
    print(f"max |p| difference harness fp32 vs pipeline fp32: {np.abs(outputs[ours] - outputs[pipe]).max():.2e}")


if __name__ == "__main__":
    sys.exit(main())
