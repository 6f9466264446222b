"""char_noise rules v2.1 (`attacks.charnoise`, section "rules v2.1"): one golden test per fix
of the v2.0 candidate's Arabic and Hindi readings, on words written for these tests (no XNLI
text), and the contract that makes v2's readings carry: in the other 13 languages v2.1 writes
v2's text byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attacks import charnoise, lexicons
from attacks.base import derive_rng
from attacks.charnoise import OPERATIONS, CharNoise, build
from attacks.registry import FAMILY_PARAMS
from harness import LANGUAGES
from harness.data.xnli import load_local


def _all_edits(word: str, language: str, rules: str) -> set[str]:
    return {c for op in OPERATIONS for c in charnoise.v2_operation_candidates(word, language, op, rules)}


def test_v21_is_a_spec_parameter_with_its_own_version() -> None:
    cells = FAMILY_PARAMS.load("char_noise")({"rules": "v2.1"}, ["low"], ["ar", "en"])
    assert cells == {("low", "ar"): {"rules": "v2.1"}, ("low", "en"): {"rules": "v2.1"}}
    ar = CharNoise("low", "ar", rules="v2.1")
    assert ar.version == ar.params()["version"] == charnoise.VERSION_V21 == "2.1.1"
    assert ar.params()["rules"] == "v2.1"
    assert ar.params()["v21"]["hunspell"].startswith("hunspell-ar=3.2-1.2 ar.dic+.aff read by chunspell==")
    assert "nahi" in CharNoise("low", "hi", rules="v2.1").params()["v21"]["romanised_negations"]
    assert CharNoise("low", "en", rules="v2.1").params()["v21"] == {}
    with pytest.raises(ValueError, match="v2.2"):
        FAMILY_PARAMS.load("char_noise")({"rules": "v2.2"}, ["low"], ["ar"])


@pytest.mark.parametrize(("word", "typo"), [("قارب", "قابر"), ("ولد", "نلد"), ("نفس", "نبس"),
                                            ("بطلب", "بطلل"), ("الناس", "النعس")])
def test_arabic_typos_that_hunspell_knows_are_refused(word: str, typo: str) -> None:
    """The audited real-word typos (burier, we give birth, uttered, ruins, drowsiness): too rare
    for wordfreq, so v2 made them; hunspell-ar knows them, so v2.1 does not."""
    assert lexicons.is_hunspell_word(typo, "ar") and not lexicons.is_known_word(typo, "ar")
    assert typo in _all_edits(word, "ar", "v2")
    v21 = _all_edits(word, "ar", "v2.1")
    assert typo not in v21 and v21 and not any(lexicons.is_hunspell_word(c, "ar") for c in v21)


def test_romanised_hindi_negations_are_left_alone() -> None:
    """nahi→jahi (v2) obscured a negation in a romanised Hindi sentence."""
    for word in ("nahi", "Nahin", "nahee"):
        assert charnoise.v2_is_eligible(word, "hi")
        assert not charnoise.v2_is_eligible(word, "hi", "v2.1")
    premise, hypothesis = "Main wahan nahi gaya tha", "Woh wahan nahi gaya"
    for seed in range(20):
        (p, h), _ = charnoise.v2_noise_pair_edits(premise, hypothesis, "hi", 0.5,
                                                  derive_rng(seed, "char_noise", "high", "hi", "t"), "v2.1")
        assert "nahi" in p.split() and "nahi" in h.split()


def test_hindi_deletions_and_swaps_are_one_or_two_keystrokes() -> None:
    """कल्पना→कना, बहुत→बत, दुर्भाग्य→दुग्य, कल्पना→कनाल्प (v2): whole syllables deleted or moved.
    v2.1 deletes a bare letter or a cluster's final vowel sign, and swaps two bare letters."""
    for word, syllable_cut in [("कल्पना", "कना"), ("बहुत", "बत"), ("दुर्भाग्य", "दुग्य")]:
        assert syllable_cut in set(charnoise.v2_operation_candidates(word, "hi", "delete"))
        assert syllable_cut not in set(charnoise.v2_operation_candidates(word, "hi", "delete", "v2.1"))
    assert "बहत" in set(charnoise.v2_operation_candidates("बहुत", "hi", "delete", "v2.1"))  # the ु key missed
    assert "कनाल्प" in set(charnoise.v2_operation_candidates("कल्पना", "hi", "swap"))
    assert list(charnoise.v2_operation_candidates("कल्पना", "hi", "swap", "v2.1")) == []
    assert set(charnoise.v2_operation_candidates("सरकार", "hi", "swap", "v2.1")) == {"रसकार"}
    for word in ("कल्पना", "दुर्भाग्य", "सरकार", "विद्यार्थी"):
        for op in ("delete", "swap"):
            for out in charnoise.v2_operation_candidates(word, "hi", op, "v2.1"):
                assert abs(len(out) - len(word)) <= 1 and charnoise.devanagari_well_formed(out), (word, out)


@pytest.mark.parametrize("language", sorted(set(LANGUAGES) - charnoise.V21_LANGUAGES))
def test_v21_writes_v2s_text_in_the_other_languages(language: str, data_root: Path) -> None:
    """The contract that lets v2's readings of 13 languages carry to v2.1 (30 real items, high;
    the pinned benchmark files are compared byte for byte in tests/test_cells.py)."""
    items = load_local(data_root / "xnli", "test", [language])[language][:30]
    v2, v21 = build("high", language, data_root, rules="v2"), build("high", language, data_root, rules="v2.1")
    for ex in items:
        rng = ("char_noise", "high", language, ex.id)
        assert repr(v2.perturb(ex, derive_rng(7, *rng))) == repr(v21.perturb(ex, derive_rng(7, *rng))), ex.id


def test_v21_output_depends_on_its_own_input_only(data_root: Path) -> None:
    """Arabic through hunspell: alone, in reverse order and after other words were looked up,
    the same output per item."""
    items = load_local(data_root / "xnli", "test", ["ar"])["ar"][:8]
    p = build("high", "ar", data_root, rules="v2.1")
    first = {ex.id: repr(p.perturb(ex, derive_rng(1, "char_noise", "high", "ar", ex.id))) for ex in items}
    charnoise.v2_available_operations.cache_clear()
    lexicons._hunspell_lookup.cache_clear()
    again = {ex.id: repr(p.perturb(ex, derive_rng(1, "char_noise", "high", "ar", ex.id))) for ex in reversed(items)}
    assert first == again
