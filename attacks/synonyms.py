"""Synonym swap: content words replaced by a word of the same WordNet synset, same language.

Sources: English uses Princeton WordNet 3.0 through NLTK; the other languages use the Open
Multilingual Wordnet tab files keyed by the same WordNet 3.0 synsets (OMW 2.0 inside NLTK's
`omw-2.0.zip` for fra spa ell bul arb cmn, and the Wiktionary- and CLDR-derived wordnets under
`omw/` for every language).  All sources of a language are merged into one lemma <-> synset
index, so a small wordnet borrows nothing from another language: every replacement is a word
of the text's own language.

Keeping the label: a word's senses are ranked by frequency (English: SemCor counts of that
word's lemmas; other languages: SemCor counts of the synset's English lemmas, a proxy since
OMW has no frequencies), and only the top-ranked sense supplies synonyms.  With no POS tagger
available, words readable as two parts of speech (English: unless one carries 80% of the
SemCor counts; elsewhere: synsets of more than one POS) are skipped.  Protected words
(negations, quantifiers, numbers, function words; `attacks.protected`) are never edited.
Morphology is deliberately light: English accepts a base form or a regular plural (re-inflected
on the synonym); other languages only swap a word whose surface form *is* a lemma of the
wordnet, which is what keeps edits grammatical without a morphological analyser, and what
makes coverage small for highly inflected languages.  Where no word has a candidate the
result is NOT_APPLICABLE; edits are never padded.

Rule set v2 (`families.synonym.params: {rules: v2}`, version 2.0.0, `attacks.synonyms_v2`;
the registry builds either through `attacks.synonym_family`)
answers the v1.1 reading audit (issue #14): senses chosen in context (simplified Lesk, kept
only when it agrees with the dominant sense), closed-class words never swapped (wordfreq's
most frequent words as a proxy), re-inflection (lemminflect for English, pymorphy3 for
Russian) or skipping where agreement could break, whole same-script lemmas only, and
severities that nest (low's edits inside medium's inside high's, ranked once per item).
Without that parameter this module, its params() and its outputs are v1's, unchanged.
"""

from __future__ import annotations

import functools
import gzip
import random
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from attacks.base import NOT_APPLICABLE, SEVERITIES, _NotApplicable
from attacks.protected import PROTECTED_VERSION, is_protected, normalize, protected_kind
from attacks.text import Span, replace_spans, words
from harness.core.errors import DataError
from harness.core.examples import NLIExample

VERSION = "1.0.0"
FAMILY = "synonym"

RATES: dict[str, float] = {"low": 0.10, "medium": 0.25, "high": 0.40}
"""Share of a sentence's eligible content words that are swapped (at least one)."""

MAX_EDITS_PER_SENTENCE = 4
MAX_NGRAM = 3
"""Longest multiword lemma matched in spaced languages (Vietnamese lemmas are several syllables)."""

SENSES_TRIED = 1
"""Only the most frequent sense supplies synonyms: rarer senses are where swaps go wrong."""
DOMINANT_POS_SHARE = 0.8

ISO3: dict[str, str] = {
    "en": "eng", "fr": "fra", "es": "spa", "de": "deu", "el": "ell", "bg": "bul", "ru": "rus",
    "tr": "tur", "ar": "arb", "vi": "vie", "th": "tha", "zh": "cmn", "hi": "hin", "sw": "swa",
    "ur": "urd",
}
LANGUAGES: frozenset[str] = frozenset(ISO3)
OMW_IN_NLTK: frozenset[str] = frozenset({"fra", "spa", "ell", "bul", "arb", "cmn"})
UNSPACED: frozenset[str] = frozenset({"zh", "th"})
_VOWEL_MARKS = regex.compile(r"[\u064B-\u0652\u0670\u0640]")
CASELESS_NOUN_CAPITALS: frozenset[str] = frozenset({"de"})
"""Languages whose common nouns are capitalised, so a capital does not mark a proper noun."""


# ----------------------------------------------------------------------------- resources


def _nltk_dir(data_root: Path) -> Path:
    return Path(data_root) / "nltk_data"


