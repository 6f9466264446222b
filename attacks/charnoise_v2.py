"""char_noise rules v2 (spec `families.char_noise.params: {rules: v2}`): v1's typos, minus the
failure modes the v1.1 lite reading audit found (issue #14).

Each rule answers one audit finding; v1 (`attacks.charnoise`) is untouched and stays the default.

* **No typo that makes another real word** ("used" -> "sued", سلاحًا -> صلاحًا, เซ้า -> เช้า):
  an edit whose result is a known word of the language (`attacks.lexicons`: wordfreq, pythainlp,
  hunspell-sw, jieba) is refused, and a word with no other edit is not eligible.
* **One entity, one edit**: every edit draws from an RNG derived from the item's RNG and the
  word itself, not its position (the same word gets the same edit wherever it is edited), and a
  picked word that occurs on both sides (a name, a noun; not a stopword of `attacks.protected`,
  whose every occurrence would inflate the edit count) is edited at every occurrence on both
  sides, so a name shared by premise and hypothesis reads the same in both.
* **Homoglyphs are rare**: at most one per item (`HOMOGLYPHS_PER_ITEM`), drawn with weight
  0.03 instead of 0.10 (`OP_WEIGHTS`): v1 put an Arabic/Persian letter twin in 30-46% of Arabic
  and Urdu items.
* **Thai syllables stay well-formed**: a leading vowel (เ แ โ ใ ไ) and the consonant after it
  are one unit (never split, swapped apart or half-deleted: no และ -> แะ, เขา -> ขเา), and an
  edit whose result has a leading vowel not followed by a consonant is refused.
* **Devanagari clusters stay well-formed**: a matra, nukta, virama or nasal sign must follow a
  base it can sit on (Unicode's Devanagari encoding model), never doubled, and no virama is left
  dangling at the end of a word.  v1's `\\X` already keeps conjuncts whole; this is the proof.
* **Arabic and Urdu joining stays possible**: no edit splits a word into more visual pieces
  than it had (a non-joining letter, Unicode Joining_Type R or U: ا د ر و ء ..., inserted or
  substituted mid-word does; at the end it does not); a letter written only word-finally (ة ى,
  Urdu ے ں ۃ) is never moved or added before another letter; no harakat is doubled; tatweel,
  ZWJ and ZWNJ keep their neighbours.
* **Chinese is typed through a pinyin input method**: the only slips are a same-reading
  character (`lexicons.zh_homophones`: the word's own reading of the character, common
  homophones only) and a double commit of the previous character; no character is deleted from
  or transposed inside a word, and no result may be a dictionary word.
* **Acronyms and CamelCase names** (two or more capital letters: CIA, HMOs, McCain) are not
  edited: a reader cannot recover CIA from CTIA.

Example (English, high): "Mr Smith met Smith." edits Smith the same way both times.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Iterator
from typing import Any

import regex

from attacks import charnoise as cn
from attacks import lexicons
from attacks.text import Span, graphemes, nfc, replace_spans, words
from harness.core import seeds

VERSION = "2.0.0"
RULES = "v2"
HOMOGLYPHS_PER_ITEM = 1

OP_WEIGHTS: dict[str, float] = {**cn.OP_WEIGHTS, "homoglyph": 0.03}
"""v1's weights with homoglyphs at 0.03 instead of 0.10: a twin letter is an encoding trick more
than a typo a reader meets, and v1's rate put one in 30-46% of Arabic and Urdu items."""

_TH_LEADING = frozenset("เแโใไ")
_NON_JOINING = regex.compile(r"[\p{Joining_Type=Right_Joining}\p{Joining_Type=Non_Joining}]")
_FINAL_ONLY: dict[str, frozenset[str]] = {"ar": frozenset("ةى"), "ur": frozenset("ےںۃةى")}
"""Letters written only at the end of a word (an orthographic convention: Unicode's joining
types allow ى and ں medially, so this is a hand list; no resource states it)."""
_JOIN_CONTROLS = frozenset("\u0640\u200c\u200d")
_UPPER = regex.compile(r"\p{Lu}")


