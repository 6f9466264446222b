"""A persistent prediction cache in front of any adapter.

Keyed by (model identity hash, pair text hash): the identity hash covers the weights hash,
label map, max length and precision, so a changed model can never be served a stale answer;
the pair hash covers the NFC text of premise and hypothesis.  Clean items are scored once and
shared by every family that leaves them unchanged, and re-scoring an unchanged model on an
unchanged benchmark only reads the cache.  SQLite commits each batch in one transaction, so
an interrupted run keeps what it finished and never stores a half-written row.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.hashing import sha256_json, sha256_text

IDENTITY_KEYS = ("weights_sha256", "label_map", "max_length", "precision", "adapter", "architecture")


def model_key(identity: dict[str, Any]) -> str:
    """What decides a model's predictions; anything else (device, batch size) does not."""
    return sha256_json({k: identity.get(k) for k in IDENTITY_KEYS})


def pair_key(premise: str, hypothesis: str) -> str:
    return sha256_text(premise + "\x1f" + hypothesis)


class CachedAdapter:
    """Wraps a `ModelAdapter`; same protocol, predictions served from `path` when known."""

    def __init__(self, inner: Any, path: Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key = model_key(inner.identity())
        self.hits = 0
        self.misses = 0
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS predictions (model TEXT, pair TEXT, probs BLOB, "
                       "PRIMARY KEY (model, pair))")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    @property
    def stats(self) -> dict[str, int]:
        return getattr(self.inner, "stats", {})

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        keys = [pair_key(p, h) for p, h in pairs]
        found = self._lookup(sorted(set(keys)))
        missing = sorted({k for k in keys if k not in found})
        self.hits += sum(1 for k in keys if k in found)
        self.misses += len(keys) - sum(1 for k in keys if k in found)
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            probs = self.inner.predict([pairs[first[k]] for k in missing])
            fresh = {k: row.astype(np.float32) for k, row in zip(missing, probs)}
            self._store(fresh)
            found.update(fresh)
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 3), dtype=np.float32)

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._connect() as db:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT pair, probs FROM predictions WHERE model = ? AND pair IN ({marks})",
                                  [self.key, *chunk])
                out.update({pair: np.frombuffer(blob, dtype=np.float32).copy() for pair, blob in rows})
        return out

    def _store(self, rows: dict[str, np.ndarray]) -> None:
        with self._connect() as db:  # one transaction: all rows or none
            db.executemany("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?)",
                           [(self.key, k, v.tobytes()) for k, v in rows.items()])