def resource_paths(language: str, data_root: Path) -> dict[str, Path]:
    """Every wordnet file a language's swaps depend on, existing ones only."""
    iso = ISO3[language]
    root = Path(data_root)
    paths = {"wordnet": _nltk_dir(root) / "corpora" / "wordnet.zip"}
    if iso in OMW_IN_NLTK:
        paths["omw-2.0"] = _nltk_dir(root) / "corpora" / "omw-2.0.zip"
    if language != "en":
        paths[f"wikt-{iso}"] = root / "omw" / "wikt" / f"wn-wikt-{iso}.tab.gz"
        paths[f"cldr-{iso}"] = root / "omw" / "cldr" / f"wn-cldr-{iso}.tab.gz"
    missing = [name for name, path in paths.items() if not path.is_file()]
    if "wordnet" in missing:
        raise DataError(f"WordNet not found at {paths['wordnet']}: check the data root")
    return {name: path for name, path in paths.items() if name not in missing}


@functools.lru_cache(maxsize=4)
def _wordnet(data_root: str) -> Any:
    """An NLTK WordNet reader bound to this data root (never a download).

    The folder is put on `nltk.data.path` explicitly: NLTK only opens files under that list,
    and relying on $NLTK_DATA would make results depend on the environment.
    """
    import nltk.data
    from nltk.corpus.reader import CorpusReader, WordNetCorpusReader

    paths = [str(_nltk_dir(Path(data_root)))]
    if paths[0] not in nltk.data.path:
        nltk.data.path.insert(0, paths[0])
    try:
        wn_root = nltk.data.find("corpora/wordnet.zip/wordnet/", paths=paths)
        omw_root = nltk.data.find("corpora/omw-2.0.zip/omw-2.0/", paths=paths)
    except LookupError as err:
        raise DataError(f"WordNet/OMW not found under {paths[0]}") from err
    omw = CorpusReader(omw_root, r".*/wn-data-.*\.tab", encoding="utf8")
    return WordNetCorpusReader(wn_root, omw)


def _key(text: str) -> str:
    """Lemma matching key: NFC, case-folded, multiword lemmas spelled with spaces."""
    return unicodedata.normalize("NFC", text).replace("_", " ").casefold().strip()


def _synset_id(offset_pos: str) -> str:
    """'00001740-s' and '00001740-a' are the same adjective synset."""
    return offset_pos[:-1] + "a" if offset_pos.endswith("-s") else offset_pos


@dataclass
class _Lexicon:
    """A lemma <-> synset index of one language, merged over its sources."""

    by_lemma: dict[str, list[str]] = field(default_factory=dict)
    by_synset: dict[str, list[str]] = field(default_factory=dict)

    def add(self, offset_pos: str, lemma: str) -> None:
        sid = _synset_id(offset_pos)
        lemma = unicodedata.normalize("NFC", lemma.replace("_", " ").strip())
        if not lemma:
            return
        synsets = self.by_lemma.setdefault(_key(lemma), [])
        if sid not in synsets:
            synsets.append(sid)
        lemmas = self.by_synset.setdefault(sid, [])
        if lemma not in lemmas:
            lemmas.append(lemma)

    def add_tab_lines(self, lines: Any) -> None:
        """OMW tab format: `offset-pos<TAB>lang:lemma<TAB>lemma`; other rows are skipped."""
        for line in lines:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 3 and cols[1].endswith(":lemma"):
                self.add(cols[0], cols[2])


@functools.lru_cache(maxsize=16)
def _lexicon(language: str, data_root: str) -> _Lexicon:
    """The merged index of a non-English language, built once per process."""
    iso = ISO3[language]
    lexicon = _Lexicon()
    for name, path in resource_paths(language, Path(data_root)).items():
        if name == "omw-2.0":
            reader = _wordnet(data_root)._omw_reader
            with reader.open(f"{iso}/wn-data-{iso}.tab") as handle:
                lexicon.add_tab_lines(handle)
        elif name != "wordnet":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                lexicon.add_tab_lines(handle)
    return lexicon