# --------------------------------------------------------------------------- units

def units(word: str, language: str) -> list[str]:
    """The pieces an edit moves whole: grapheme clusters, and in Thai a leading vowel with the
    cluster after it (the consonant it is written before but pronounced after)."""
    gs = graphemes(word)
    if language != "th":
        return gs
    out: list[str] = []
    for g in gs:
        if out and out[-1] in _TH_LEADING:
            out[-1] += g
        else:
            out.append(g)
    return out


# --------------------------------------------------------------------------- generators

def _zh_substitutions(gs: list[str], language: str) -> Iterator[str]:
    word = "".join(gs)
    if len(gs) != len(word):
        return
    for i, g in enumerate(gs):
        if cn._editable(g, language):
            yield from (cn._join(gs, i, other) for other in lexicons.zh_homophones(word, i))


def _nothing(gs: list[str], language: str) -> Iterator[str]:
    return iter(())


def _homoglyphs(gs: list[str], language: str) -> Iterator[str]:
    """v1's homoglyphs, looked up on every base letter of a unit (a Thai unit starts with its
    leading vowel, which has no twin)."""
    for i, g in enumerate(gs):
        if not cn._editable(g, language):
            continue
        for j, ch in enumerate(g):
            if j == 0 or not cn._attaches(ch):
                for twin in cn.HOMOGLYPHS.get(ch, ""):
                    yield cn._join(gs, i, g[:j] + twin + g[j + 1:])


def _generator(op: str, language: str):  # type: ignore[no-untyped-def]
    if language == "zh":
        return {"substitute": _zh_substitutions, "insert": cn._insertions}.get(op, _nothing)
    if op == "homoglyph":
        return _homoglyphs
    return cn._GENERATORS[op]


# --------------------------------------------------------------------------- well-formedness

def thai_well_formed(text: str) -> bool:
    """Every Thai leading vowel is followed by a consonant (ก-ฮ)."""
    return all(i + 1 < len(text) and 0x0E01 <= ord(text[i + 1]) <= 0x0E2E
               for i, ch in enumerate(text) if ch in _TH_LEADING)


def _deva_kind(ch: str) -> str:
    cp = ord(ch)
    if 0x0915 <= cp <= 0x0939 or 0x0958 <= cp <= 0x095F or 0x0978 <= cp <= 0x097F:
        return "consonant"
    if 0x0904 <= cp <= 0x0914 or cp in (0x0960, 0x0961, 0x0972, 0x0973, 0x0974, 0x0975, 0x0976, 0x0977):
        return "vowel"
    if cp == 0x093C:
        return "nukta"
    if cp == 0x094D:
        return "virama"
    if 0x093A <= cp <= 0x094C or 0x094E <= cp <= 0x094F or cp in (0x0955, 0x0956, 0x0957, 0x0962, 0x0963):
        return "matra"
    if 0x0900 <= cp <= 0x0903:
        return "nasal"
    return "other"


_DEVA_AFTER: dict[str, frozenset[str]] = {
    "nukta": frozenset({"consonant"}),
    "virama": frozenset({"consonant", "nukta"}),
    "matra": frozenset({"consonant", "nukta"}),
    "nasal": frozenset({"consonant", "nukta", "matra", "vowel"}),
}
"""What each Devanagari sign may follow (Unicode Standard, ch. 12, Devanagari)."""


def devanagari_well_formed(text: str) -> bool:
    """Each sign sits on a base it can take, none is doubled, no virama ends a word."""
    previous = "other"
    for i, ch in enumerate(text):
        kind = _deva_kind(ch)
        if kind in _DEVA_AFTER and previous not in _DEVA_AFTER[kind]:
            return False
        if kind == "virama" and (i + 1 == len(text) or _deva_kind(text[i + 1]) != "consonant"
                                 and text[i + 1] not in "\u200c\u200d"):
            return False
        previous = kind
    return True


