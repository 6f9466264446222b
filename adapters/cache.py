"""A persistent prediction cache in front of any adapter.

Keyed by (model identity hash, pair text hash): the identity hash covers the weights hash,
label map, max length and precision, so a changed model can never be served a stale answer;
the pair hash covers the NFC text of premise and hypothesis.  Clean items are scored once and
shared by every family that leaves them unchanged, and re-scoring an unchanged model on an
unchanged benchmark only reads the cache.  SQLite commits each batch in one transaction, so
an interrupted run keeps what it finished and never stores a half-written row.

A cache is a convenience, never a source of truth: every row carries a checksum of its model,
pair and probabilities, and a row that fails it (edited, short, from a damaged file) is not
served but recomputed and rewritten; a file that is not a readable database is moved aside
(`NAME.corrupt`) and rebuilt, with a warning, so a broken cache never stops or skews a run.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from harness.core.errors import warn
from harness.core.hashing import sha256_json, sha256_text

IDENTITY_KEYS = ("weights_sha256", "label_map", "max_length", "precision", "adapter", "architecture")


def model_key(identity: dict[str, Any]) -> str:
    """What decides a model's predictions; anything else (device, batch size) does not.

    A prompted model's prompt hash joins the key only when it has one, so a classifier's key
    is byte-identical to what it was before prompts existed (its cache rows stay valid)."""
    fields = {k: identity.get(k) for k in IDENTITY_KEYS}
    prompt = identity.get("prompt")
    if isinstance(prompt, dict) and prompt.get("sha256"):
        fields["prompt_sha256"] = prompt["sha256"]
    return sha256_json(fields)


def pair_key(premise: str, hypothesis: str, language: str | None = None) -> str:
    """The pair's text hash; with `language` only for adapters whose predictions depend on it."""
    if language is None:
        return sha256_text(premise + "\x1f" + hypothesis)
    return sha256_text(language + "\x1e" + premise + "\x1f" + hypothesis)


TABLE = "predictions_v2"
"""v2: rows carry a checksum (v1 rows, without one, are never read)."""
ROW_BYTES = 3 * 4  # three float32 probabilities


def row_digest(model: str, pair: str, probs: bytes) -> str:
    return hashlib.sha256(b"\x1f".join((model.encode(), pair.encode(), probs))).hexdigest()


class CachedAdapter:
    """Wraps a `ModelAdapter`; same protocol, predictions served from `path` when known and intact."""

    def __init__(self, inner: Any, path: Path, warn: Callable[[str], None] = warn) -> None:
        self.inner = inner
        self.path = Path(path)
        self.warn = warn
        identity = inner.identity()
        self.key = model_key(identity)
        self.language_dependent = bool(identity.get("language_dependent"))
        """Then the language is part of every pair key (a prompted model answers per language)."""
        self.hits = 0
        self.misses = 0
        self.rejected = 0
        """Rows found but not served: checksum mismatch, wrong length, not probabilities."""
        self.enabled = True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._disable(f"cannot create {self.path.parent} ({exc.strerror or exc})")
            return
        self._guarded(self._create)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def _create(self) -> None:
        with self._connect() as db:
            db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (model TEXT, pair TEXT, probs BLOB, digest TEXT, "
                       "PRIMARY KEY (model, pair))")

    def _guarded(self, action: Callable[[], Any], rebuild: bool = True) -> Any:
        """Run a database action; a damaged file is moved aside and rebuilt once, then the cache is off."""
        if not self.enabled:
            return None
        try:
            return action()
        except sqlite3.DatabaseError as exc:
            if not rebuild:
                self._disable(f"{self.path} still fails after a rebuild ({exc})")
                return None
            self._rebuild(exc)
            return self._guarded(action, rebuild=False) if self.enabled else None

    def _rebuild(self, exc: Exception) -> None:
        aside = self.path.with_name(self.path.name + ".corrupt")
        self.warn(f"prediction cache {self.path} is unreadable ({exc}); moved it to {aside} and starting an empty one")
        try:
            os.replace(self.path, aside)
            self._create()
        except (OSError, sqlite3.DatabaseError) as again:
            self._disable(f"cannot rebuild {self.path} ({again})")

    def _disable(self, why: str) -> None:
        self.warn(f"prediction cache off for this run: {why}")
        self.enabled = False

    @property
    def stats(self) -> dict[str, int]:
        return getattr(self.inner, "stats", {})

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def predict(self, pairs: Sequence[tuple[str, str]], language: str | None = None) -> np.ndarray:
        if self.language_dependent and language is None:
            return self.inner.predict(pairs)  # its own error: it cannot answer without a language
        keys = [pair_key(p, h, language if self.language_dependent else None) for p, h in pairs]
        found = self._guarded(lambda: self._lookup(sorted(set(keys)))) or {}
        missing = sorted({k for k in keys if k not in found})
        self.hits += sum(1 for k in keys if k in found)
        self.misses += len(keys) - sum(1 for k in keys if k in found)
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            todo = [pairs[first[k]] for k in missing]
            # no keyword for language-free calls: adapters written before it keep working
            probs = self.inner.predict(todo) if language is None else self.inner.predict(todo, language=language)
            fresh = {k: row.astype(np.float32) for k, row in zip(missing, probs)}
            self._guarded(lambda: self._store(fresh))
            found.update(fresh)
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 3), dtype=np.float32)

    def seed(self, rows: dict[str, np.ndarray]) -> None:
        """Store answers known from elsewhere (pair key -> probabilities), e.g. a previous run's
        predictions for texts that did not change; they get checksums like any row."""
        self._guarded(lambda: self._store({k: np.asarray(v, dtype=np.float32) for k, v in rows.items()}))

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        bad = 0
        with self._connect() as db:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT pair, probs, digest FROM {TABLE} WHERE model = ? AND pair IN ({marks})",
                                  [self.key, *chunk])
                for pair, blob, digest in rows:
                    probs = self._intact(pair, blob, digest)
                    if probs is None:
                        bad += 1
                    else:
                        out[pair] = probs
        if bad:
            self.rejected += bad
            self.warn(f"prediction cache {self.path}: {bad} row(s) failed their checksum or shape and were "
                      "recomputed, not served")
        return out

    def _intact(self, pair: str, blob: Any, digest: Any) -> np.ndarray | None:
        if not isinstance(blob, bytes) or len(blob) != ROW_BYTES or digest != row_digest(self.key, pair, blob):
            return None
        probs = np.frombuffer(blob, dtype=np.float32).copy()
        return probs if np.isfinite(probs).all() else None

    def _store(self, rows: dict[str, np.ndarray]) -> None:
        with self._connect() as db:  # one transaction: all rows or none
            db.executemany(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?)",
                           [(self.key, k, v.tobytes(), row_digest(self.key, k, v.tobytes())) for k, v in rows.items()])
