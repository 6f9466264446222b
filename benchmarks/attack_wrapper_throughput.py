"""Queries per second of an adaptive attack: the project's model wrapper vs TextAttack's.

Same attack (recipe, constraints, search, query budget), same items, same model weights, one
process, one run; only the TextAttack model wrapper differs:

* ours: `attacks.ta_parts.AdapterModelWrapper` over `HFAdapter` (tokenise, sort by length,
  pad each batch to its own longest pair);
* TextAttack's `HuggingFaceModelWrapper` over the same merged model and tokenizer: pads every
  batch to `tokenizer.model_max_length` (512 for XLM-R tokenizers).

Printed per wrapper: model queries, seconds inside the wrapper, queries/s of the wrapper, and
end-to-end attack seconds (which include the e5 similarity constraint, the same cost on both
sides).  The ratios at the end are ours / TextAttack's.  The adversarial outcomes are compared
item by item: both wrappers return the same probabilities up to float rounding, so the searches
should take the same path.

    XNLI_ROBUST_DATA=../shared/data .venv/bin/python benchmarks/attack_wrapper_throughput.py --n 8
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class Timed:
    """A TextAttack model wrapper proxy that counts pairs and time spent in the model."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.pairs = inner, 0.0, 0
        self.model = inner.model

    def __call__(self, text_input_list: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = self.inner(text_input_list)
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()
        self.seconds += time.perf_counter() - start
        self.pairs += len(text_input_list)
        return np.asarray(out)


def run(wrapper_kind: str, adapter: Any, items: dict[str, list[Any]], recipe: str, budget: int,
        data_root: Path, encoder: Any) -> tuple[dict[str, Any], list[str]]:
    from textattack.models.wrappers import HuggingFaceModelWrapper, ModelWrapper

    from attacks import ta_parts
    from attacks.adaptive import AttackSettings, build_attack
    from harness.scoring.attack import attack_item

    settings = AttackSettings(recipe=recipe, query_budget=budget)
    statuses, total = [], {"pairs": 0, "model_seconds": 0.0, "attack_seconds": 0.0, "queries": 0}
    for language, examples in items.items():
        attack = build_attack(settings, language, adapter, data_root, encoder)
        if wrapper_kind == "ours":
            inner: ModelWrapper = ta_parts.AdapterModelWrapper(adapter)
        else:
            inner = HuggingFaceModelWrapper(adapter.model, adapter.tokenizer)
        timed = Timed(inner)
        attack.goal_function.model = timed
        start = time.perf_counter()
        for example in examples:
            row = attack_item(attack, example, settings.seed)
            statuses.append(f"{row['status']}:{row['adversarial_hypothesis']}:{row['adversarial_premise']}")
            total["queries"] += row["num_queries"]
        total["attack_seconds"] += time.perf_counter() - start
        total["pairs"] += timed.pairs
        total["model_seconds"] += timed.seconds
    return total, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "submissions" / "direct-e5small-s1"))
    parser.add_argument("--recipe", default="charnoise")
    parser.add_argument("--languages", default="en,hi")
    parser.add_argument("--n", type=int, default=8, help="items per language")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from adapters import load_adapter
    from attacks.similarity import default_encoder
    from attacks.textattack_compat import import_textattack
    from harness.scoring.attack import select_items
    from harness.data.xnli import load_local
    from harness.core.paths import data_root

    root = data_root()
    import_textattack(root)
    adapter = load_adapter("hf", args.model)
    if tuple(adapter.label_map.order) != (0, 1, 2):
        raise SystemExit(f"{args.model}: label map {adapter.label_map} is not the canonical order; "
                         "TextAttack's wrapper would need it permuted")
    languages = args.languages.split(",")
    data = load_local(root / "xnli", "test", list(dict.fromkeys([*languages, "en"])))  # the sample comes from English
    items = select_items(data, languages, args.n, seed=0)
    encoder = default_encoder()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"model {args.model}; recipe {args.recipe}; {args.n} items x {languages}; budget {args.budget}")
    results = {}
    for kind in ("ours", "textattack"):
        totals, statuses = run(kind, adapter, items, args.recipe, args.budget, root, encoder)
        results[kind] = (totals, statuses)
        qps = totals["pairs"] / totals["model_seconds"] if totals["model_seconds"] else float("nan")
        print(f"{kind:10s} queries {totals['queries']:6d}  model pairs {totals['pairs']:6d}  "
              f"model {totals['model_seconds']:7.1f} s  {qps:7.1f} queries/s  attack {totals['attack_seconds']:7.1f} s")
    ours, theirs = results["ours"][0], results["textattack"][0]
    same = sum(a == b for a, b in zip(results["ours"][1], results["textattack"][1]))
    ratio_model = (ours["pairs"] / ours["model_seconds"]) / (theirs["pairs"] / theirs["model_seconds"])
    print(f"ratio (ours / TextAttack's HuggingFaceModelWrapper): model queries/s {ratio_model:.1f}x, "
          f"end-to-end attack time {theirs['attack_seconds'] / ours['attack_seconds']:.1f}x")
    print(f"identical adversarial outcomes: {same} of {len(results['ours'][1])} items")
    return 0


if __name__ == "__main__":
    sys.exit(main())