def arabic_well_formed(candidate: str, word: str, language: str) -> bool:
    """No more visual pieces than before, no new final-only letter before another letter, no
    new doubled mark, and every tatweel, ZWJ and ZWNJ between the same neighbours as before."""
    final_only = _FINAL_ONLY[language]
    if pieces(candidate) > pieces(word):
        return False
    if _inner_count(candidate, final_only) > _inner_count(word, final_only):
        return False
    if _doubled_marks(candidate) > _doubled_marks(word):
        return False
    return _join_contexts(candidate) == _join_contexts(word)


def pieces(text: str) -> int:
    """How many visually connected pieces an Arabic-script word is drawn in: a letter that
    does not join to the next (Joining_Type R or U: ا د ر و ء, ZWNJ) ends a piece."""
    bases = [ch for ch in text if not unicodedata.category(ch).startswith("M")]
    return 1 + sum(1 for ch in bases[:-1] if _NON_JOINING.match(ch))


def _inner_count(text: str, letters: frozenset[str]) -> int:
    bases = [ch for ch in text if not unicodedata.category(ch).startswith("M")]
    return sum(1 for a, b in zip(bases, bases[1:]) if a in letters and unicodedata.category(b).startswith("L"))


def _doubled_marks(text: str) -> int:
    return sum(1 for a, b in zip(text, text[1:]) if a == b and unicodedata.category(a).startswith("M"))


def _join_contexts(text: str) -> list[tuple[str, str, str]]:
    return sorted((text[i - 1:i], ch, text[i + 1:i + 2]) for i, ch in enumerate(text) if ch in _JOIN_CONTROLS)


def _acceptable_v2(candidate: str, word: str, language: str, tables: str) -> bool:
    """v2's refusals on top of v1's (`charnoise._acceptable`)."""
    if tables == "th" and not thai_well_formed(candidate):
        return False
    if tables == "hi" and not devanagari_well_formed(candidate):
        return False
    if tables in _FINAL_ONLY and not arabic_well_formed(candidate, word, tables):
        return False
    return not lexicons.is_known_word(candidate, language)


# --------------------------------------------------------------------------- words

def operation_candidates(word: str, language: str, op: str) -> Iterator[str]:
    """Distinct acceptable NFC variants of `word` (NFC) made by one `op` under v2, fixed order."""
    tables = cn.table_language(word, language)
    seen: set[str] = set()
    for raw in _generator(op, tables)(units(word, tables), tables):
        candidate = nfc(raw)
        if candidate in seen:
            continue
        seen.add(candidate)
        if cn._acceptable(candidate, word, tables) and _acceptable_v2(candidate, word, language, tables):
            yield candidate


@functools.lru_cache(maxsize=65536)
def available_operations(word: str, language: str) -> tuple[str, ...]:
    """Operations with at least one acceptable v2 edit of `word` (NFC)."""
    return tuple(op for op in cn.OPERATIONS
                 if next(operation_candidates(word, language, op), None) is not None)


def is_acronym(word: str) -> bool:
    """Two or more capital letters: an acronym (CIA, HMOs) or a CamelCase name (McCain)."""
    return len(_UPPER.findall(word)) >= 2


@functools.lru_cache(maxsize=65536)
def is_eligible(word: str, language: str) -> bool:
    """v1's eligibility, minus acronyms, with v2's edits (a word whose only typos are real
    words is left alone)."""
    word = nfc(word)
    if is_acronym(word) or not cn.is_eligible(word, language):
        return False
    return bool(available_operations(word, language))


def noise_word(word: str, language: str, rng: random.Random,
               exclude: frozenset[str] = frozenset()) -> tuple[str, str | None]:
    """(`word` with one v2 edit, the operation), or (`word`, None) when none is acceptable."""
    word = nfc(word)
    ops = tuple(op for op in available_operations(word, language) if op not in exclude)
    if not ops:
        return word, None
    chosen = ops[0] if len(ops) == 1 else _weighted_choice(ops, rng)
    candidates = list(operation_candidates(word, language, chosen))
    return candidates[rng.randrange(len(candidates))], chosen


