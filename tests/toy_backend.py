"""A third model backend that exists only in the tests: it proves a backend is added by
registering it, with no edit to bench, attack, the record or the leaderboard."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np


class ToyAdapter:
    """Probabilities from a hash of the text: deterministic, batch-independent, no weights."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stats = {"pairs": 0, "truncated": 0}

    @classmethod
    def load(cls, model: str, **options: Any) -> "ToyAdapter":
        return cls(Path(model))

    def predict(self, pairs: Sequence[tuple[str, str]], language: str | None = None) -> np.ndarray:
        self.stats["pairs"] += len(pairs)
        rows = []
        for premise, hypothesis in pairs:
            digest = hashlib.sha256(f"{premise}\x1f{hypothesis}".encode("utf-8")).digest()
            logits = np.frombuffer(digest[:12], dtype=np.uint32).astype(np.float64) / 2**32
            rows.append(np.exp(logits) / np.exp(logits).sum())
        return np.asarray(rows, dtype=np.float32).reshape(len(pairs), 3)

    def identity(self) -> dict[str, Any]:
        return {"id": str(self.folder), "revision": None, "adapter": "toy", "weights_sha256": "0" * 64,
                "label_map": {"entailment": 0, "neutral": 1, "contradiction": 2}, "label_map_source": "config",
                "max_length": 128, "precision": "float32"}
