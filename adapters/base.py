"""The model seam.

A `ModelAdapter` turns (premise, hypothesis) pairs into probabilities over the three labels in
the canonical order (entailment, neutral, contradiction) and describes itself (`identity()`)
well enough for a result record to say exactly what was measured.  Backends are registered by
name as lazily imported `"module:Class"` strings, so `--help` never imports torch.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from harness.core.registry import Registry

Pair = tuple[str, str]


@runtime_checkable
class ModelAdapter(Protocol):
    """What the harness needs from a model."""

    def predict(self, pairs: Sequence[Pair]) -> np.ndarray:
        """Probabilities of shape (len(pairs), 3), canonical label order, rows summing to 1."""
        ...

    def identity(self) -> dict[str, Any]:
        """Model id, revision, weights hash, label map and inference settings, for the record."""
        ...


ADAPTERS: Registry[str] = Registry("adapter", {
    "hf": "adapters.hf:HFAdapter",
})


def load_adapter(kind: str, model: str, **options: Any) -> ModelAdapter:
    """Build the adapter `kind` for `model` (a folder or hub id)."""
    return ADAPTERS.load(kind).load(model, **options)  # type: ignore[attr-defined,no-any-return]
