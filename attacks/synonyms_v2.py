"""Synonym swap, rule set v2 (`families.synonym.params: {rules: v2}`; issue #14).

v1's reading audit found five failure modes; v2 answers each with a rule, and skips a word
whenever a rule cannot be checked (coverage is measured, never forced):

- *Wrong sense through the pivot* (sœur→nonne): the sense is chosen in context by a
  simplified Lesk (overlap of the item's words with each sense's signature: its lemmas in the
  text's language and those of its WordNet hypernyms and hyponyms; English adds the gloss and
  examples).  A word is swapped only if it is monosemous in its language, or Lesk's choice is
  also its dominant sense (SemCor counts) holding at least DOMINANT_SENSE_SHARE of them.  A
  replacement must be a lemma of that synset whose own dominant sense is the same synset
  (so "ingrédient" never stands for "composant"): a shared synset, never a hypernym.
- *Function words* (würde→Selbstachtung): closed-class words are never swapped: the
  hand-written protected lists plus, as a closed-class proxy, wordfreq's FUNCTION_TOP_N most
  frequent words of the language (Thai: pythainlp's `thai_stopwords`; Swahili has neither
  resource, only the hand list).  Frequent content words are skipped too; that is accepted.
- *No re-inflection* (une composant, первый попытка): English re-inflects with lemminflect
  to the original's Penn tag (skipped when the tag is ambiguous across forms); Russian
  re-inflects with pymorphy3 to the original's grammemes and requires the same gender and
  animacy for nouns; elsewhere only dictionary forms are swapped (the wordnet lemma, and
  simplemma's lemma where simplemma has the language), never right after a closed-class word
  (articles and determiners agree), and where gender or noun class is written in the ending
  (es el bg ar ur hi) or prefix (sw) the replacement must share it (a small rule, since no
  gender resource ships offline for those languages).
- *Non-synonyms* (rabbins→rabbin, अमेरिका→संयुक्त): a replacement is a whole lemma in the
  language's own script, not a fragment of a longer lemma of the synset, not containing the
  original or contained in it, not the same lemma in another number, and not rarer than
  MAX_ZIPF_DROP below the original (wordfreq; archaic words such as "cognize").
  Vietnamese swaps only multi-syllable lemmas (a single syllable is as often a morpheme of a
  compound the wordnet lacks: tuyệt đối→tốt đối).  Thai and Chinese replacements must be
  dictionary words (pythainlp's word list, jieba's) and must re-segment as one word in place.
- *Severities that do not nest*: an item's eligible edits (premise and hypothesis together)
  are ranked once, and each unit's replacement chosen once, from an RNG of (family, "v2",
  language, item id), which no severity enters; low takes the first k_low, medium
  k_medium > k_low, high k_high > k_medium (SHARES, at least one more than the severity
  below).  A severity without enough edits for strict growth is NOT_APPLICABLE for the item.
  So v2's edits do not depend on the benchmark seed (the RNG handed to `perturb` is unused).
- *Traditional characters in Chinese*: replacements go through OpenCC t2s and must encode in
  GB2312; they must also share a character with the original (`_ZH_MORPHEME`, a hand rule).
- Outside English, adverbs are not swapped (OMW adverbs are mostly connectives whose senses
  the English pivot merges).

Example (English, rules v2): "The astronauts were totally silent." gives at low one swap
(say astronauts→spacemen) and at medium the same swap plus totally→altogether.
"""

from __future__ import annotations

import functools
import importlib.metadata
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import regex

from attacks import synonyms as v1
from attacks.base import NOT_APPLICABLE, _NotApplicable
from attacks.protected import PROTECTED_VERSION, is_protected
from attacks.text import Span, replace_spans, words
from harness.core import seeds
from harness.core.examples import NLIExample

VERSION = "2.0.0"
RULES = "v2"

SHARES: dict[str, float] = {"low": 0.10, "medium": 0.25, "high": 0.40}
"""Share of an item's eligible units edited at each severity (each one more than the last)."""
CAPS: dict[str, int] = {"low": 2, "medium": 5, "high": 8}
"""Most edits per item and severity (before the strict-growth minimum)."""

