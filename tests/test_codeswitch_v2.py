"""code_switch v2 rules (issue #14): one test per fix, on sentences written for these tests.

v1 stays as it was (tests/test_codeswitch.py pins it); these tests pin what v2 changes.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from attacks import codeswitch as cs
from attacks.base import NOT_APPLICABLE, SEVERITIES
from attacks.registry import FAMILY_PARAMS, build
from attacks.text import words
from harness import LANGUAGES
from harness.core.examples import NLIExample

SENTENCES = {
    "en": ("The doctor bought a small house near the river.", "A physician owns a house."),
    "fr": ("Ma sœur voulait acheter la maison du médecin.", "Le médecin est dans le jardin."),
    "de": ("Meine Schwester würde das Haus kaufen.", "Sie hat einen Arzt und einen Garten."),
    "ru": ("Врач купил дом у реки.", "Из того дома видна река."),
    "tr": ("Doktor nehrin yanında bir ev aldı.", "Adınız ne?"),
    "vi": ("Bệnh viện ở gần nhà tôi.", "Tôi đi bệnh viện với bác sĩ."),
    "ur": ("وہ ایک طالب علم ہے اور ڈاکٹر بننا چاہتا ہے۔", "اس کا گھر بڑا ہے۔"),
    "th": ("นายไตวาริโกะกินข้าวที่บ้าน", "หมอไปโรงพยาบาล"),
    "zh": ("医生在医院工作。", "他买了一所房子，房子在河边。"),
    "sw": ("Daktari alinunua nyumba karibu na mto.", "Mwanafunzi anajua jibu."),
}


def v2(severity: str, language: str, root: Path) -> cs.WordCodeSwitchV2:
    p = cs.build(severity, language, root, rules="v2")
    assert isinstance(p, cs.WordCodeSwitchV2)
    return p


def example(language: str, item_id: str = "t1") -> NLIExample:
    premise, hypothesis = SENTENCES[language]
    return NLIExample(item_id, language, premise, hypothesis, 0)


def switched(p: cs.WordCodeSwitchV2, ex: NLIExample) -> dict[str, dict[tuple[int, int], tuple[str, str]]]:
    texts = (ex.premise, ex.hypothesis)
    spans = [p._spans(t) for t in texts]
    slots = p._slots(texts[0], 0, spans[0]) + p._slots(texts[1], 1, spans[1])
    return cs.nested_choices(slots, ex.id, p.language, spans) if slots else {s: {} for s in SEVERITIES}


def test_unit_params_select_v2_and_reject_mistakes() -> None:
    assert FAMILY_PARAMS.load("code_switch") is cs.unit_params
    assert cs.unit_params({}, ["low"], ["en"]) == {("low", "en"): {}}
    assert cs.unit_params({"rules": "v1"}, ["low"], ["en"]) == {("low", "en"): {}}
    assert cs.unit_params({"rules": "v2"}, ["low", "high"], ["fr"]) == {
        ("low", "fr"): {"rules": "v2"}, ("high", "fr"): {"rules": "v2"}}
    with pytest.raises(ValueError, match="routes"):
        cs.unit_params({"routes": {}}, ["low"], ["en"])
    with pytest.raises(ValueError, match="v3"):
        cs.unit_params({"rules": "v3"}, ["low"], ["en"])


def test_v1_is_untouched_and_v2_has_its_own_version(data_root: Path) -> None:
    v1 = build("code_switch", "high", "fr", data_root)
    assert isinstance(v1, cs.WordCodeSwitch) and v1.version == "1.0.0"
    assert "rules" not in v1.params() and v1.params()["version"] == "1.0.0"
    new = build("code_switch", "high", "fr", data_root, rules="v2")
    assert new.version == new.params()["version"] == "2.0.0" != v1.version
    assert new.params()["rules"] == "v2"
    assert all("==" in new.params()[k] for k in ("stopwords", "lemmas", "blocklist"))
    sentence = build("code_switch_sentence", "low", "fr", data_root, rules="v2")
    assert sentence.version == sentence.params()["version"] == "2.0.0"
    assert build("code_switch_sentence", "low", "fr", data_root).params()["version"] == "1.0.0"


def test_function_words_and_auxiliaries_are_never_switched(data_root: Path) -> None:
    """de "würde" became "ศักดิ์ศรี" (dignity) in v1; ru "того" (of that) became Togo."""
    for language, word in (("de", "würde"), ("ru", "того"), ("hi", "उन्होंने"), ("en", "would")):
        assert cs._candidates_v2(data_root, language, word) == ()
    for language in ("de", "ru", "en", "fr"):
        p = v2("high", language, data_root)
        ex = example(language)
        for (side, i), _ in switched(p, ex)["high"].items():
            text = (ex.premise, ex.hypothesis)[side]
            assert not cs._v2_protected(cs._lookup_key(p._spans(text)[i].text), language)


def test_a_proper_noun_is_never_a_pivot(data_root: Path) -> None:
    assert not cs._dominant_common_word(data_root, "togo")
    assert cs._dominant_common_word(data_root, "doctor")


def test_every_switch_is_round_trip_consistent(data_root: Path) -> None:
    """Each target translates back to a pivot that is among the source's first translations."""
    for language, key in (("fr", "médecin"), ("fr", "maison"), ("tr", "ev"), ("zh", "医生")):
        found = cs._candidates_v2(data_root, language, key)
        assert found
        pivots = cs._pivots_v2(data_root, language, key)
        assert pivots and set(pivots) <= set(cs._lexicons_v2(data_root, language)[1][key][:cs.MAX_PIVOTS])
        for target, word in found:
            if target != "en":
                back = cs._lexicons_v2(data_root, target)[1][word.lower()][:cs.ROUND_TRIP_TOP]
                assert set(back) & set(pivots), (target, word)


