"""The model seam.

A `ModelAdapter` turns (premise, hypothesis) pairs into probabilities over the three labels in
the canonical order (entailment, neutral, contradiction) and describes itself (`identity()`)
well enough for a result record to say exactly what was measured.  Backends are registered by
name as lazily imported `"module:Class"` strings, so `--help` never imports torch.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from harness.core.registry import Registry

Pair = tuple[str, str]


@runtime_checkable
class ModelAdapter(Protocol):
    """What the harness needs from a model."""

    def predict(self, pairs: Sequence[Pair], language: str | None = None) -> np.ndarray:
        """Probabilities of shape (len(pairs), 3), canonical label order, rows summing to 1.

        `language` is the XNLI code shared by every pair of the call, or None when unknown or
        mixed.  A classifier ignores it; a prompted model needs it (its prompt words differ per
        language) and says so with `identity()["language_dependent"] = True`, which is what
        makes callers split calls by language and caches key on it.
        """
        ...

    def identity(self) -> dict[str, Any]:
        """Model id, revision, weights hash, label map and inference settings, for the record.

        Also the cache's key (`adapters.cache.model_key`): everything that decides predictions,
        including the tokenisation limit `max_length` and the precision, is in it."""
        ...

    @property
    def stats(self) -> Mapping[str, int]:
        """Counters the record reports: `pairs` scored and `truncated` (pairs longer than the
        tokenisation limit, cut and counted, never hidden)."""
        ...


# Optional, declared by a backend's class: `precisions`, the names `adapters.precision.apply` may
# convert it to (int8, bf16, onnxruntime); a backend without it is scored in fp32 only.


ADAPTERS: Registry[str] = Registry("adapter", {
    "hf": "adapters.hf:HFAdapter",
    "causal-lm": "adapters.causal_lm:CausalLMAdapter",
})


def adapter_class(kind: str) -> Any:
    """The class registered as `kind`, imported (its module imports torch lazily, at load)."""
    return ADAPTERS.load(kind)


def language_dependent(adapter: Any) -> bool:
    """Whether `adapter`'s predictions depend on the `language` passed to `predict`."""
    return bool(adapter.identity().get("language_dependent"))


def load_adapter(kind: str, model: str, **options: Any) -> ModelAdapter:
    """Build the adapter `kind` for `model` (a folder or hub id)."""
    return adapter_class(kind).load(model, **options)  # type: ignore[no-any-return]
