"""CPU scoring throughput: the harness's adapter vs two naive baselines, measured in one run.

Baselines on the same pairs and the same merged model: (1) `transformers.pipeline
("text-classification")` with the same batch size, and with its default (one pair a call, as a
naive user runs it), (2) a loop padding every batch to a fixed length (128) in dataset order.  Tokenisation is included everywhere.  The harness's opt-in speed
options are measured beside them: `--dtype bf16`, `--quantize int8` and `--runtime onnxruntime`
(fp32 through ONNX Runtime), each with the agreement
of its predicted labels with fp32 on these pairs and on the 300 English dev items `bench` checks
(an option `bench` would refuse is still timed, and marked refused).  Every path runs
`--repeats` times, interleaved, and the fastest run counts, so a neighbour's load hits all alike.

With `--benchmark DIR` (a generated benchmark), `bench` itself runs too, end to end: reading
the benchmark, model load, parity check, scoring, writing predictions and the record, in fp32 and
bf16, against the pipeline over exactly the pairs it scored.  The script also counts the tokens
each path pushes through the model: on a CPU the matrix products dominate (~85% of fp32 time,
torch profiler) and run near the core's peak, so the ratio of those counts bounds what any
exact-fp32 path can gain over the pipeline.

    XNLI_ROBUST_DATA=../shared/data .venv/bin/python benchmarks/cpu_scoring.py --n 300 --threads 1 \
        --benchmark runs/xnli-robust-v1-lite
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from adapters import precision
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

Pairs = list[tuple[str, str]]


def pairs_from_test(n: int) -> Pairs:
    """n pairs spread over the 15 languages (real XNLI test length distribution)."""
    from harness import LANGUAGES
    from harness.data.xnli import load_local
    from harness.core.paths import data_root

    data = load_local(data_root() / "xnli", "test", LANGUAGES)
    per = max(1, n // len(LANGUAGES))
    return [(e.premise, e.hypothesis) for lang in LANGUAGES for e in data[lang][::97][:per]]


def dev_parity_pairs() -> Pairs:
    """The English dev items `bench` checks reduced precision on."""
    from harness.scoring.bench import BenchConfig, parity_pairs

    return parity_pairs(BenchConfig(model="-", out=Path("-")))


def pipeline_baseline(model, tokenizer, pairs: Pairs, batch_size: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Probabilities in the model's output order (the pipeline names labels, sorted by score)."""
    from transformers import pipeline

    clf = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1, top_k=None)
    out = clf([{"text": p, "text_pair": h} for p, h in pairs], batch_size=batch_size, truncation=True, max_length=128)
    index = model.config.label2id
    return np.array([[d["score"] for d in sorted(row, key=lambda d: index[d["label"]])] for row in out])


def padded_tokens(lengths: list[int], batch_size: int) -> int:
    """Token positions the model computes when `lengths` are batched in this order."""
    return sum(max(lengths[i:i + batch_size]) * len(lengths[i:i + batch_size])
               for i in range(0, len(lengths), batch_size))