DOMINANT_SENSE_SHARE = 0.6
DOMINANT_POS_SHARE = 0.8
FUNCTION_TOP_N = 150
MAX_ZIPF_DROP = 1.5
MIN_ZIPF = 2.0

WORDFREQ_LANGUAGES: frozenset[str] = frozenset(
    {"en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "zh", "hi", "ur"})
SIMPLEMMA_LANGUAGES: frozenset[str] = frozenset({"fr", "es", "de", "el", "bg", "tr", "hi", "sw"})
AGREEING: frozenset[str] = frozenset({"fr", "es", "de", "el", "bg", "ar", "hi", "ur", "sw"})
"""Languages whose determiners and adjectives agree in gender, number or class with a noun."""
ENDING_MARKS_GENDER: frozenset[str] = frozenset({"es", "el", "bg", "ar", "ur", "hi"})
PREFIX_MARKS_CLASS: frozenset[str] = frozenset({"sw"})
SCRIPTS: dict[str, str] = {
    "en": "Latin", "fr": "Latin", "es": "Latin", "de": "Latin", "tr": "Latin", "vi": "Latin",
    "sw": "Latin", "ru": "Cyrillic", "bg": "Cyrillic", "el": "Greek", "ar": "Arabic",
    "ur": "Arabic", "hi": "Devanagari", "th": "Thai", "zh": "Han",
}
PENN_TAGS: dict[str, tuple[str, ...]] = {
    "NOUN": ("NN", "NNS"), "VERB": ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ"),
    "ADJ": ("JJ", "JJR", "JJS"), "ADV": ("RB", "RBR", "RBS"),
}
UPOS_TO_WN: dict[str, str] = {"NOUN": "n", "VERB": "v", "ADJ": "a", "ADV": "r"}
RU_POS: dict[str, str] = {"NOUN": "n", "ADJF": "a", "INFN": "v", "VERB": "v", "ADVB": "r"}
RU_AGREEMENT: frozenset[str] = frozenset({"gender", "animacy"})


# ----------------------------------------------------------------------------- resources


def resource_versions() -> dict[str, str]:
    """Versions of the packages v2's output depends on (recorded in `params()`)."""
    names = ("lemminflect", "pymorphy3", "pymorphy3-dicts-ru", "wordfreq", "simplemma",
             "opencc-python-reimplemented", "jieba", "pythainlp", "nltk")
    return {name: importlib.metadata.version(name) for name in names}


@functools.lru_cache(maxsize=16)
def function_words(language: str) -> frozenset[str]:
    """Closed-class proxy: wordfreq's most frequent words (Thai: pythainlp's stopwords)."""
    if language == "th":
        from pythainlp.corpus import thai_stopwords

        return frozenset(thai_stopwords())
    if language not in WORDFREQ_LANGUAGES:
        return frozenset()  # Swahili: no resource offline; the hand list in attacks.protected
    import wordfreq

    return frozenset(v1._key(w) for w in wordfreq.top_n_list(language, FUNCTION_TOP_N))


def is_function_word(word: str, language: str) -> bool:
    return is_protected(word, language) or v1._key(word) in function_words(language)


def zipf(word: str, language: str) -> float | None:
    """wordfreq's Zipf frequency, or None where wordfreq has no list for the language."""
    if language not in WORDFREQ_LANGUAGES:
        return None
    import wordfreq

    return wordfreq.zipf_frequency(word, language)


@functools.lru_cache(maxsize=200_000)
def lemma_of(word: str, language: str) -> str:
    """simplemma's lemma (case-folded), or the word itself where simplemma lacks the language."""
    if language not in SIMPLEMMA_LANGUAGES or not word.strip():
        return v1._key(word)
    import simplemma

    return v1._key(simplemma.lemmatize(word, lang=language))


@functools.lru_cache(maxsize=1)
def _morph() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


@functools.lru_cache(maxsize=1)
def _thai_words() -> frozenset[str]:
    from pythainlp.corpus import thai_words

    return frozenset(thai_words())


@functools.lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def _in_dictionary(word: str, language: str) -> bool:
    """Thai and Chinese words must be words of the segmenter's own dictionary."""
    if language == "th":
        return word in _thai_words()
    if language == "zh":
        return _jieba_freq(word) > 0
    return True


def _jieba_freq(word: str) -> int:
    from attacks.text import _jieba

    return int(_jieba().get_FREQ(word) or 0)


# ----------------------------------------------------------------------------- senses


@dataclass(frozen=True)
class _Sense:
    """The senses of a lemma in its language (one part of speech) and their counts."""

    synsets: tuple[str, ...]
    counts: tuple[int, ...]


def _wn_synset(data_root: str, sid: str) -> Any:
    offset, pos = sid.split("-")
    try:
        return v1._wordnet(data_root).synset_from_pos_and_offset(pos, int(offset))
    except Exception:  # a wikt offset absent from WordNet 3.0
        return None


def _neighbours(data_root: str, sid: str) -> list[str]:
    synset = _wn_synset(data_root, sid)
    if synset is None:
        return []
    related = synset.hypernyms() + synset.hyponyms() + synset.similar_tos()
    return [v1._synset_id(f"{s.offset():08d}-{s.pos()}") for s in related]


@functools.lru_cache(maxsize=200_000)
def _signature(sid: str, language: str, data_root: str) -> frozenset[str]:
    """Lesk signature of a synset: its and its neighbours' lemmas in the language (English
    adds gloss and examples), as case-folded single words."""
    out: set[str] = set()
    for s in [sid, *_neighbours(data_root, sid)]:
        if language == "en":
            synset = _wn_synset(data_root, s)
            if synset is None:
                continue
            text = " ".join([synset.definition(), *synset.examples(), *synset.lemma_names()])
        else:
            text = " ".join(v1._lexicon(language, data_root).by_synset.get(s, []))
        out.update(v1._key(w.text) for w in words(text.replace("_", " "), language))
    return frozenset(k for k in out if not is_function_word(k, language))


def _english_sense(lemma: str, wn_pos: str, data_root: str) -> _Sense:
    wn = v1._wordnet(data_root)
    lemmas = wn.lemmas(lemma.replace(" ", "_"), pos=wn_pos)
    if wn_pos == "a":
        lemmas = lemmas + wn.lemmas(lemma.replace(" ", "_"), pos="s")
    sids = [v1._synset_id(f"{lem.synset().offset():08d}-{lem.synset().pos()}") for lem in lemmas]
    return _Sense(tuple(sids), tuple(lem.count() for lem in lemmas))


def _omw_sense(key: str, language: str, data_root: str) -> _Sense | None:
    """Senses in the language's merged wordnet; None for several parts of speech (no tagger)
    and for adverbs, whose OMW entries are mostly discourse connectives with pivot-merged
    senses (однако→зато, toujours→encore, έτσι→επομένως in the audit)."""
    synsets = v1._lexicon(language, data_root).by_lemma.get(key, [])
    if len({sid[-1] for sid in synsets}) != 1 or synsets[0].endswith("-r"):
        return None
    counts = tuple(max(0, v1._english_frequency(data_root, sid)) for sid in synsets)
    return _Sense(tuple(synsets), counts)


def dominant(sense: _Sense) -> str | None:
    """The dominant synset if it is clearly dominant (or the only one), else None."""
    if len(sense.synsets) == 1:
        return sense.synsets[0]
    total = sum(sense.counts)
    if total == 0:
        return None
    best = max(range(len(sense.synsets)), key=lambda i: (sense.counts[i], -i))
    return sense.synsets[best] if sense.counts[best] >= DOMINANT_SENSE_SHARE * total else None


def choose_sense(sense: _Sense, context: frozenset[str], language: str, data_root: str
                 ) -> str | None:
    """Lesk's choice, kept only when it is also the dominant sense (or the only one)."""
    top = dominant(sense)
    if top is None or len(sense.synsets) == 1:
        return top
    overlap = {sid: len(_signature(sid, language, data_root) & context) for sid in sense.synsets}
    if any(overlap[sid] > overlap[top] for sid in sense.synsets):
        return None  # the context points to another sense: skip rather than guess
    return top


# ----------------------------------------------------------------------------- candidates


def _script_ok(candidate: str, language: str) -> bool:
    script = SCRIPTS[language]
    letters = [ch for ch in candidate if unicodedata.category(ch).startswith("L")]
    return bool(letters) and all(regex.match(rf"\p{{Script={script}}}", ch) for ch in letters)


def _shares_word(candidate: str, original: str, language: str) -> bool:
    """One contains the other (narrower compounds, fragments, duplicated words)."""
    a, b = v1._key(candidate), v1._key(original)
    if language in v1.UNSPACED:
        return a in b or b in a
    wa, wb = set(regex.split(r"[\s\-]+", a)), set(regex.split(r"[\s\-]+", b))
    return bool(wa & wb) or a.startswith(b) or b.startswith(a)


def _fragment(candidate: str, lemmas: Iterable[str]) -> bool:
    """A word or run of words of a longer lemma of the synset (संयुक्त of संयुक्त राज्य)."""
    key = f" {v1._key(candidate)} "
    return any(key in f" {v1._key(lem)} " and v1._key(lem) != v1._key(candidate) for lem in lemmas)


def _form_agrees(candidate: str, original: str, language: str) -> bool:
    """Where gender or class is written in the ending (prefix in Swahili), it must match."""
    a, b = v1._key(candidate), v1._key(original)
    if language in ENDING_MARKS_GENDER:
        return a[-1:] == b[-1:]
    if language in PREFIX_MARKS_CLASS:
        return a[:2] == b[:2]
    return True


def _frequent_enough(candidate: str, original: str, language: str) -> bool:
    c, o = zipf(candidate, language), zipf(original, language)
    if c is None or o is None:
        return True
    return c >= MIN_ZIPF and c >= o - MAX_ZIPF_DROP


def _own_sense_is(candidate: str, sid: str, language: str, data_root: str, wn_pos: str) -> bool:
    """The replacement's own dominant sense must be the chosen synset (or it is monosemous)."""
    if language == "en":
        sense = _english_sense(candidate, wn_pos, data_root)
    else:
        sense = _omw_sense(v1._key(candidate), language, data_root)
    if sense is None or sid not in sense.synsets:
        return False
    return dominant(sense) == sid


def _zh_simplified(candidate: str) -> str | None:
    simplified = _t2s().convert(candidate)
    try:
        simplified.encode("gb2312")
    except UnicodeEncodeError:
        return None
    return simplified


def synset_candidates(word_lemma: str, sid: str, language: str, data_root: str) -> list[str]:
    """Lemmas of `sid` that pass every v2 filter as replacements for `word_lemma`."""
    if language == "en":
        synset = _wn_synset(data_root, sid)
        lemmas = [n.replace("_", " ") for n in synset.lemma_names()] if synset else []
    else:
        lemmas = list(v1._lexicon(language, data_root).by_synset.get(sid, []))
    wn_pos = sid[-1]
    is_lower = word_lemma == word_lemma.lower()
    out = []
    for raw in lemmas:
        cand = v1._strip_vowel_marks(raw, language)
        if language == "zh":
            cand = _zh_simplified(cand) or ""
        if not cand or not v1._usable(cand, v1._key(word_lemma), language, is_lower):
            continue
        if (not _script_ok(cand, language) or _shares_word(cand, word_lemma, language)
                or _fragment(cand, lemmas) or lemma_of(cand, language) == lemma_of(word_lemma, language)
                or is_function_word(cand, language) or not _frequent_enough(cand, word_lemma, language)
                or not _in_dictionary(cand, language) or not _form_agrees(cand, word_lemma, language)):
            continue
        if language == "vi" and len(cand.split()) < 2:
            continue
        if language == "zh" and not set(cand) & set(word_lemma):
            continue  # hand rule, see _ZH_MORPHEME
        if not _own_sense_is(raw, sid, language, data_root, wn_pos):
            continue
        out.append(cand)
    return list(dict.fromkeys(out))


_ZH_MORPHEME = "a Chinese replacement shares a character with the original"
"""A hand rule (no resource separates them): English-pivot synsets merge Chinese words that
English does not distinguish (妹妹/姐姐 are both 'sister'); near-synonymous Chinese compounds
mostly share a morpheme (早上/早晨, 每天/天天), so single-character words are never swapped."""


# ----------------------------------------------------------------------------- per language


def _english_reading(word: str, data_root: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(lemma, UPOS, Penn tags the form can have) when the form has one clear reading."""
    import lemminflect

    form = word.lower()
    readings = {u: lem for u, lem in lemminflect.getAllLemmas(form).items() if u in UPOS_TO_WN}
    wn = v1._wordnet(data_root)
    counts = {u: sum(l.count() for lem in lems for l in wn.lemmas(lem, UPOS_TO_WN[u]))
              for u, lems in readings.items()}
    readings = {u: lems for u, lems in readings.items() if wn.lemmas(lems[0], UPOS_TO_WN[u])}
    if not readings:
        return None
    best = max(readings, key=lambda u: counts[u])
    total = sum(counts[u] for u in readings)
    if len(readings) > 1 and (total == 0 or counts[best] < DOMINANT_POS_SHARE * total):
        return None
    if len(readings[best]) != 1:
        return None  # "found": find or found
    lemma = readings[best][0]
    tags = tuple(t for t in PENN_TAGS[best] if form in lemminflect.getInflection(lemma, t))
    return (lemma, best, tags) if tags else None


def _english_inflect(candidate: str, lemma: str, form: str, tags: tuple[str, ...]) -> str | None:
    """The candidate in the original's inflection, or None when that is not one clear form."""
    import lemminflect

    if form == lemma:
        return candidate
    if " " in candidate or "-" in candidate:
        return None
    forms = {(lemminflect.getInflection(candidate, t) or ("",))[0] for t in tags}
    return forms.pop() if len(forms) == 1 and "" not in forms else None


def _english_multiword(word: str, context: frozenset[str], data_root: str) -> list[str]:
    """A multiword lemma ("fire engine") in its base form, of one part of speech only."""
    wn = v1._wordnet(data_root)
    pos = {lem.synset().pos().replace("s", "a") for lem in wn.lemmas(word.lower().replace(" ", "_"))}
    if len(pos) != 1:
        return []
    sid = choose_sense(_english_sense(word.lower(), pos.pop(), data_root), context, "en", data_root)
    return synset_candidates(word.lower(), sid, "en", data_root) if sid else []


def english_options(word: str, context: frozenset[str], data_root: str) -> list[str]:
    if " " in word:
        return _english_multiword(word, context, data_root)
    reading = _english_reading(word, data_root)
    if reading is None:
        return []
    lemma, upos, tags = reading
    sid = choose_sense(_english_sense(lemma, UPOS_TO_WN[upos], data_root), context, "en", data_root)
    if sid is None:
        return []
    out = (_english_inflect(c, lemma, word.lower(), tags)
           for c in synset_candidates(lemma, sid, "en", data_root))
    return _surface_ok(out, word, "en")


def _surface_ok(found: Iterable[str | None], word: str, language: str) -> list[str]:
    """Re-inflected forms must still differ from, not contain, and not be rarer than the word."""
    return [c for c in dict.fromkeys(found)
            if c and v1._key(c) != v1._key(word) and not _shares_word(c, word, language)
            and _frequent_enough(c, word, language)]


def _russian_reading(word: str) -> Any | None:
    """pymorphy3's parse when every parse agrees on lemma and part of speech."""
    parses = [p for p in _morph().parse(word) if p.tag.POS in RU_POS]
    if not parses or len({(p.normal_form, p.tag.POS) for p in parses}) != 1:
        return None
    return parses


def _russian_inflect(candidate: str, parses: list[Any]) -> str | None:
    """The candidate in each possible grammeme set of the original; one surface or None."""
    pos = parses[0].tag.POS
    target = next((p for p in _morph().parse(candidate)
                   if p.tag.POS == pos and p.normal_form == candidate.lower()), None)
    if target is None:
        return None
    if pos == "NOUN" and any(getattr(target.tag, g) != getattr(parses[0].tag, g) for g in RU_AGREEMENT):
        return None
    if pos in ("VERB", "INFN") and target.tag.aspect != parses[0].tag.aspect:
        return None
    forms = set()
    for p in parses:
        inflected = target.inflect(_ru_grammemes(p.tag, pos))
        forms.add(inflected.word if inflected else "")
    return forms.pop() if len(forms) == 1 and "" not in forms else None


def _ru_grammemes(tag: Any, pos: str) -> set[str]:
    """The original's inflectional grammemes (not its lexical ones: a noun keeps its gender)."""
    cats = ["case", "number", "person", "tense"]
    cats += [] if pos == "NOUN" else ["gender"]
    cats += ["animacy"] if pos == "ADJF" else []
    return {g for g in (getattr(tag, c) for c in cats) if g}


def russian_options(word: str, context: frozenset[str], data_root: str) -> list[str]:
    if " " in word:
        return []
    parses = _russian_reading(word)
    if parses is None:
        return []
    lemma = parses[0].normal_form
    sense = _omw_sense(lemma, "ru", data_root)
    sid = choose_sense(sense, context, "ru", data_root) if sense else None
    if sid is None or sid[-1] != RU_POS[parses[0].tag.POS]:
        return []
    out = (_russian_inflect(c, parses) for c in synset_candidates(lemma, sid, "ru", data_root))
    return _surface_ok(out, word, "ru")


def omw_options(word: str, language: str, context: frozenset[str], data_root: str) -> list[str]:
    """Dictionary forms only: the surface must be a wordnet lemma (and simplemma's lemma)."""
    key = v1._key(word)
    if language in SIMPLEMMA_LANGUAGES and " " not in key and lemma_of(word, language) != key:
        return []
    if language == "vi" and len(key.split()) < 2:
        return []
    sense = _omw_sense(key, language, data_root)
    sid = choose_sense(sense, context, language, data_root) if sense else None
    return synset_candidates(word, sid, language, data_root) if sid else []


def options(word: str, language: str, context: frozenset[str], data_root: str) -> list[str]:
    """v2 replacements of `word` (a unit of the text) in this item's context."""
    if not word.strip() or any(is_function_word(p, language) for p in word.split()):
        return []
    if language == "en":
        return english_options(word, context, data_root)
    if language == "ru":
        return russian_options(word, context, data_root)
    return omw_options(word, language, context, data_root)


# ----------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Edit:
    """One planned replacement: side 0 premise / 1 hypothesis, unit index, new text."""

    side: int
    index: int
    span: Span
    text: str


def _context(example: NLIExample) -> frozenset[str]:
    keys = {v1._key(w.text) for t in (example.premise, example.hypothesis)
            for w in words(t, example.language)}
    keys |= {lemma_of(k, example.language) for k in keys}
    return frozenset(k for k in keys if not is_function_word(k, example.language))


def _blocked_by_neighbours(spans: list[Span], i: int, n: int, text: str, language: str) -> bool:
    """Agreement and attachment: after a closed-class word (agreeing languages), next to a
    number (classifiers, units: 2001年), or inside a dictionary compound (Thai, Chinese)."""
    prev = spans[i - 1] if i > 0 else None
    nxt = spans[i + n] if i + n < len(spans) else None
    if any(s is not None and any(ch.isdigit() for ch in s.text) for s in (prev, nxt)):
        return True
    if language in AGREEING and prev is not None and is_function_word(prev.text, language):
        return True
    if language in v1.UNSPACED:
        unit = text[spans[i].start:spans[i + n - 1].end]
        joined = [text[prev.start:spans[i].end] if prev else "",
                  text[spans[i].start:nxt.end] if nxt else ""]
        return any(j and j != unit and _in_dictionary(j, language) and _is_word(j, language)
                   for j in joined)
    return False


def _is_word(text: str, language: str) -> bool:
    return " " not in text and len(words(text, language)) == 1


def sentence_units(text: str, language: str, context: frozenset[str], data_root: str
                   ) -> list[tuple[Span, tuple[str, ...]]]:
    """Editable units left to right (longest wordnet lemma first), with their replacements."""
    spans = words(text, language)
    max_n = 1 if language in v1.UNSPACED else v1.MAX_NGRAM
    units, i = [], 0
    while i < len(spans):
        for n in range(min(max_n, len(spans) - i), 0, -1):
            group = spans[i:i + n]
            if n > 1 and not v1._single_spaced(text, group):
                continue
            if any(v1._looks_proper(s, i + j, language) for j, s in enumerate(group)):
                continue
            span = v1._merge(text, group)
            is_lemma = v1._is_lemma(span.text, language, Path(data_root))
            if n > 1 and not is_lemma:
                continue
            if not _blocked_by_neighbours(spans, i, n, text, language):
                found = options(span.text, language, context, data_root)
                found = [c for c in found if _resegments(text, span, c, language)]
                if found:
                    units.append((span, tuple(found)))
            i += n  # a wordnet lemma of several words is one unit, never split
            break
        else:
            i += 1
    return units


def _resegments(text: str, span: Span, candidate: str, language: str) -> bool:
    """In Thai and Chinese the replacement must come out as one word where it was put."""
    if language not in v1.UNSPACED:
        return True
    new = text[:span.start] + candidate + text[span.end:]
    end = span.start + len(candidate)
    return any(s.start == span.start and s.end == end for s in words(new, language))


# ----------------------------------------------------------------------------- nesting


def plan(example: NLIExample, data_root: str) -> list[Edit]:
    """Every eligible edit of the item, ranked once from a severity-independent RNG."""
    return list(_plan(example, data_root))


@functools.lru_cache(maxsize=4096)
def _plan(example: NLIExample, data_root: str) -> tuple[Edit, ...]:
    """A pure function of the item, cached so the three severities compute it once."""
    context = _context(example)
    order_rng = seeds.rng(v1.FAMILY, RULES, example.language, example.id)
    edits = []
    for side, text in enumerate((example.premise, example.hypothesis)):
        for index, (span, found) in enumerate(sentence_units(text, example.language, context, data_root)):
            choice = seeds.rng(v1.FAMILY, RULES, example.language, example.id, side, span.start)
            edits.append(Edit(side, index, span, v1._match_case(span.text, choice.choice(found))))
    order_rng.shuffle(edits)
    return tuple(edits)


def nested_counts(n: int) -> dict[str, int | None]:
    """Edits per severity for n eligible units: strictly growing, None where impossible."""
    out: dict[str, int | None] = {}
    previous = 0
    for severity in ("low", "medium", "high"):
        k = max(previous + 1, min(CAPS[severity], int(SHARES[severity] * n + 0.5)))
        out[severity] = k if k <= n else None
        previous = k
    return out


def apply(example: NLIExample, edits: list[Edit]) -> NLIExample:
    texts = [example.premise, example.hypothesis]
    for side in (0, 1):
        mine = sorted((e for e in edits if e.side == side), key=lambda e: e.span.start)
        spans = [e.span for e in mine]
        texts[side] = replace_spans(texts[side], {i: e.text for i, e in enumerate(mine)}, spans)
    return example.with_texts(texts[0], texts[1])


@dataclass(frozen=True)
class SynonymSwapV2:
    """Synonym swap under rule set v2, for one (severity, language)."""

    severity: str
    language: str
    data_root: Path
    name: str = "synonym_swap"
    family: str = v1.FAMILY
    version: str = VERSION

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({self.language})

    def params(self) -> dict[str, Any]:
        return {
            "version": VERSION, "rules": RULES, "severity": self.severity,
            "shares": dict(SHARES), "caps": dict(CAPS), "nesting": "sha256(family, rules, language, id)",
            "max_ngram": 1 if self.language in v1.UNSPACED else v1.MAX_NGRAM,
            "dominant_sense_share": DOMINANT_SENSE_SHARE, "dominant_pos_share": DOMINANT_POS_SHARE,
            "function_top_n": FUNCTION_TOP_N, "max_zipf_drop": MAX_ZIPF_DROP, "min_zipf": MIN_ZIPF,
            "packages": resource_versions(),
            "sources": sorted(v1.resource_paths(self.language, self.data_root)),
            "protected_version": PROTECTED_VERSION,
        }

    def resource_files(self) -> dict[str, str]:
        return {name: str(path)
                for name, path in v1.resource_paths(self.language, self.data_root).items()}

    def edits(self, example: NLIExample) -> list[Edit] | None:
        """This severity's edits (a prefix of the item's ranking), or None if not applicable."""
        ranked = plan(example, str(self.data_root))
        k = nested_counts(len(ranked))[self.severity]
        return None if k is None else ranked[:k]

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        """`rng` is unused: nesting needs a ranking no severity enters (module docstring)."""
        if example.language != self.language:
            raise ValueError(f"{self.name} for {self.language!r} got a {example.language!r} example")
        chosen = self.edits(example)
        if not chosen:
            return NOT_APPLICABLE
        out = apply(example, chosen)
        if out.premise == example.premise and out.hypothesis == example.hypothesis:
            return NOT_APPLICABLE
        return out