def test_translations_have_the_pivots_commonest_sense(data_root: Path) -> None:
    assert dict(cs._candidates_v2(data_root, "fr", "médecin"))["zh"] == "医生"
    assert dict(cs._candidates_v2(data_root, "en", "house"))["el"] == "σπίτι"  # not "χάουζ"
    assert cs._candidates_v2(data_root, "de", "liegt") == ()  # v1: "谎言", a lie


def test_inflected_forms_are_neither_sources_nor_targets(data_root: Path) -> None:
    assert cs._candidates_v2(data_root, "tr", "adınız") == ()
    assert cs._candidates_v2(data_root, "fr", "voulait") == ()
    for language, key in (("fr", "maison"), ("en", "doctor"), ("vi", "bệnh viện")):
        for target, word in cs._candidates_v2(data_root, language, key):
            assert cs._is_lemma(word, target), (target, word)


def test_vulgar_words_are_never_output(data_root: Path) -> None:
    """v1 gave Swahili "kutomba" for fr "connus" (through "know")."""
    assert cs._is_blocked("kutomba", "sw")
    muse_en = list(cs._lexicons(data_root, "fr")[0])[:400]
    for key in muse_en + ["know", "knew"]:
        for target, word in cs._candidates_v2(data_root, "en", key):
            assert not cs._is_blocked(word.lower(), target), (key, target, word)


def test_chinese_targets_are_simplified(data_root: Path) -> None:
    from opencc import OpenCC

    t2s = OpenCC("t2s").convert
    checked = 0
    for key in list(cs._lexicons(data_root, "fr")[0])[:400]:
        for target, word in cs._candidates_v2(data_root, "en", key):
            if target == "zh":
                assert t2s(word) == word and cs._is_gb2312(word), word
                checked += 1
    assert checked > 30


def test_thai_names_and_their_neighbours_stay(data_root: Path) -> None:
    """newmm cuts the made-up name ไตวาริโกะ into dictionary pieces; "ไต" (kidney) stays."""
    p = v2("high", "th", data_root)
    ex = example("th")
    out = p.perturb(ex, random.Random(0))
    assert out is not NOT_APPLICABLE
    assert out.premise.startswith("นายไตวาริโกะกินข้าว")
    spans = p._spans(ex.premise)
    for (side, i), _ in switched(p, ex)["high"].items():
        near = [s.text for s in (p._spans(ex.premise), p._spans(ex.hypothesis))[side][max(i - 1, 0):i + 2]]
        assert all(cs._in_dictionary(w, "th") for w in near)
    assert [s.text for s in spans][:4] == ["นาย", "ไต", "วาริ", "โกะ"]


