"""xnli-robust: score NLI checkpoints on XNLI and on a fixed benchmark of perturbed XNLI sets.

The package is split along its seams: `harness` (data, scoring, records, CLI), `adapters`
(models behind one small protocol), `attacks` (perturbations) and `leaderboard` (rendering).
Heavy libraries (torch, transformers, datasets) are imported only where used, so that
`xnli-robust --help` stays instant.
"""

__version__ = "0.1.0"

LANGUAGES: tuple[str, ...] = (
    "en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur",
)
"""The 15 XNLI languages, in the order of the XNLI paper's tables."""

LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
"""Canonical label order. Every adapter returns probabilities in this order."""
