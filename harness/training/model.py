"""The network being trained: base + LoRA (or full), per-stage task heads, encoding and batching.

All randomness comes from the recipe seed through `derive_seed`, so head initialisation does not
depend on global random state.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from harness.core.seeds import derive_seed
from harness.core.errors import ModelError
from harness.data.tasks import Item, PairItem

from adapters.checkpoints import _load_classifier, _quiet_peft
from harness.training.recipe import Recipe
def _generator(seed: int, *parts: Any) -> Any:
    import torch

    return torch.Generator().manual_seed(derive_seed(seed, *parts))


def _reinit(module: Any, std: float, generator: Any) -> None:
    """Fresh weights from our own generator (transformers' init would use the global RNG)."""
    import torch

    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, torch.nn.Linear):
                sub.weight.copy_(torch.randn(sub.weight.shape, generator=generator) * std)
                if sub.bias is not None:
                    sub.bias.zero_()
            elif isinstance(sub, torch.nn.LayerNorm):
                sub.weight.fill_(1.0)
                sub.bias.zero_()


def _classifier_attr(net: Any) -> str:
    for name in ("classifier", "score"):
        if hasattr(net, name):
            return name
    raise ModelError(f"{type(net).__name__} has no 'classifier' or 'score' head; cannot swap task heads")


def _fresh_modules(net: Any, info: dict[str, Any], head: str) -> list[str]:
    """Modules the base checkpoint lacks (must be trained and saved), plus the classifier."""
    prefix = getattr(net, "base_model_prefix", "")
    fresh = {head}
    for key in [*info.get("missing_keys", []), *[m[0] if isinstance(m, tuple) else m
                                                 for m in info.get("mismatched_keys", [])]]:
        parts = str(key).split(".")
        name = ".".join(parts[:2]) if parts[0] == prefix and len(parts) > 2 else parts[0]
        fresh.add(name)
    unexpected = sorted(n for n in fresh if n != head and not n.endswith("pooler"))
    if unexpected:
        raise ModelError(f"base model lacks weights for {unexpected}: it does not fit this architecture")
    return sorted(fresh)


@dataclass
class ModelBundle:
    """The trained module and what is needed to use, swap heads in, and save it."""

    model: Any  # PeftModel (lora) or the sequence-classification model (full)
    net: Any  # the sequence-classification module whose head slot is swapped per stage
    tokenizer: Any
    head_attr: str
    fresh: list[str]
    base_folder: Path


def build_model(recipe: Recipe, base_folder: Path, device: str) -> ModelBundle:
    """Base encoder + fresh 3-way MNLI head (+ LoRA), all initialised from the recipe seed."""
    import torch
    from transformers import AutoTokenizer

    net, info = _load_classifier(base_folder)
    head = _classifier_attr(net)
    fresh = _fresh_modules(net, info, head)
    std = float(getattr(net.config, "initializer_range", 0.02))
    for name in fresh:
        _reinit(net.get_submodule(name), std, _generator(recipe.seed, "fresh", name))
    model = net
    if recipe.training.method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = recipe.training.lora
        torch.manual_seed(derive_seed(recipe.seed, "lora-init"))
        config = LoraConfig(task_type="SEQ_CLS", r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=list(lora.target_modules), modules_to_save=list(fresh))
        try:
            with _quiet_peft():
                model = get_peft_model(net, config)
        except ValueError as exc:
            raise ModelError(f"LoRA cannot be applied: {exc}") from None
        net = model.base_model.model
    tokenizer = AutoTokenizer.from_pretrained(base_folder, local_files_only=True)
    model.to(torch.device(device))
    return ModelBundle(model, net, tokenizer, head, fresh, base_folder)


def trainable_state(model: Any) -> dict[str, Any]:
    """Copies of every trainable tensor (LoRA weights and saved modules, or everything)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: Any, state: dict[str, Any]) -> None:
    import torch

    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in state]
    if missing or any(n not in params for n in state):
        raise ModelError(f"checkpoint does not fit the model (missing {missing[:3]}, "
                         f"unknown {[n for n in state if n not in params][:3]})")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor)


# =========================================================================== heads and batches


def make_head(template: Any, outputs: int, generator: Any, std: float) -> Any:
    """A fresh head shaped like the model's classifier but with `outputs` outputs.

    Reusing the classifier's own class keeps each architecture's head logic (BERT: pooled output
    -> linear; XLM-R: <s> state -> dense -> tanh -> linear) without re-implementing it.
    """
    import torch

    if hasattr(template, "modules_to_save"):  # peft's ModulesToSaveWrapper
        template = template.modules_to_save["default"]
    # nn.Linear's constructor draws from the global RNG, which drives dropout: building a head
    # must not shift that stream, or a run resumed mid-stage would differ from an uninterrupted one.
    with torch.random.fork_rng(devices=[]):
        head = _head_like(template, outputs)
    _reinit(head, std, generator)
    return head


def _head_like(template: Any, outputs: int) -> Any:
    import torch

    if isinstance(template, torch.nn.Linear):
        head = torch.nn.Linear(template.in_features, outputs)
    else:
        head = copy.deepcopy(template)
        linears = [(n, m) for n, m in head.named_modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise ModelError(f"cannot build a task head from {type(template).__name__}")
        name, last = linears[-1]
        parent = head.get_submodule(name.rpartition(".")[0]) if "." in name else head
        setattr(parent, name.rpartition(".")[2], torch.nn.Linear(last.in_features, outputs))
    return head


@contextlib.contextmanager
def swapped_head(net: Any, attr: str, head: Any | None) -> Iterator[None]:
    """Put an intermediate task head in the classifier slot for one forward pass."""
    if head is None:
        yield
        return
    original = getattr(net, attr)
    setattr(net, attr, head)
    try:
        yield
    finally:
        setattr(net, attr, original)


Encoded = dict[str, list[int]]


def encode_items(tokenizer: Any, items: Sequence[Item], max_length: int) -> list[Any]:
    """Token ids per item: one row for a pair, one row per choice for multiple choice."""
    if not items:
        return []
    if isinstance(items[0], PairItem):
        enc = tokenizer([it.text_a for it in items], [it.text_b for it in items],
                        truncation=True, max_length=max_length)
        return [{k: enc[k][i] for k in enc.keys()} for i in range(len(items))]
    flat_a = [it.prompt for it in items for _ in it.choices]
    flat_b = [c for it in items for c in it.choices]
    enc = tokenizer(flat_a, flat_b, truncation=True, max_length=max_length)
    rows = [{k: enc[k][i] for k in enc.keys()} for i in range(len(flat_a))]
    out, start = [], 0
    for it in items:
        out.append(rows[start:start + len(it.choices)])
        start += len(it.choices)
    return out


def collate(rows: Sequence[Encoded], pad_id: int, device: Any) -> dict[str, Any]:
    """Pad to the longest row of this batch only (dynamic padding)."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    batch: dict[str, Any] = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        batch[key] = torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows], dtype=torch.long)
    if "attention_mask" not in batch:
        batch["attention_mask"] = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"]))
                                                for r in rows], dtype=torch.long)
    return {k: v.to(device) for k, v in batch.items()}