def test_chinese_switches_whole_jieba_words(data_root: Path) -> None:
    p = v2("high", "zh", data_root)
    ex = example("zh")
    for (side, i), _ in switched(p, ex)["high"].items():
        span = p._spans((ex.premise, ex.hypothesis)[side])[i]
        assert cs._in_dictionary(span.text, "zh")


def test_vietnamese_words_are_switched_whole_never_by_syllable(data_root: Path) -> None:
    p = v2("high", "vi", data_root)
    ex = example("vi")
    assert [s.text for s in p._spans(ex.premise)][:2] == ["Bệnh viện", "ở"]
    choices = switched(p, ex)["high"]
    assert choices
    for (side, i), _ in choices.items():
        assert " " in p._spans((ex.premise, ex.hypothesis)[side])[i].text


def test_urdu_two_part_words_are_one_span(data_root: Path) -> None:
    p = v2("high", "ur", data_root)
    texts = [s.text for s in p._spans(SENTENCES["ur"][0])]
    assert "طالب علم" in texts and "طالب" not in texts
    assert dict(cs._candidates_v2(data_root, "ur", "طالب علم"))["fr"] == "élève"


def test_exact_outputs(data_root: Path) -> None:
    got = {sev: v2(sev, "fr", data_root).perturb(example("fr"), random.Random(0)) for sev in SEVERITIES}
    assert {s: (o.premise, o.hypothesis) for s, o in got.items()} == GOLDEN_FR


GOLDEN_FR = {  # low: one Swahili word; medium adds one; high adds the hypothesis's
    "low": ("Ma sœur voulait acheter la maison du daktari.", "Le médecin est dans le jardin."),
    "medium": ("Ma sœur voulait acheter la nyumba du daktari.", "Le médecin est dans le jardin."),
    "high": ("Ma sœur voulait acheter la nyumba du daktari.", "Le daktari est dans le jardin."),
}


def test_severities_nest_strictly(data_root: Path) -> None:
    """low ⊂ medium ⊂ high for every item; strictly whenever more words can be switched."""
    for language in SENTENCES:
        for n in range(20):
            p = v2("high", language, data_root)
            ex = example(language, f"id-{n}")
            c = switched(p, ex)
            sets = {s: set(c[s].items()) for s in SEVERITIES}
            assert sets["low"] <= sets["medium"] <= sets["high"], (language, n)
            slots = sum(len(p._slots(t, k, p._spans(t))) for k, t in enumerate((ex.premise, ex.hypothesis)))
            if sets["low"] and slots > len(sets["medium"]) and len({t for t, _ in c["high"].values()}) > 1:
                assert len(sets["high"]) > len(sets["medium"]), (language, n)
            for s in SEVERITIES:
                out = v2(s, language, data_root).perturb(ex, random.Random(s))
                assert (out is NOT_APPLICABLE) == (not sets[s])


def test_the_untouched_side_is_byte_identical(data_root: Path) -> None:
    decomposed = "Le me\u0301decin est la\u0300."  # not NFC: v1 normalised it
    ex = NLIExample("t2", "fr", decomposed, "Ma sœur voulait acheter la maison.", 0)
    for severity in SEVERITIES:
        out = v2(severity, "fr", data_root).perturb(ex, random.Random(1))
        assert out is not NOT_APPLICABLE
        assert out.premise == decomposed or out.hypothesis == ex.hypothesis


