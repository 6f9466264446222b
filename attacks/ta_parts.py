"""TextAttack parts built from the project's own perturbations, model seam and segmentation.

Imported only after `attacks.textattack_compat.import_textattack` succeeded (this module imports
TextAttack at load).  Everything here plugs into TextAttack's published extension points
(`ModelWrapper`, `WordSwap`, `PreTransformationConstraint`, `Constraint`); TextAttack's
installed files are never edited.  The one behaviour changed at run time is word segmentation
(`segmentation`), and only inside that context manager.

Why a segmentation hook: `AttackedText.words` comes from `textattack.shared.utils.
words_from_text`, which splits on spaces and keeps `\\w` runs.  `\\w` excludes combining marks,
so Thai and Hindi words are shredded ("ที่" loses its vowel sign), and Thai has no spaces at
all.  Inside `segmentation(language)` the name `words_from_text` in `textattack.shared.
attacked_text` resolves to `attacks.text.words` (pythainlp for Thai, jieba for Chinese, letters
plus marks elsewhere).  A dictionary segmenter may cut an edited text differently from the
original ("ที่นี่" edited to "ที่นี้" can become two words), which would desynchronise TextAttack's
word-index bookkeeping; so inside the context every text TextAttack derives by replacing words
gets exactly the word list it was built from (a memo), and every word or candidate already seen
as a single word stays a single word when segmented alone.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import textattack.shared.attacked_text as _attacked_text_module
from textattack.constraints import Constraint, PreTransformationConstraint
from textattack.models.wrappers import ModelWrapper
from textattack.shared import AttackedText
from textattack.transformations import WordSwap

from adapters.base import ModelAdapter
from harness.core import seeds
from attacks import charnoise
from attacks.codeswitch import match_case as match_translation_case
from attacks.codeswitch import translation_candidates
from attacks.protected import has_lists, is_protected
from attacks.similarity import SentenceEncoder
from attacks.synonyms import synonym_candidates
from attacks.text import nfc, words

COLUMNS: tuple[str, str] = ("premise", "hypothesis")

# --------------------------------------------------------------------------- segmentation


@dataclass
class _Segmentation:
    """Per-context state: the language, texts' word lists, and words known to be single."""

    language: str
    texts: dict[str, list[str]] = field(default_factory=dict)
    single: set[str] = field(default_factory=set)

    def split(self, text: str) -> list[str]:
        if text in self.texts:
            return list(self.texts[text])
        if text in self.single:
            return [text]
        found = [span.text for line in text.split("\n") for span in words(line, self.language)]
        self.single.update(found)
        return found


_STATE: contextvars.ContextVar[_Segmentation | None] = contextvars.ContextVar(
    "xnli_robust_ta_segmentation", default=None)
_ORIGINAL_WORDS_FROM_TEXT = _attacked_text_module.words_from_text
_ORIGINAL_GENERATE = AttackedText.generate_new_attacked_text


def _words_from_text(s: str, words_to_ignore: Sequence[str] = ()) -> list[str]:
    state = _STATE.get()
    if state is None:
        return _ORIGINAL_WORDS_FROM_TEXT(s, list(words_to_ignore))
    return [w for w in state.split(s) if w not in words_to_ignore]


def _generate_new_attacked_text(self: AttackedText, new_words: Any) -> AttackedText:
    new_words = list(new_words)
    result = _ORIGINAL_GENERATE(self, new_words)
    state = _STATE.get()
    if state is not None:
        result._words = [w for piece in new_words for w in state.split(piece)]
        state.texts[result.text] = list(result._words)
    return result


def _install_hooks() -> None:
    """Route TextAttack's two segmentation entry points through this module (idempotent)."""
    _attacked_text_module.words_from_text = _words_from_text
    AttackedText.generate_new_attacked_text = _generate_new_attacked_text  # type: ignore[method-assign]


@contextlib.contextmanager
def segmentation(language: str) -> Iterator[None]:
    """Within the block, AttackedText words are `language`'s words (see the module docstring).

    Outside any such block the hooks defer to TextAttack's own behaviour, so other users of
    TextAttack in the same process are unaffected.
    """
    _install_hooks()
    token = _STATE.set(_Segmentation(language))
    try:
        yield
    finally:
        _STATE.reset(token)


def register_single_words(candidates: Sequence[str]) -> None:
    """Candidates without spaces count as one word each when TextAttack re-segments them."""
    state = _STATE.get()
    if state is not None:
        state.single.update(c for c in candidates if c and not any(ch.isspace() for ch in c))


