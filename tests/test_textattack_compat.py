"""The TextAttack compatibility layer: offline import, no downloads, seeded output.

Tests that need TextAttack itself are skipped when it is not installed (it is an optional
extra); the preparation steps are tested either way.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

import pytest

from attacks import textattack_compat as compat
from harness.core.errors import HarnessError

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."

needs_textattack = pytest.mark.skipif(
    not compat.textattack_available(),
    reason=f"TextAttack not installed ({compat.INSTALL_HINT})",
)


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_root: Path) -> Path:
    """Own cache root and NLTK path, restored afterwards; the network refuses to connect."""
    import nltk.data

    monkeypatch.setenv("XNLI_ROBUST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NLTK_DATA", str(data_root / "nltk_data"))
    monkeypatch.delenv("TA_CACHE_DIR", raising=False)
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return tmp_path / "cache"


def test_prepare_makes_marker_stopwords_and_nltk_path(isolated: Path, data_root: Path) -> None:
    import nltk.data

    compat.prepare_textattack(data_root)
    try:
        marker = isolated / "textattack" / compat.POST_INSTALL_MARKER
        assert marker.is_file()
        assert str(data_root / "nltk_data") in nltk.data.path
        # Found through NLTK's search path, but read directly: loading the global
        # `nltk.corpus.stopwords` here would pin it to this test's temporary folder.
        english = Path(str(nltk.data.find("corpora/stopwords/english")))
        assert {"not", "no", "the"} <= set(english.read_text(encoding="utf-8").split())
    finally:
        _drop_flair_stand_in()


def test_prepare_keeps_a_user_ta_cache_dir(isolated: Path, data_root: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TA_CACHE_DIR", str(tmp_path / "mine"))
    compat.prepare_textattack(data_root)
    _drop_flair_stand_in()
    assert (tmp_path / "mine" / compat.POST_INSTALL_MARKER).is_file()


def test_no_nltk_downloads_answers_from_local_files(isolated: Path, data_root: Path) -> None:
    import nltk

    compat.prepare_textattack(data_root)
    _drop_flair_stand_in()
    original = nltk.download
    with compat.no_nltk_downloads():
        assert nltk.download("wordnet") is True
        assert nltk.download("omw-1.4") is False
    assert nltk.download is original


def test_flair_stand_in_fails_clearly_when_a_tagger_is_needed() -> None:
    if importlib.util.find_spec("flair") is not None and not _is_stand_in():
        pytest.skip("a real flair is installed")
    compat._register_flair_stand_in()
    try:
        from flair.data import Sentence
        from flair.models import SequenceTagger

        with pytest.raises(compat.FlairUnavailable, match="transformers<5"):
            Sentence("a b")
        with pytest.raises(HarnessError):
            SequenceTagger.load("upos-fast")
    finally:
        if "textattack" not in sys.modules:
            _drop_flair_stand_in()


def test_missing_textattack_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                 data_root: Path) -> None:
    monkeypatch.delitem(sys.modules, "textattack", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "textattack" else real_find_spec(name, *a))
    with pytest.raises(HarnessError, match=r"make textattack .*--no-deps --require-hashes --target"):
        compat.import_textattack(data_root)


@needs_textattack
def test_augmenter_runs_offline_and_is_reproducible_when_seeded(isolated: Path,
                                                                data_root: Path) -> None:
    """TextAttack draws from the global `random` and NumPy RNGs: seeding both pins its output."""
    import os

    ta = compat.import_textattack(data_root)
    assert os.environ.get("HF_HOME") is None or "textattack" not in os.environ["HF_HOME"]
    pre = ta.constraints.pre_transformation

    def augment(seed: int) -> list[str]:
        compat.seed_textattack(seed)
        augmenter = ta.augmentation.Augmenter(
            transformation=ta.transformations.WordSwapRandomCharacterSubstitution(),
            constraints=[pre.RepeatModification(),
                         pre.StopwordModification(stopwords=compat.ENGLISH_STOPWORDS)],
            pct_words_to_swap=0.25,
        )
        return augmenter.augment(SENTENCE)

    first = augment(3)
    assert first == augment(3)
    assert len(first) == 1 and first[0] != SENTENCE
    assert len(first[0].split()) == len(SENTENCE.split())
    if _textattack_version() == compat.TEXTATTACK_VERSION:
        assert first == ["The quick brown fox jumps over the lazy jog near the Iiver baek."]


@needs_textattack
def test_attack_with_a_toy_model_runs_offline(isolated: Path, data_root: Path) -> None:
    import numpy as np

    ta = compat.import_textattack(data_root)

    class KeywordModel(ta.models.wrappers.ModelWrapper):
        """Class 0 while the word 'fox' survives, else class 1."""

        model = None

        def __call__(self, texts: list[str]) -> np.ndarray:
            return np.array([[0.9, 0.1] if "fox" in t.split() else [0.1, 0.9] for t in texts])

    t = ta.transformations
    attack = ta.Attack(
        ta.goal_functions.UntargetedClassification(KeywordModel()),
        [ta.constraints.pre_transformation.RepeatModification()],
        t.CompositeTransformation([t.WordSwapNeighboringCharacterSwap(), t.WordSwapQWERTY()]),
        ta.search_methods.GreedyWordSwapWIR("delete"),
    )
    compat.seed_textattack(0)
    result = attack.attack(SENTENCE, 0)
    assert isinstance(result, ta.attack_results.SuccessfulAttackResult)
    assert "fox" not in result.perturbed_result.attacked_text.text.split()


def _is_stand_in() -> bool:
    return getattr(sys.modules.get("flair"), "XNLI_ROBUST_STAND_IN", False)


def _drop_flair_stand_in() -> None:
    if _is_stand_in() and "textattack" not in sys.modules:
        for name in ("flair", "flair.data", "flair.models"):
            sys.modules.pop(name, None)


def _textattack_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("textattack")