def test_v2_output_depends_on_its_own_input_only(data_root: Path) -> None:
    """Alone, in a shuffled batch, with any RNG: the same output (the ranking is the id's)."""
    items = [example(lang, f"x{k}") for k, lang in enumerate(SENTENCES)]
    for severity in SEVERITIES:
        first = {ex.id: repr(v2(severity, ex.language, data_root).perturb(ex, random.Random(0)))
                 for ex in items}
        again = {ex.id: repr(v2(severity, ex.language, data_root).perturb(ex, random.Random(9)))
                 for ex in reversed(items)}
        assert first == again


def test_sentence_v2_keeps_the_untouched_side_and_negation(data_root: Path) -> None:
    """The premise stays byte for byte; a chosen row agrees with the item on negation."""
    from harness.data.xnli import load_local  # test-only: attacks never import harness.data

    item = load_local(data_root / "xnli", "test", ["en"])["en"][0]
    decomposed = "Cafe\u0301 owners do not open on Sundays."
    for hypothesis in ("The owners never open on Sunday.", "The owners open every day."):
        ex = NLIExample(item.id, "en", decomposed, hypothesis, item.label)
        for seed in range(5):
            out = cs.build_sentence("medium", "en", data_root, rules="v2").perturb(ex, random.Random(seed))
            if out is NOT_APPLICABLE:
                continue
            assert out.premise == decomposed
            assert cs.has_negation(out.hypothesis, next(
                t for t in LANGUAGES if cs.parallel_rows(data_root, t)[item.id][1] == out.hypothesis)) \
                == cs.has_negation(hypothesis, "en")


# ---- v2.1: severities that strictly add switches ------------------------------------------------

def test_v21_is_selected_by_the_spec_and_word_level_only(data_root: Path) -> None:
    assert cs.unit_params({"rules": "v2.1"}, ["high"], ["de"]) == {("high", "de"): {"rules": "v2.1"}}
    assert FAMILY_PARAMS.load("code_switch_sentence") is cs.sentence_unit_params
    with pytest.raises(ValueError, match="v2.1"):
        cs.sentence_unit_params({"rules": "v2.1"}, ["low"], ["en"])
    with pytest.raises(KeyError, match="v2.1"):
        build("code_switch_sentence", "low", "fr", data_root, rules="v2.1")
    p = build("code_switch", "medium", "fr", data_root, rules="v2.1")
    assert isinstance(p, cs.WordCodeSwitchV21)
    assert p.params()["version"] == "2.1.0" and p.params()["rules"] == "v2.1"
    assert "more words there than at the severity below" in p.params()["nesting"]


def _xnli_items(data_root: Path, language: str, n: int) -> list[NLIExample]:
    from harness.data.xnli import load_local

    return load_local(data_root / "xnli", "test", [language])[language][:n]


@pytest.mark.parametrize("language", ["de", "vi", "zh"])
def test_v21_keeps_v2_text_and_drops_items_that_add_nothing(data_root: Path, language: str) -> None:
    """On real XNLI items: where v2.1 has an item its text is v2's; it is missing exactly where
    v2's text equals the severity below, so each severity adds switches to the one below."""
    items = _xnli_items(data_root, language, 120)
    v2_out = {s: [v2(s, language, data_root).perturb(ex, random.Random(0)) for ex in items] for s in SEVERITIES}
    new = {s: [build("code_switch", s, language, data_root, rules="v2.1").perturb(ex, random.Random(0))
               for ex in items] for s in SEVERITIES}
    dropped = 0
    for k, ex in enumerate(items):
        assert new["low"][k] == v2_out["low"][k]
        for level in (1, 2):
            sev, below = SEVERITIES[level], SEVERITIES[level - 1]
            same = v2_out[sev][k] is not NOT_APPLICABLE and v2_out[sev][k] == v2_out[below][k]
            if v2_out[sev][k] is NOT_APPLICABLE or same:
                assert new[sev][k] is NOT_APPLICABLE, (ex.id, sev)
                dropped += same
            else:
                assert new[sev][k] == v2_out[sev][k], (ex.id, sev)
                c = switched(v2(sev, language, data_root), ex)
                assert set(c[below].items()) < set(c[sev].items()), (ex.id, sev)
    assert dropped > 0  # real items where v2 repeated a severity exist in every language tried
