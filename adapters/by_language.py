"""Calling an adapter with examples of several languages at once.

Why: `bench` scores consecutive units in one call (`harness.scoring.bench.GROUP_PAIRS`), so one call
can hold clean English and clean French items.  A classifier is scored on them together, as
before (one length-sorted call: its batches and so its bytes are unchanged); a prompted model
(`identity()["language_dependent"]`) needs one call per language, and the probabilities are put
back in the caller's order.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from harness.core.examples import NLIExample


def predict_examples(adapter: Any, items: Sequence[NLIExample], by_language: bool) -> np.ndarray:
    """Probabilities (len(items), 3) in item order; each call names its language when it has one."""
    if not items:
        return np.zeros((0, 3), dtype=np.float32)
    languages = list(dict.fromkeys(e.language for e in items))  # first-seen order: deterministic
    if len(languages) == 1 or not by_language:
        return _call(adapter, items, languages[0] if len(languages) == 1 else None)
    positions = {lang: [i for i, e in enumerate(items) if e.language == lang] for lang in languages}
    parts = {lang: _call(adapter, [items[i] for i in where], lang) for lang, where in positions.items()}
    first = parts[languages[0]]
    out = np.zeros((len(items), first.shape[1]), dtype=first.dtype)
    for lang, where in positions.items():
        out[where] = parts[lang]
    return out


def _call(adapter: Any, items: Sequence[NLIExample], language: str | None) -> np.ndarray:
    pairs = [(e.premise, e.hypothesis) for e in items]
    return adapter.predict(pairs) if language is None else adapter.predict(pairs, language=language)
