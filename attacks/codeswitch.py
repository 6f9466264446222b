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

Sentence level: premise and/or hypothesis are replaced by the same XNLI test item in other
languages (rows are parallel, keyed by pairID), which makes a human-translated
cross-lingual pair: low puts the hypothesis in English (in fr/es/de for English items),
medium puts it in a random other language, high puts premise and hypothesis each in a
different other language.
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import random
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

from attacks.base import NOT_APPLICABLE, SEVERITIES, _NotApplicable
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


@dataclass(frozen=True)
class WordCodeSwitch:
    """Replace a share of words by dictionary translations into up to N other languages."""

    severity: str
    language: str
    data_root: Path
    name: str = "code_switch_word"
    family: str = FAMILY
    version: str = VERSION

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(LANGUAGES)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(t for t in LANGUAGES if t != self.language)

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


# --------------------------------------------------------------------------- factories

def _check(severity: str, language: str) -> None:
    if severity not in SEVERITIES:
        raise KeyError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    if language not in SCRIPTS:
        raise KeyError(f"unknown language {language!r}; known: {', '.join(LANGUAGES)}")


def build(severity: str, language: str, data_root: Path,
          mode: str = "word") -> WordCodeSwitch | SentenceCodeSwitch:
    """The registry's factory: word-level by default, `mode="sentence"` for parallel rows."""
    if mode == "sentence":
        return build_sentence(severity, language, data_root)
    if mode != "word":
        raise KeyError(f"unknown code-switching mode {mode!r}; known: word, sentence")
    _check(severity, language)
    return WordCodeSwitch(severity, language, Path(data_root))


def build_sentence(severity: str, language: str, data_root: Path) -> SentenceCodeSwitch:
    """Sentence-level code-switching (premise and hypothesis in different languages)."""
    _check(severity, language)
    return SentenceCodeSwitch(severity, language, Path(data_root))
