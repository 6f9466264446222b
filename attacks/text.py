"""Script-aware text handling shared by every perturbation family and the attack recipes.

Words are found as character *spans* in the original string, so an edit replaces exactly one
span and leaves spacing and punctuation untouched.  Thai and Chinese have no spaces between
words: they are segmented with dictionaries shipped inside registry packages (pythainlp's
`newmm`, jieba).  Elsewhere a word is a run of letters, combining marks and digits (plus
inner apostrophes and hyphens); unlike `\\w`, `\\p{M}` keeps Devanagari and Thai vowel signs
attached to their base.  Graphemes are extended grapheme clusters (`\\X`), the unit every
character-level edit works on.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from dataclasses import dataclass

import regex

_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:['’\-][\p{L}\p{M}\p{N}]+)*")
_GRAPHEME = regex.compile(r"\X")
_UNSPACED = {"th", "zh"}


@dataclass(frozen=True)
class Span:
    """A word at text[start:end]."""

    start: int
    end: int
    text: str


def graphemes(text: str) -> list[str]:
    """Extended grapheme clusters: a base character with all its combining marks."""
    return _GRAPHEME.findall(text)


def is_wordlike(token: str) -> bool:
    """True if the token contains a letter (not only punctuation, spaces or digits)."""
    return any(unicodedata.category(ch).startswith("L") for ch in token)


@functools.lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _segment_unspaced(text: str, language: str) -> list[Span]:
    if language == "zh":
        tokens = [(w, s, e) for w, s, e in _jieba().tokenize(text)]
    else:
        from pythainlp.tokenize import word_tokenize

        tokens, pos = [], 0
        for w in word_tokenize(text, engine="newmm", keep_whitespace=True):
            tokens.append((w, pos, pos + len(w)))
            pos += len(w)
    return [Span(s, e, w) for w, s, e in tokens if is_wordlike(w)]


def words(text: str, language: str) -> list[Span]:
    """Word spans of `text` in `language` (ISO 639-1 XNLI code)."""
    if language in _UNSPACED:
        return _segment_unspaced(text, language)
    return [Span(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]


def replace_spans(text: str, edits: dict[int, str], spans: list[Span]) -> str:
    """Rebuild `text` with spans[i] replaced by edits[i]; everything else kept verbatim."""
    out, pos = [], 0
    for i, span in enumerate(spans):
        if i in edits:
            out.append(text[pos:span.start])
            out.append(edits[i])
            pos = span.end
    out.append(text[pos:])
    return "".join(out)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
