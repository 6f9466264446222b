"""Known words per XNLI language, and common same-pinyin characters for Chinese input slips.

Why: a typo that lands on another real word ("used" -> "sued", Arabic سلاحًا -> صلاحًا) changes
what a sentence says, so char_noise v2 refuses such edits.  "Known" must come from a real
word list, not a hand list; one per language, each shipped by a package this project pins:

* wordfreq 3.1.1 (PyPI, data inside the wheel) for the 13 languages it covers: a word is
  known when its Zipf frequency is at least `ZIPF_KNOWN` (once per 100 million words), so the
  list's long tail of web typos does not count;
* Thai: pythainlp's word list (`pythainlp.corpus.thai_words`, the dictionary its `newmm`
  segmenter uses);
* Swahili: the Debian hunspell-sw dictionary (`/usr/share/hunspell/sw_TZ.dic`, whose affix
  file has one prefix class, expanded here), pinned in the Makefile's `APT_PINS`;
* Chinese: jieba's dictionary (every entry with a positive frequency).

Rules v2.1 also ask Hunspell about Arabic (`is_hunspell_word`: Debian hunspell-ar, read by
chunspell's Hunspell), which knows rare and inflected forms below wordfreq's threshold.

The Chinese homophones are what a pinyin input method offers for the same syllable: all
single-character entries of jieba's dictionary, grouped by their toneless reading (pypinyin
0.55.0, most common reading), Simplified only (OpenCC t2s leaves them unchanged), ranked by
jieba's frequency, within its `ZH_COMMON` most frequent characters; a slip picks one of the
`ZH_TOP` most frequent others.
"""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
from pathlib import Path

ZIPF_KNOWN = 2.0
"""wordfreq Zipf value from which a form counts as a word of the language."""

ZH_TOP = 5
"""How many of the most frequent same-reading characters an input-method slip draws from."""

ZH_COMMON = 2500
"""Only the 2,500 most frequent characters of jieba's dictionary are offered (the size of the
official list of common characters, 常用字, approximated by jieba's own frequencies): an input
method ranks rare characters last, and a typist does not pick 锝 for 德."""

HUNSPELL_SW = Path("/usr/share/hunspell/sw_TZ")
HUNSPELL_SW_PACKAGE = "hunspell-sw"

HUNSPELL: dict[str, tuple[Path, str]] = {"ar": (Path("/usr/share/hunspell/ar"), "hunspell-ar")}
"""Full Hunspell dictionaries (affix rules applied by Hunspell) that char_noise rules v2.1 consult:
the Debian package of each, pinned in the Makefile's `APT_PINS`."""

_WORDFREQ_LANGUAGES = frozenset({"en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi",
                                 "hi", "ur"})


def package_version(name: str) -> str:
    """`name==version` of an installed PyPI package (recorded in a perturbation's params)."""
    try:
        return f"{name}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{name}==missing"


@functools.lru_cache(maxsize=None)
def debian_version(package: str) -> str:
    """`package=version` of an installed Debian package, or `package=missing`."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                             capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        out = ""
    return f"{package}={out or 'missing'}"


def lexicon_source(language: str) -> str:
    """Which list says a word is known in `language` (for `params()`)."""
    if language == "th":
        return f"{package_version('pythainlp')} corpus.thai_words"
    if language == "sw":
        return f"{debian_version(HUNSPELL_SW_PACKAGE)} {HUNSPELL_SW.name}.dic"
    if language == "zh":
        return f"{package_version('jieba')} dict.txt"
    return f"{package_version('wordfreq')} zipf>={ZIPF_KNOWN}"


def is_known_word(word: str, language: str) -> bool:
    """True if `word` is a word of `language`; Latin-script words are also checked in English."""
    if _known(word, language):
        return True
    return language not in ("en", "fr", "es", "de", "tr", "vi", "sw") and _is_latin(word) and _known(
        word, "en")


def hunspell_source(language: str) -> str:
    """The dictionary `is_hunspell_word` reads, for `params()`: package, files and reader."""
    base, package = HUNSPELL[language]
    return f"{debian_version(package)} {base.name}.dic+.aff read by {package_version('chunspell')}"


def is_hunspell_word(word: str, language: str) -> bool:
    """True if Hunspell's dictionary for `language` accepts `word` (with its affix rules)."""
    return _hunspell_lookup(word, language)


@functools.lru_cache(maxsize=262144)
def _hunspell_lookup(word: str, language: str) -> bool:
    return bool(_hunspell(language).spell(word))


@functools.lru_cache(maxsize=None)
def _hunspell(language: str):  # type: ignore[no-untyped-def]
    """Hunspell itself (chunspell's wheel bundles the C++ library: about 25 us a lookup; the
    pure-Python spylls gave the same answers on the audit's words but made 100 Arabic items take
    45.6 s instead of 5.8 s); a lookup is string and affix-table logic, with no floating point
    or CPU dispatch."""
    base, package = HUNSPELL[language]
    if not base.with_suffix(".dic").exists():
        raise FileNotFoundError(f"{base}.dic is missing: install the Debian package {package} "
                                f"(make system-deps)")
    import hunspell

    return hunspell.Hunspell(base.name, hunspell_data_dir=str(base.parent))


