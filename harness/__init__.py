"""xnli-robust: score NLI checkpoints on XNLI and on a fixed benchmark of perturbed XNLI sets.

The code is built in floors, each importing only the floors below it (tests/test_layering.py):
`harness.core` (errors, examples, hashing, atomic writes, paths, the record, one registry,
seeds), `adapters` (the model seam and its backends), `attacks` (perturbations), `harness.data`
(readers, the spec, the benchmark reader), `harness.metrics`, then the stages
`harness.training`, `harness.generate` and `harness.scoring`, then `leaderboard`, and the CLI on
top.  Heavy libraries (torch, transformers, datasets) are imported only where used, so that
`xnli-robust --help` stays instant.
"""

__version__ = "0.1.0"

LANGUAGES: tuple[str, ...] = (
    "en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur",
)
"""The 15 XNLI languages, in the order of the XNLI paper's tables."""

LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
"""Canonical label order. Every adapter returns probabilities in this order."""