# ----------------------------------------------------------------------------- candidates


def _usable(candidate: str, word_key: str, language: str, lexicon_lemma_is_lower: bool) -> bool:
    """A candidate must be a real, different, unprotected word of the right shape."""
    if _key(candidate) == word_key or normalize(candidate, language) == normalize(word_key, language):
        return False  # the same word, up to case, vowel marks or letter variants
    if not all(ch.isalpha() or ch in " -'" or unicodedata.category(ch).startswith("M")
               for ch in candidate):
        return False
    if language in UNSPACED and (" " in candidate or "-" in candidate):
        return False
    if lexicon_lemma_is_lower and candidate[:1].isupper():
        return False  # a capitalised lemma in a lower-case sense is a proper noun
    return not _blocked(candidate, language, inserted=True)


_MEANING_KINDS = frozenset({"negation", "quantifier", "number"})


def _blocked(phrase: str, language: str, *, inserted: bool = False) -> bool:
    """Protected words block a swap: a word or multiword unit of the text is never edited if
    any of its words is protected.  An *inserted* multiword synonym may contain function
    words ("à nouveau"), but never a negation, quantifier or number."""
    parts = phrase.split()
    if not inserted or len(parts) == 1:
        return any(is_protected(part, language) for part in parts)
    kinds = [protected_kind(part, language) for part in parts]
    return any(kind in _MEANING_KINDS for kind in kinds) or all(kinds)


def _english_frequency(data_root: str, synset_id: str) -> int:
    """SemCor frequency of a synset's English lemmas: the sense ranking proxy for OMW."""
    offset, pos = synset_id.split("-")
    try:
        synset = _wordnet(data_root).synset_from_pos_and_offset(pos, int(offset))
    except Exception:  # an offset absent from WordNet 3.0 (a few wikt rows): rank it last
        return -1
    return sum(lemma.count() for lemma in synset.lemmas())


@functools.lru_cache(maxsize=200_000)
def _omw_candidates(word_key: str, language: str, data_root: str) -> tuple[str, ...]:
    lexicon = _lexicon(language, data_root)
    synsets = lexicon.by_lemma.get(word_key, [])
    if len({sid[-1] for sid in synsets}) != 1:
        return ()  # noun and verb readings (or more): without a tagger, not safe to swap
    ranked = sorted(synsets, key=lambda sid: -_english_frequency(data_root, sid))
    for sid in ranked[:SENSES_TRIED]:
        lemmas = lexicon.by_synset[sid]
        own = next((lem for lem in lemmas if _key(lem) == word_key), word_key)
        is_lower = not own[:1].isupper()
        cleaned = (_strip_vowel_marks(c, language) for c in lemmas)
        found = [c for c in cleaned if _usable(c, word_key, language, is_lower)]
        if found:
            return tuple(dict.fromkeys(found))
    return ()


def _strip_vowel_marks(text: str, language: str) -> str:
    """XNLI Arabic and Urdu are unvocalised; a vocalised synonym would stick out."""
    if language not in ("ar", "ur"):
        return text
    return _VOWEL_MARKS.sub("", text)


def _english_lemma(word_key: str, data_root: str) -> tuple[str, tuple[str, ...], bool]:
    """(lemma, parts of speech it may be read as, plural?) or ("", (), False).

    A word that is also an inflected form of another lemma ("thought" of think, "talking" of
    talk) is skipped: without a tagger we cannot tell which reading the sentence uses.
    """
    wn = _wordnet(data_root)
    form = word_key.replace(" ", "_")
    bases = {pos: wn.morphy(form, pos) for pos in "nvar"}
    bases = {pos: base for pos, base in bases.items() if base}
    if not bases:
        return "", (), False
    if all(base == form for base in bases.values()):
        return word_key, tuple(bases), False
    if (" " not in word_key and word_key.endswith("s") and "n" in bases
            and set(bases.values()) == {bases["n"]}):
        return bases["n"].replace("_", " "), ("n",), True
    return "", (), False