def _weighted_choice(ops: tuple[str, ...], rng: random.Random) -> str:
    point = rng.random() * sum(OP_WEIGHTS[o] for o in ops)
    for o in ops:
        point -= OP_WEIGHTS[o]
        if point < 0:
            return o
    return ops[-1]


# --------------------------------------------------------------------------- items

def noise_pair_edits(premise: str, hypothesis: str, language: str, rate: float, rng: random.Random
                     ) -> tuple[tuple[str, str], tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
    """Premise and hypothesis (NFC) under v2, and each side's (original, edited) word pairs.

    Each side picks round(rate x eligible words), at least one, with the item's `rng`, as in
    v1; a picked non-stopword that occurs on both sides is then picked at all its occurrences;
    every picked occurrence of a word gets that word's one edit.
    """
    texts = (nfc(premise), nfc(hypothesis))
    key = rng.getrandbits(64)
    spans = [words(t, language) for t in texts]
    picked = [_pick(side, language, rate, rng) for side in spans]
    shared = ({s.text for s in spans[0]} & {s.text for s in spans[1]}) - _stopwords(spans, language)
    entities = shared & {spans[j][i].text for j in (0, 1) for i in picked[j]}
    for side, chosen in zip(spans, picked):
        chosen |= {i for i, s in enumerate(side) if s.text in entities}
    order = [spans[j][i].text for j in (0, 1) for i in sorted(picked[j])]
    edits = _word_edits(list(dict.fromkeys(order)), language, key)
    chosen_edits = [{i: edits[side[i].text] for i in sorted(p) if side[i].text in edits}
                    for side, p in zip(spans, picked)]
    out = [nfc(replace_spans(t, e, side)) for t, e, side in zip(texts, chosen_edits, spans)]
    pairs = [[(side[i].text, new) for i, new in e.items()] for side, e in zip(spans, chosen_edits)]
    return (out[0], out[1]), (pairs[0], pairs[1])


def _pick(side: list[Span], language: str, rate: float, rng: random.Random) -> set[int]:
    """v1's choice: round(rate x eligible words), at least one, positions drawn by `rng`."""
    eligible = [i for i, span in enumerate(side) if is_eligible(span.text, language)]
    if not eligible:
        return set()
    count = min(len(eligible), max(1, int(rate * len(eligible) + 0.5)))
    return set(rng.sample(eligible, count))


def _stopwords(spans: list[list[Span]], language: str) -> set[str]:
    return {s.text for side in spans for s in side if cn._protected_kind(s.text, language) == "stopword"}


def _word_edits(forms: list[str], language: str, key: int) -> dict[str, str]:
    """One edit per distinct word, from an RNG of (item key, word); homoglyphs rationed."""
    edits: dict[str, str] = {}
    homoglyphs = 0
    for form in forms:
        exclude = frozenset({"homoglyph"}) if homoglyphs >= HOMOGLYPHS_PER_ITEM else frozenset()
        new, op = noise_word(form, language, seeds.rng(key, cn.FAMILY, "word", form), exclude)
        homoglyphs += op == "homoglyph"
        if new != form:
            edits[form] = new
    return edits


def params(language: str) -> dict[str, Any]:
    """What v2 adds to v1's parameters (the resources whose versions the output depends on)."""
    extra: dict[str, Any] = {
        "rules": RULES, "homoglyphs_per_item": HOMOGLYPHS_PER_ITEM, "op_weights": dict(OP_WEIGHTS),
        "lexicon": lexicons.lexicon_source(language),
        "latin_lexicon": None if language in cn._LATIN_LANGUAGES else lexicons.lexicon_source("en"),
        "acronyms_edited": False, "entity_edits": "per word, every occurrence",
        "final_only_letters": sorted(_FINAL_ONLY.get(language, ())),
    }
    if language == "zh":
        extra["zh_input"] = {"operations": ["substitute", "insert"], "top": lexicons.ZH_TOP,
                             "common": lexicons.ZH_COMMON,
                             "packages": [lexicons.package_version(p) for p in
                                          ("pypinyin", "jieba", "opencc-python-reimplemented")]}
    return extra