def attacked_pair(premise: str, hypothesis: str) -> AttackedText:
    """The pair exactly as `bench` scores it, not normalised: the attack's clean prediction must be
    the benchmark's.  (It was NFC-normalised once, and 522 of the 5,010 Hindi test items, 19 Arabic
    and 6 Thai, are not NFC: a model whose tokenizer does not normalise then answered another text
    than bench's; tests/test_attack.py checks the two agree.)  Only the edited words become NFC, as
    the transformations build their candidates from the NFC form."""
    return AttackedText(OrderedDict([("premise", premise), ("hypothesis", hypothesis)]))


# --------------------------------------------------------------------------- model wrapper


class AdapterModelWrapper(ModelWrapper):
    """Any `ModelAdapter` as a TextAttack model: (premise, hypothesis) tuples in, probabilities
    over (entailment, neutral, contradiction) out.

    The adapter keeps its own length-sorted dynamic padding; TextAttack's
    `HuggingFaceModelWrapper` pads every batch to `model_max_length` (512 for XLM-R), which
    `benchmarks/attack_wrapper_throughput.py` measures against this one.
    """

    def __init__(self, adapter: ModelAdapter, language: str | None = None) -> None:
        self.model = adapter
        self.language = language
        """The attacked items' language (a prompted model needs it); None: the `segmentation` block's."""
        self.calls = 0
        self.pairs = 0

    def __call__(self, text_input_list: Sequence[Any], **kwargs: Any) -> np.ndarray:
        pairs = [_as_pair(item) for item in text_input_list]
        self.calls += 1
        self.pairs += len(pairs)
        state = _STATE.get()
        language = self.language or (state.language if state is not None else None)
        probs = self.model.predict(pairs) if language is None else self.model.predict(pairs, language=language)
        return np.asarray(probs, dtype=np.float32)


def _as_pair(item: Any) -> tuple[str, str]:
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return str(item[0]), str(item[1])
    raise ValueError(f"an NLI attack needs (premise, hypothesis) inputs, got {item!r}")


# --------------------------------------------------------------------------- transformations


class _ProjectWordSwap(WordSwap):
    """Shared plumbing: deterministic candidates, registered as single words for segmentation."""

    def __init__(self, language: str, max_candidates: int) -> None:
        super().__init__()
        self.language = language
        self.max_candidates = max_candidates

    @property
    def deterministic(self) -> bool:
        return True

    def _get_replacement_words(self, word: str) -> list[str]:
        candidates = [c for c in self._candidates(word) if nfc(c) != nfc(word)][: self.max_candidates]  # no normalisation-only "edit"
        register_single_words(candidates)
        return candidates

    def _candidates(self, word: str) -> list[str]:
        raise NotImplementedError

    def extra_repr_keys(self) -> list[str]:
        return ["language", "max_candidates"]


class CharNoiseSwap(_ProjectWordSwap):
    """DeepWordBug-style: per word, one edit of each script-aware operation of `attacks.charnoise`.

    DeepWordBug proposes one random edit per operation; here the choice among an operation's
    edits comes from an RNG seeded by (seed, language, word, operation), so the same word always
    gets the same candidates, whatever was attacked before.
    """

    def __init__(self, language: str, seed: int = 0, max_candidates: int = 6) -> None:
        super().__init__(language, max_candidates)
        self.seed = seed
        self.unicode = language not in charnoise.LAYOUTS
        """No keyboard table (a user file's language): the Unicode path, letters from the text."""
        self._context = ""

    def _get_transformations(self, current_text: AttackedText, indices_to_modify: Any) -> list[AttackedText]:
        self._context = current_text.text  # the Unicode path draws its letters from the text
        return super()._get_transformations(current_text, indices_to_modify)

    def _candidates(self, word: str) -> list[str]:
        out = []
        for op, edits in self._edits(word):
            if edits:
                rng = seeds.rng(self.seed, self.language, nfc(word), op)
                out.append(edits[rng.randrange(len(edits))])
        return list(dict.fromkeys(out))

    def _edits(self, word: str) -> list[tuple[str, list[str]]]:
        if self.unicode:
            return list(charnoise.unicode_word_candidates(word, self._context).items())
        if not charnoise.is_eligible(word, self.language):
            return []
        return [(op, charnoise.candidate_edits(word, self.language, op))
                for op in charnoise.available_operations(word, self.language)]


class SynonymSwap(_ProjectWordSwap):
    """PWWS-style: same-language synonyms from the wordnets behind the `synonym` family."""

    def __init__(self, language: str, data_root: Path, max_candidates: int = 20) -> None:
        super().__init__(language, max_candidates)
        self.data_root = Path(data_root)

    def _candidates(self, word: str) -> list[str]:
        from attacks.synonyms import _match_case

        return [_match_case(word, c) for c in synonym_candidates(word, self.language, self.data_root)]


