"""Accuracy with bootstrap confidence intervals.

XNLI items are parallel across languages, so the macro average's interval resamples *items*
(the same resampled ids in every language) rather than treating languages as independent.
The bootstrap uses its own seeded `numpy.random.Generator`, never global state.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np

N_BOOTSTRAP = 1000


def _interval(samples: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def accuracy_with_ci(correct: Sequence[bool], seed: int, n_boot: int = N_BOOTSTRAP) -> dict[str, float]:
    """Accuracy and a percentile-bootstrap 95% interval."""
    hits = np.asarray(correct, dtype=np.float64)
    if hits.size == 0:
        raise ValueError("accuracy of zero items")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, hits.size, size=(n_boot, hits.size))
    low, high = _interval(hits[idx].mean(axis=1))
    return {"accuracy": float(hits.mean()), "ci_low": low, "ci_high": high, "n": int(hits.size)}


def macro_with_ci(correct_by_language: Mapping[str, Mapping[str, bool]], seed: int,
                  n_boot: int = N_BOOTSTRAP) -> dict[str, float]:
    """Macro average over languages with an item-level paired bootstrap.

    `correct_by_language[lang][item_id]`; items missing in a language are resampled only where
    present (per-language means over the resampled ids that exist there).
    """
    languages = sorted(correct_by_language)
    ids = sorted({i for lang in languages for i in correct_by_language[lang]})
    position = {item: k for k, item in enumerate(ids)}
    matrix = np.full((len(languages), len(ids)), np.nan)
    for row, lang in enumerate(languages):
        for item, hit in correct_by_language[lang].items():
            matrix[row, position[item]] = float(hit)
    point = float(np.mean([np.nanmean(matrix[row]) for row in range(len(languages))]))
    rng = np.random.default_rng(seed)
    samples = np.empty(n_boot)
    for b in range(n_boot):
        cols = matrix[:, rng.integers(0, len(ids), size=len(ids))]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            # languages that share no ids (a custom file) can draw none of a language's items:
            # that language is left out of this sample's mean, which nanmean does; no warning needed
            warnings.simplefilter("ignore", RuntimeWarning)
            samples[b] = np.nanmean(np.nanmean(cols, axis=1))
    low, high = _interval(samples)
    return {"accuracy": point, "ci_low": low, "ci_high": high, "n_languages": len(languages)}
