"""Robustness metrics over a clean set and its perturbed versions.

Every perturbed number is compared with clean on *the same items*: a perturbation that is
not applicable to an item, or whose edit failed the similarity filter, removes that item from
its cell, and the clean accuracy of the cell is recomputed on the survivors.  Otherwise a
family that only applies to easy items would look harmless.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from harness.metrics.accuracy import accuracy_with_ci

Predictions = Mapping[str, Mapping[str, int]]  # language -> item id -> predicted label
ABSENT = -1


class LabelArray(Mapping[str, int]):
    """Labels of some clean items of one language: one byte per clean item, `ABSENT` where missing.

    Why not a dict: a streamed benchmark run keeps the predictions of every perturbed set until
    the metrics are computed at the end, and a dict costs ~100 bytes an item (~1M perturbed items
    in the full benchmark) where this costs one byte per clean item per set.  The item ids and
    their positions are the clean set's, shared by every array of the language.
    """

    def __init__(self, ids: Sequence[str], position: Mapping[str, int], labels: np.ndarray) -> None:
        if len(labels) != len(ids):
            raise ValueError(f"{len(labels)} labels for {len(ids)} items")
        self.ids, self.position, self.labels = ids, position, labels

    def __getitem__(self, item_id: str) -> int:
        label = int(self.labels[self.position[item_id]])
        if label == ABSENT:
            raise KeyError(item_id)
        return label

    def __contains__(self, item_id: object) -> bool:
        k = self.position.get(item_id) if isinstance(item_id, str) else None
        return k is not None and int(self.labels[k]) != ABSENT

    def __iter__(self) -> Iterator[str]:
        return (self.ids[k] for k in np.flatnonzero(self.labels != ABSENT))

    def __len__(self) -> int:
        return int(np.count_nonzero(self.labels != ABSENT))


def cell_metrics(gold: Mapping[str, int], clean: Mapping[str, int], perturbed: Mapping[str, int],
                 seed: int) -> dict[str, Any]:
    """Accuracy, clean accuracy on the same items, drop and flip rate for one cell."""
    ids = sorted(perturbed)
    if not ids:
        return {"n": 0, "accuracy": None, "clean_accuracy": None, "drop": None, "flip_rate": None}
    hits = np.array([perturbed[i] == gold[i] for i in ids])
    clean_hits = np.array([clean[i] == gold[i] for i in ids])
    flips = np.array([perturbed[i] != clean[i] for i in ids])
    scored = accuracy_with_ci(hits, seed)
    return {**scored, "clean_accuracy": float(clean_hits.mean()),
            "drop": float(clean_hits.mean() - hits.mean()), "flip_rate": float(flips.mean())}


def worst_case(gold: Mapping[str, int], clean: Mapping[str, int],
               variants: list[Mapping[str, int]], seed: int) -> dict[str, Any]:
    """Share of items right on the clean text *and* on every perturbed version of it."""
    ids = sorted(clean)
    hits = [clean[i] == gold[i] and all(v[i] == gold[i] for v in variants if i in v) for i in ids]
    return accuracy_with_ci(hits, seed)


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def summarise(gold: Mapping[str, Mapping[str, int]], clean: Predictions,
              perturbed: Mapping[str, Mapping[str, Predictions]], seed: int) -> dict[str, Any]:
    """Per family: per severity x language cells, plus family and language averages.

    `perturbed[family][severity][language][item] = prediction`.
    """
    families: dict[str, Any] = {}
    for family, by_severity in perturbed.items():
        cells: dict[str, dict[str, Any]] = {}
        for severity, by_language in by_severity.items():
            cells[severity] = {lang: cell_metrics(gold[lang], clean[lang], preds, seed)
                               for lang, preds in by_language.items()}
        per_language = {lang: {k: _mean([cells[s][lang][k] for s in cells if lang in cells[s]])
                               for k in ("accuracy", "clean_accuracy", "drop", "flip_rate")}
                        for lang in sorted({l for s in cells for l in cells[s]})}
        families[family] = {
            "cells": cells, "per_language": per_language,
            "average": {k: _mean([v[k] for v in per_language.values()])
                        for k in ("accuracy", "clean_accuracy", "drop", "flip_rate")},
        }
    worst = {lang: worst_case(gold[lang], clean[lang],
                              [perturbed[f][s][lang] for f in perturbed for s in perturbed[f] if lang in perturbed[f][s]],
                              seed)
             for lang in sorted(clean)}
    return {"families": families, "worst_case": {"per_language": worst,
                                                 "average": _mean([w["accuracy"] for w in worst.values()])}}


def heatmap(summary: dict[str, Any], languages: list[str], path: str, title: str) -> None:
    """Language x family drop heat map (PNG), written with matplotlib's non-GUI backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(summary["families"])
    grid = np.full((len(families), len(languages)), np.nan)
    for r, family in enumerate(families):
        for c, lang in enumerate(languages):
            value = summary["families"][family]["per_language"].get(lang, {}).get("drop")
            if value is not None:
                grid[r, c] = 100 * value
    fig, ax = plt.subplots(figsize=(max(4.0, 1 + 0.6 * len(languages)), 1.5 + 0.5 * len(families)))  # room for labels
    image = ax.imshow(grid, cmap="Reds", aspect="auto", vmin=min(0.0, np.nanmin(grid)) if np.isfinite(grid).any() else 0)
    ax.set_xticks(range(len(languages)), languages)
    ax.set_yticks(range(len(families)), families)
    for (r, c), value in np.ndenumerate(grid):
        ax.text(c, r, "–" if np.isnan(value) else f"{value:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="accuracy drop (points)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