def _dominant_pos_lemmas(lemmas: list[Any]) -> list[Any]:
    """Lemmas of the word's clearly dominant part of speech, most frequent first.

    The part of speech must carry at least DOMINANT_POS_SHARE of the word's SemCor counts
    (or be its only one when it has no counts): "talk" the noun vs. "talk" the verb is
    ambiguous, and swapping in a verb synonym for a noun breaks the sentence.
    """
    by_pos: dict[str, list[Any]] = {}
    for lem in lemmas:
        by_pos.setdefault(lem.synset().pos().replace("s", "a"), []).append(lem)
    counts = {pos: sum(lem.count() for lem in group) for pos, group in by_pos.items()}
    total = sum(counts.values())
    best = max(by_pos, key=lambda pos: counts[pos]) if by_pos else None
    if best is None or (total == 0 and len(by_pos) > 1):
        return []
    if total and counts[best] < DOMINANT_POS_SHARE * total:
        return []
    return sorted(by_pos[best], key=lambda lem: -lem.count())  # stable: NLTK order on ties


def _pluralize(phrase: str) -> str:
    """Regular English plural of a phrase's last word (lemmas are singular base forms)."""
    head, _, last = phrase.rpartition(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


@functools.lru_cache(maxsize=200_000)
def _english_candidates(word_key: str, data_root: str) -> tuple[str, ...]:
    lemma, parts_of_speech, plural = _english_lemma(word_key, data_root)
    if not lemma:
        return ()
    wn = _wordnet(data_root)
    lemmas = [lem for pos in parts_of_speech for lem in wn.lemmas(lemma.replace(" ", "_"), pos=pos)]
    ranked = _dominant_pos_lemmas(lemmas)
    is_lower = lemma == lemma.lower()
    for lem in ranked[:SENSES_TRIED]:
        names = [n.replace("_", " ") for n in lem.synset().lemma_names()]
        found = [n for n in names if _usable(n, lemma, "en", is_lower)]
        if plural:
            found = [_pluralize(n) for n in found]
        return tuple(dict.fromkeys(n for n in found if _key(n) != word_key))
    return ()


def synonym_candidates(word: str, language: str, data_root: Path | None = None) -> list[str]:
    """Same-language synonyms of `word`, most-frequent sense first, deterministic order.

    Empty for protected words and words without a wordnet entry.  `data_root` defaults to
    the configured one ($XNLI_ROBUST_DATA); the casing of `word` is not applied here.
    """
    if language not in LANGUAGES:
        raise KeyError(f"synonym swap has no wordnet for language {language!r}")
    if not word.strip() or _blocked(word, language):
        return []
    from harness.core.paths import data_root as resolve_root

    root = str(Path(data_root) if data_root is not None else resolve_root())
    key = _key(word)
    if language == "en":
        return list(_english_candidates(key, root))
    return list(_omw_candidates(key, language, root))


# ----------------------------------------------------------------------------- edits


def _match_case(original: str, candidate: str) -> str:
    """Keep the original's capitalisation (sentence-initial capital, all caps)."""
    if len(original) > 1 and original.isupper():
        return candidate.upper()
    if original[:1].isupper() and candidate[:1].islower():
        return candidate[:1].upper() + candidate[1:]
    return candidate


def _looks_proper(span: Span, index: int, language: str) -> bool:
    """A capitalised word inside a sentence is likely a name: "Bush" is not a shrub."""
    if language in CASELESS_NOUN_CAPITALS or index == 0:
        return False
    return span.text[:1].isupper()


@dataclass(frozen=True)
class _Unit:
    """One editable unit: a word, or a multiword lemma spanning several words."""

    span: Span
    candidates: tuple[str, ...]


def _merge(text: str, spans: list[Span]) -> Span:
    return Span(spans[0].start, spans[-1].end, text[spans[0].start:spans[-1].end])


def _single_spaced(text: str, spans: list[Span]) -> bool:
    return all(text[a.end:b.start] == " " for a, b in zip(spans, spans[1:]))


def _units(text: str, language: str, data_root: Path) -> list[_Unit]:
    """Editable units left to right, longest multiword lemma first, never overlapping."""
    spans = words(text, language)
    max_n = 1 if language in UNSPACED else MAX_NGRAM
    units, i = [], 0
    while i < len(spans):
        for n in range(min(max_n, len(spans) - i), 0, -1):
            group = spans[i:i + n]
            if n > 1 and not _single_spaced(text, group):
                continue
            if any(_looks_proper(s, i + j, language) for j, s in enumerate(group)):
                continue
            span = _merge(text, group)
            candidates = synonym_candidates(span.text, language, data_root)
            if candidates or (n > 1 and _is_lemma(span.text, language, data_root)):
                if candidates:  # a known compound without synonyms is kept whole
                    units.append(_Unit(span, tuple(candidates)))
                i += n
                break
        else:
            i += 1
    return units


def _is_lemma(phrase: str, language: str, data_root: Path) -> bool:
    """A multiword lemma ("tuyệt vời") is one word: its parts must not be swapped alone."""
    root = str(data_root)
    if language == "en":
        return bool(_wordnet(root).lemmas(_key(phrase).replace(" ", "_")))
    return _key(phrase) in _lexicon(language, root).by_lemma


def edit_count(n_eligible: int, rate: float) -> int:
    """Swaps for a sentence: the severity's share of eligible words, at least one, capped."""
    if n_eligible == 0:
        return 0
    return min(MAX_EDITS_PER_SENTENCE, n_eligible, max(1, int(rate * n_eligible + 0.5)))


def swap_sentence(text: str, language: str, rate: float, rng: random.Random,
                  data_root: Path) -> str:
    """`text` with some eligible units swapped; unchanged if none is eligible."""
    units = _units(text, language, data_root)
    k = edit_count(len(units), rate)
    if k == 0:
        return text
    chosen = sorted(rng.sample(range(len(units)), k))
    edits = {i: _match_case(units[i].span.text, rng.choice(units[i].candidates)) for i in chosen}
    return replace_spans(text, edits, [u.span for u in units])


@dataclass(frozen=True)
class SynonymSwap:
    """The synonym-swap perturbation of one (severity, language)."""

    severity: str
    language: str
    data_root: Path
    name: str = "synonym_swap"
    family: str = FAMILY
    version: str = VERSION

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({self.language})

    @property
    def rate(self) -> float:
        return RATES[self.severity]

    def params(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "severity": self.severity,
            "rate": self.rate,
            "rates": dict(RATES),
            "max_edits_per_sentence": MAX_EDITS_PER_SENTENCE,
            "max_ngram": 1 if self.language in UNSPACED else MAX_NGRAM,
            "senses_tried": SENSES_TRIED,
            "dominant_pos_share": DOMINANT_POS_SHARE,
            "sources": sorted(resource_paths(self.language, self.data_root)),
            "protected_version": PROTECTED_VERSION,
        }

    def resource_files(self) -> dict[str, str]:
        return {name: str(path)
                for name, path in resource_paths(self.language, self.data_root).items()}

    def perturb_text(self, text: str, rng: random.Random) -> str:
        """One side of a pair (a pair whose sides are in different languages: `attacks.mixed`)."""
        return swap_sentence(text, self.language, self.rate, rng, self.data_root)

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        if example.language != self.language:
            raise ValueError(f"{self.name} for {self.language!r} got a {example.language!r} example")
        premise = swap_sentence(example.premise, self.language, self.rate, rng, self.data_root)
        hypothesis = swap_sentence(example.hypothesis, self.language, self.rate, rng,
                                   self.data_root)
        if premise == example.premise and hypothesis == example.hypothesis:
            return NOT_APPLICABLE
        return example.with_texts(premise, hypothesis)


def build(severity: str, language: str, data_root: Path) -> SynonymSwap:
    """v1's factory; the registry's `synonym` goes through `attacks.synonym_family.build`."""
    if severity not in SEVERITIES:
        raise KeyError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    if language not in LANGUAGES:
        raise KeyError(f"synonym swap has no wordnet for language {language!r}")
    resource_paths(language, Path(data_root))  # fail early on a wrong data root
    return SynonymSwap(severity=severity, language=language, data_root=Path(data_root))