def token_accounting(tokenizer, pairs: Pairs, batch_size: int) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Real tokens, and real vs computed token positions per path."""
    lengths = [len(ids) for ids in tokenizer([p for p, _ in pairs], [h for _, h in pairs], truncation=True,
                                             max_length=128)["input_ids"]]
    ours = padded_tokens(sorted(lengths), batch_size)
    pipe = padded_tokens(lengths, batch_size)
    return sum(lengths), (f"tokens through the model: {sum(lengths)} real; harness (length-sorted) {ours}; "
                          f"pipeline (dataset order, batch {batch_size}) {pipe}; pipeline batch 1 {sum(lengths)}; "
                          f"fixed 128 {128 * len(lengths)}")


class MatmulProbe:
    """The fastest observed fp32 rate of the model's per-token matrix products.

    Why: the products are ~85% of fp32 time (torch profiler) and each token needs 2 x (weights
    of the per-token linear layers) flops, so real tokens x flops / rate is a time no exact fp32
    path can beat, whatever it does about padding, attention or overhead.  Measured on the
    model's own weight shapes with `rows` tokens at the current thread count, sampled at several
    points of the run (a neighbour's load varies), keeping each shape's fastest call: the most
    generous bound."""

    def __init__(self, model, rows: int = 1536) -> None:  # type: ignore[no-untyped-def]
        import torch

        per_token = [m for name, m in model.named_modules()
                     if isinstance(m, torch.nn.Linear) and "pooler" not in name and "classifier" not in name]
        self.flops_per_token = 2 * sum(m.in_features * m.out_features for m in per_token)
        self.rows = rows
        self.count = Counter((m.in_features, m.out_features) for m in per_token)
        self.fastest = {shape: float("inf") for shape in sorted(self.count)}

    def sample(self, calls: int = 10) -> None:
        import torch

        with torch.inference_mode():
            for k, n in self.fastest:
                x, w, b = torch.randn(self.rows, k), torch.randn(n, k), torch.randn(n)
                torch.addmm(b, x, w.t())
                for _ in range(calls):
                    start = time.perf_counter()
                    torch.addmm(b, x, w.t())
                    self.fastest[(k, n)] = min(self.fastest[(k, n)], time.perf_counter() - start)

    @property
    def rate(self) -> float:
        """Flop/s over one forward's mix of shapes (each weighted by how many layers have it)."""
        flops = sum(self.count[(k, n)] * 2 * self.rows * k * n for k, n in self.fastest)
        return flops / sum(self.count[shape] * sec for shape, sec in self.fastest.items())

    def describe(self) -> str:
        return (f"fp32 matrix products on this CPU: {self.rate / 1e9:.0f} GFLOP/s (fastest call of each of "
                f"{len(self.fastest)} weight shapes, {self.rows} rows, sampled through the run); "
                f"{self.flops_per_token / 1e6:.1f} MFLOP per token")

    def ceiling_line(self, real_tokens: int, n_pairs: int, pipe_rate: float, ours: dict[str, float]) -> str:
        """The exact-fp32 bound on these pairs, against the pipeline and what our paths reach."""
        ceiling = n_pairs / (real_tokens * self.flops_per_token / self.rate)
        reached = ", ".join(f"{name} {value / ceiling:.0%} of it" for name, value in ours.items())
        return (f"no exact fp32 path can exceed {ceiling:.1f} pairs/s on these {n_pairs} pairs ({real_tokens} real "
                f"tokens): {ceiling / pipe_rate:.2f}x the pipeline; {reached}")


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
    speed = {"check_speed": False} if option == "bf16" else {}  # this script measures the speed itself
    parity = precision.apply(candidate, option, dev, min_agreement=0.0, **speed)
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
    parser.add_argument("--benchmark", type=Path, help="a generated benchmark: also time `bench` end to end on it")
    parser.add_argument("--limit", type=int, default=20, help="items per language for the end-to-end `bench` runs")
    parser.add_argument("--languages", default="en,de,ar,th,zh", help="languages of the end-to-end `bench` runs")
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
        "transformers.pipeline fp32, default batch size (1)": lambda: canonical(pipeline_baseline(net, tok, pairs, 1)),
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
    probe = MatmulProbe(net)
    probe.sample()
    seconds, outputs = best_of(paths, args.repeats)
    probe.sample()
    report(pairs, args, seconds, outputs, parity, torch.get_num_threads())
    real_tokens, tokens = token_accounting(tok, pairs, bs)
    rates = (len(pairs) / seconds["transformers.pipeline fp32"],
             {"harness fp32": len(pairs) / seconds["harness fp32 (sorted, dynamic padding)"]})
    bench_rates = end_to_end(args, lambda scored: canonical(pipeline_baseline(net, tok, scored, bs)), probe,
                             lambda scored: token_accounting(tok, scored, bs)[0]) if args.benchmark else None
    print(f"\n{tokens}\n{probe.describe()}")  # the probe's fastest rate is known only now
    print(probe.ceiling_line(real_tokens, len(pairs), *rates))
    if bench_rates:
        print(probe.ceiling_line(*bench_rates))
    return 0


def end_to_end(args: argparse.Namespace, pipeline: Callable[[Pairs], np.ndarray], probe: MatmulProbe,
               real_tokens: Callable[[Pairs], int]) -> tuple[int, int, float, dict[str, float]]:
    """`bench` (harness.scoring.bench.run, no cache) in fp32 and bf16 vs the pipeline on the pairs it scored.

    Interleaved `--repeats` times like the table above; per path the fastest run counts.  Returns
    (real tokens, pairs, pipeline pairs/s, bench scoring pairs/s) for the fp32 bound."""
    import tempfile

    from harness.scoring.bench import GROUP_PAIRS, BenchConfig, apply_limit, load_eval_data, run

    with tempfile.TemporaryDirectory() as tmp:
        configs = {dtype: BenchConfig(model=args.model, out=Path(tmp) / dtype, benchmark=args.benchmark,
                                      languages=tuple(args.languages.split(",")), limit=args.limit,
                                      batch_size=args.batch_size, dtype=dtype, progress=False, overwrite=True)
                   for dtype in ("fp32", "bf16")}
        data = load_eval_data(configs["fp32"])
        scored = [(e.premise, e.hypothesis) for items in apply_limit(data.examples, args.limit).values() for e in items]
        scored += [(e.premise, e.hypothesis) for unit in data.units for e in unit.load()]
        pipe_seconds = float("inf")
        timings: dict[str, dict[str, float]] = {}
        for _ in range(args.repeats):
            start = time.perf_counter()
            pipeline(scored)
            pipe_seconds = min(pipe_seconds, time.perf_counter() - start)
            for dtype, cfg in configs.items():
                record = run(cfg)
                if record["truncation"]["pairs"] != len(scored):
                    raise SystemExit(f"bench scored {record['truncation']['pairs']} pairs, the pipeline "
                                     f"{len(scored)}: not the same pairs")
                if dtype not in timings or record["timing"]["total_seconds"] < timings[dtype]["total_seconds"]:
                    timings[dtype] = record["timing"]
            probe.sample()
    pipe_rate = len(scored) / pipe_seconds
    print(f"\n`bench --benchmark {args.benchmark} --limit {args.limit} --languages {args.languages} --no-cache` "
          f"end to end ({len(scored)} pairs: clean and every perturbed unit; `bench` scores consecutive units "
          f"together, up to {GROUP_PAIRS} pairs a call), best of {args.repeats}")
    print("| path | pairs/s, whole run (load, read, parity check, score, write) | pairs/s, scoring only | "
          "whole run vs pipeline | scoring only vs pipeline | seconds outside scoring |")
    print("|---|---|---|---|---|---|")
    for dtype, timing in timings.items():
        whole = len(scored) / timing["total_seconds"]
        print(f"| bench {dtype} | {whole:.1f} | {timing['pairs_per_second']:.1f} | {whole / pipe_rate:.2f}x | "
              f"{timing['pairs_per_second'] / pipe_rate:.2f}x | {timing['total_seconds'] - timing['predict_seconds']:.1f} |")
    print(f"| transformers.pipeline fp32 | | {pipe_rate:.1f} | | 1.00x | |")
    return (real_tokens(scored), len(scored), pipe_rate,
            {f"bench {d} (scoring only)": t["pairs_per_second"] for d, t in timings.items()})


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