def _is_latin(word: str) -> bool:
    return all(ch.isascii() or not ch.isalpha() for ch in word) and any(ch.isalpha() for ch in word)


@functools.lru_cache(maxsize=262144)
def _known(word: str, language: str) -> bool:
    if language in _WORDFREQ_LANGUAGES:
        from wordfreq import zipf_frequency

        return zipf_frequency(word, language) >= ZIPF_KNOWN
    if language == "th":
        return word in _thai_words()
    if language == "sw":
        return word.lower() in _swahili_words()
    if language == "zh":
        return _jieba_freq().get(word, 0) > 0
    raise KeyError(f"no word list for language {language!r}")


@functools.lru_cache(maxsize=1)
def _thai_words() -> frozenset[str]:
    from pythainlp.corpus import thai_words

    return frozenset(thai_words())


@functools.lru_cache(maxsize=1)
def _swahili_words() -> frozenset[str]:
    """hunspell-sw's word forms, lower-cased, its prefix classes applied."""
    dic, aff = HUNSPELL_SW.with_suffix(".dic"), HUNSPELL_SW.with_suffix(".aff")
    if not dic.exists():
        raise FileNotFoundError(f"{dic} is missing: install the Debian package "
                                f"{HUNSPELL_SW_PACKAGE} (make system-deps)")
    prefixes = _hunspell_prefixes(aff.read_text(encoding="latin-1"))
    words: set[str] = set()
    for line in dic.read_text(encoding="latin-1").splitlines()[1:]:
        stem, _, flags = line.strip().partition("/")
        if stem:
            words.add(stem.lower())
            words.update((p + stem).lower() for flag in flags for p in prefixes.get(flag, ()))
    return frozenset(words)


def _hunspell_prefixes(aff: str) -> dict[str, tuple[str, ...]]:
    """PFX rules of an affix file; only the simple kind hunspell-sw uses (strip 0, any stem)."""
    table: dict[str, list[str]] = {}
    for line in aff.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "PFX":
            _, flag, strip, add, condition = parts
            if strip != "0" or condition != ".":
                raise ValueError(f"unsupported hunspell prefix rule: {line!r}")
            table.setdefault(flag, []).append(add)
        elif len(parts) >= 2 and parts[0] == "SFX":
            raise ValueError(f"unsupported hunspell suffix rule: {line!r}")
    return {flag: tuple(adds) for flag, adds in table.items()}


@functools.lru_cache(maxsize=1)
def _jieba_freq() -> dict[str, int]:
    from attacks.text import _jieba

    return _jieba().dt.FREQ


@functools.lru_cache(maxsize=1)
def _zh_reading_groups() -> dict[str, tuple[str, ...]]:
    """Toneless reading -> Simplified characters with that (most common) reading, commonest first."""
    from opencc import OpenCC
    from pypinyin import Style, pinyin

    from attacks.protected import protected_kind

    t2s = OpenCC("t2s")
    groups: dict[str, list[tuple[int, str]]] = {}
    for freq, word in _common_characters():
        if t2s.convert(word) != word:
            continue
        if protected_kind(word, "zh") in ("negation", "number"):
            continue
        reading = pinyin(word, style=Style.NORMAL, errors="ignore")
        if reading and reading[0]:
            groups.setdefault(reading[0][0], []).append((-freq, word))
    return {r: tuple(ch for _, ch in sorted(chars)) for r, chars in groups.items()}


def _common_characters() -> list[tuple[int, str]]:
    """(frequency, character) of jieba's `ZH_COMMON` most frequent Han characters."""
    chars = [(freq, w) for w, freq in _jieba_freq().items()
             if len(w) == 1 and freq > 0 and "\u4e00" <= w <= "\u9fff"]
    return sorted(chars, key=lambda fw: (-fw[0], fw[1]))[:ZH_COMMON]


def zh_homophones(word: str, index: int) -> tuple[str, ...]:
    """Common characters a pinyin input method offers instead of `word[index]` (its reading
    in this word: 重 in 重要 is zhong, in 重新 chong), at most `ZH_TOP`, commonest first."""
    from pypinyin import lazy_pinyin

    readings = lazy_pinyin(word, errors=lambda chars: ["?"] * len(chars))
    if len(readings) != len(word) or not _reading_is_sure(word, index):
        return ()
    others = [ch for ch in _zh_reading_groups().get(readings[index], ()) if ch != word[index]]
    return tuple(others[:ZH_TOP])


def _reading_is_sure(word: str, index: int) -> bool:
    """A character with one toneless reading, or a word pypinyin's phrase dictionary holds:
    otherwise pypinyin falls back to the character's first reading (长 in 长时间 is read
    zhang, not chang), and the "homophone" would be none."""
    from pypinyin import Style, pinyin
    from pypinyin.constants import PHRASES_DICT

    readings = set(pinyin(word[index], style=Style.NORMAL, heteronym=True)[0])
    return len(readings) == 1 or word in PHRASES_DICT