class CodeMixSwap(_ProjectWordSwap):
    """PolyGloss-style: dictionary translations of a word into the other XNLI languages.

    Candidates come from `attacks.codeswitch` (MUSE dictionaries, the Swahili wordnet bridge,
    Simplified-script Chinese), at most `per_language` per target language, so the search can
    mix several languages into one sentence.
    """

    def __init__(self, language: str, data_root: Path, per_language: int = 2,
                 max_candidates: int = 24) -> None:
        super().__init__(language, max_candidates)
        self.data_root = Path(data_root)
        self.per_language = per_language

    def _candidates(self, word: str) -> list[str]:
        counts: dict[str, int] = {}
        out = []
        for target, translation in translation_candidates(word, self.language, self.data_root):
            if counts.get(target, 0) < self.per_language:
                counts[target] = counts.get(target, 0) + 1
                out.append(match_translation_case(word, translation, target))
        return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- constraints


class ProtectedWords(PreTransformationConstraint):
    """Negations, quantifiers, numbers and stopwords of the language are never modified."""

    def __init__(self, language: str) -> None:
        self.language = language

    def _get_modifiable_indices(self, current_text: AttackedText) -> set[int]:
        if not has_lists(self.language):  # a user file's language: as the family, only digits
            return {i for i, w in enumerate(current_text.words) if not any(ch.isdigit() for ch in w)}
        return {i for i, w in enumerate(current_text.words) if not is_protected(w, self.language)}

    def extra_repr_keys(self) -> list[str]:
        return ["language"]


class ColumnRestriction(PreTransformationConstraint):
    """Only words of the allowed columns (premise, hypothesis) may be modified.

    TextAttack's `InputColumnModification` counts words per column with its own segmentation;
    this one uses the word lists the segmentation hook keeps consistent.
    """

    def __init__(self, columns: Sequence[str]) -> None:
        unknown = set(columns) - set(COLUMNS)
        if unknown or not columns:
            raise ValueError(f"columns must be among {COLUMNS}, got {list(columns)}")
        self.columns = tuple(columns)

    def _get_modifiable_indices(self, current_text: AttackedText) -> set[int]:
        n = len(current_text.words)
        if set(self.columns) == set(COLUMNS):
            return set(range(n))
        premise_words = _premise_word_count(current_text)
        return set(range(premise_words, n)) if "hypothesis" in self.columns else set(range(premise_words))

    def extra_repr_keys(self) -> list[str]:
        return ["columns"]


def _premise_word_count(text: AttackedText) -> int:
    """Words before the hypothesis: the premise is never edited when only the hypothesis is."""
    premise = text._text_input["premise"]
    state = _STATE.get()
    return len(state.split(premise)) if state is not None else len(_words_from_text(premise))


class E5Similarity(Constraint):
    """Each edited column keeps cosine >= `threshold` to its original under multilingual-e5-small.

    The offline, multilingual stand-in for TextAttack's TF-Hub Universal Sentence Encoder; the
    same encoder, prefix and threshold as the fixed benchmark's similarity filter.  Embeddings
    are memoised per text, so the original is encoded once per item.
    """

    def __init__(self, encoder: SentenceEncoder, threshold: float = 0.90) -> None:
        super().__init__(compare_against_original=True)
        self.encoder = encoder
        self.threshold = float(threshold)
        self._memo: dict[str, np.ndarray] = {}

    def clear_cache(self) -> None:
        self._memo.clear()

    def _vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for text, vec in zip(missing, self.encoder.encode(missing)):
                self._memo[text] = vec
        return [self._memo[t] for t in texts]

    def scores(self, transformed: AttackedText, reference: AttackedText) -> list[float]:
        """Cosine per edited column (an unedited column is not scored)."""
        pairs = [(reference._text_input[c], transformed._text_input[c]) for c in COLUMNS
                 if transformed._text_input[c] != reference._text_input[c]]
        vectors = self._vectors([t for pair in pairs for t in pair])
        return [float(np.dot(vectors[2 * i], vectors[2 * i + 1])) for i in range(len(pairs))]

    def _check_constraint_many(self, transformed_texts: list[AttackedText],
                               reference_text: AttackedText) -> list[AttackedText]:
        texts = [reference_text._text_input[c] for c in COLUMNS]
        texts += [t._text_input[c] for t in transformed_texts for c in COLUMNS]
        self._vectors(texts)  # one batched encoder call for all candidates
        return [t for t in transformed_texts if self._check_constraint(t, reference_text)]

    def _check_constraint(self, transformed_text: AttackedText, reference_text: AttackedText) -> bool:
        return all(s >= self.threshold for s in self.scores(transformed_text, reference_text))

    def extra_repr_keys(self) -> list[str]:
        return ["threshold"] + super().extra_repr_keys()
