"""Code-switching perturbations on real XNLI rows and the real dictionaries (../shared/data).

Golden strings pin the algorithm, the dictionaries and the protected-word lists: a change to
any of them changes these strings and must bump `attacks.codeswitch.VERSION`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.core.hashing import sha256_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attacks import codeswitch as cs
from attacks.base import NOT_APPLICABLE, Perturbation, derive_rng
from attacks.text import words
from harness import LANGUAGES
from harness.core.examples import NLIExample

SEED = 13

needs_opencc = pytest.mark.skipif(
    not cs._zh_converter()[0].startswith("opencc"),
    reason="golden strings assume opencc-python-reimplemented (zh Traditional->Simplified)")


def xnli_example(root: Path, language: str, pair_id: str) -> NLIExample:
    premise, hypothesis, label = cs.parallel_rows(root, language)[pair_id]
    return NLIExample(pair_id, language, premise, hypothesis, label)


def perturb(root: Path, language: str, pair_id: str, severity: str = "medium",
            mode: str = "word") -> NLIExample:
    attack = cs.build(severity, language, root, mode=mode)
    out = attack.perturb(xnli_example(root, language, pair_id),
                         derive_rng(SEED, "code_switch", severity, language, pair_id))
    assert isinstance(out, NLIExample)
    return out


# The perturbed texts are pinned by hash, not written out: real XNLI rows stay out of the
# repository (a failing test prints the new text to compare by eye).
GOLDEN_SHA256 = {
    ('en', '77'): 'af1c0230c2e5a220f1149782e6cd084632dde5a42745c555d7e2352d7b72952f',
    ('fr', '1495'): '7f656ff150d3510fc059e98e7f87cc123dbeb25841515227c74bdeae1f594591',
    ('zh', '204'): '12de12882c59263b19ba5d87ef6b034ba306f5ab437a382abdef7bea85f691ce',
    ('th', '204'): 'e6d6d57a961ee40d4695a676271e661a838bf0ce831241068b37e3d3bb2cb77a',
    ('ar', '3736'): '7e169df2d454c9ada4e6696d0c6a43fb07627a3ed0cf7e9e26bf550a1c14adba',
    ('hi', '459'): '5860ec442591af200ffca90d729e46560fa08feb46c49af5b94744bb4763ee7d',
    ('sw', '1495'): '8a214ae9cd664068f8bdbf2ad5ff1bcdd7d21a353e0663044033621e64cd7234',
}


@needs_opencc
@pytest.mark.parametrize(("language", "pair_id"), sorted(GOLDEN_SHA256))
def test_golden_word_level(data_root: Path, language: str, pair_id: str) -> None:
    out = perturb(data_root, language, pair_id)
    assert sha256_text(out.premise + "\x1f" + out.hypothesis) == GOLDEN_SHA256[(language, pair_id)], (out.premise, out.hypothesis)
    assert out.id == pair_id and out.label == xnli_example(data_root, language, pair_id).label


def test_deterministic_and_rng_only(data_root: Path) -> None:
    """Same derived RNG, same output; built twice, caches warm or not."""
    first = perturb(data_root, "de", "204", "high")
    again = perturb(data_root, "de", "204", "high")
    assert first == again
    other = cs.build("high", "de", data_root).perturb(
        xnli_example(data_root, "de", "204"), random.Random(1))
    assert other != first


@pytest.mark.parametrize(("language", "text", "kept"), [
    ("en", "The 3 doctors did not visit 25 patients and never wrote reports.",
     ["3", "not", "25", "never"]),
    ("fr", "Les 3 médecins ne visitaient jamais 25 patients et ne rédigeaient pas de rapports.",
     ["3", "ne", "jamais", "25", "pas"]),
    ("zh", "三位医生没有拜访病人，也从不写报告。", ["三", "没有", "不"]),
    ("th", "หมอสามคนไม่ได้ไปเยี่ยมคนไข้และไม่เคยเขียนรายงาน", ["สาม", "ไม่ได้", "ไม่เคย"]),
    ("hi", "तीन डॉक्टरों ने मरीजों को नहीं देखा और कभी रिपोर्ट नहीं लिखी।", ["तीन", "नहीं", "कभी"]),
])
def test_negations_and_numbers_untouched(data_root: Path, language: str, text: str,
                                         kept: list[str]) -> None:
    attack = cs.build("high", language, data_root)
    example = NLIExample("x", language, text, text, 0)
    changed = 0
    for seed in range(12):
        out = attack.perturb(example, random.Random(seed))
        assert isinstance(out, NLIExample)
        changed += (out.premise, out.hypothesis) != (text, text)
        for word in kept:
            assert out.premise.count(word) == text.count(word), (word, out.premise)
            assert out.hypothesis.count(word) == text.count(word), (word, out.hypothesis)
    assert changed == 12


def test_protected_words_have_no_candidates(data_root: Path) -> None:
    for word, language in [("not", "en"), ("never", "en"), ("all", "en"), ("pas", "fr"),
                           ("不", "zh"), ("ไม่", "th"), ("نہیں", "ur"), ("42", "en")]:
        assert cs.translation_candidates(word, language, data_root) == []


def test_no_candidate_is_a_negation(data_root: Path) -> None:
    """A translation that is itself protected (e.g. a negation) would change the claim."""
    from attacks.protected import is_protected

    for word in ("refuse", "absent", "missing", "lack", "deny"):
        for target, translation in cs.translation_candidates(word, "en", data_root):
            assert not is_protected(translation, target), (word, target, translation)


def test_traditional_chinese_converted_or_dropped(data_root: Path) -> None:
    forward, inverse = cs._lexicons(data_root, "zh")
    entries = {w for values in forward.values() for w in values}
    assert entries and all(cs._is_gb2312(w) for w in entries)
    assert not any(ch in w for w in entries for ch in "實還國說話體")
    assert "国家" in forward["country"] and "國家" not in forward["country"]
    assert "country" in inverse["国家"]  # Simplified keys: XNLI zh words are found
    assert ("en", "state") in cs.translation_candidates("国家", "zh", data_root)
    assert cs.translation_candidates("國家", "zh", data_root) == []


def test_gb2312_fallback_drops_traditional() -> None:
    assert cs._is_gb2312("国家") and not cs._is_gb2312("國家")


def test_romanized_and_foreign_script_entries_dropped(data_root: Path) -> None:
    for language in ("ur", "ar", "hi", "ru", "el", "th"):
        forward, _ = cs._lexicons(data_root, language)
        assert all(cs.in_script(w, language) for ws in forward.values() for w in ws)
    urdu = cs._lexicons(data_root, "ur")[0]
    assert "imtehan" not in urdu.get("test", ())  # romanized entry in the raw file
    assert "bus" not in urdu.get("enough", ())
    assert ("ur", "imtehan") not in cs.translation_candidates("test", "en", data_root)


def test_in_script() -> None:
    assert cs.in_script("پیسہ", "ur") and not cs.in_script("imtehan", "ur")
    assert cs.in_script("हिंदी", "hi") and cs.in_script("l'eau", "fr")
    assert not cs.in_script("۔KB", "ur") and not cs.in_script("x1", "en")
    assert not cs.in_script("-a", "en") and not cs.in_script("", "en")


def test_no_identity_pairs(data_root: Path) -> None:
    for language in ("vi", "fr"):
        forward, inverse = cs._lexicons(data_root, language)
        assert not any(k in v for k, v in forward.items())
        assert not any(k in v for k, v in inverse.items())


def test_swahili_through_wordnet(data_root: Path) -> None:
    assert ("sw", "mbwa") in cs.translation_candidates("dog", "en", data_root)
    assert ("sw", "mbwa") in cs.translation_candidates("dogs", "en", data_root)  # base form
    assert ("en", "dog") in cs.translation_candidates("mbwa", "sw", data_root)


def test_candidates_order_is_xnli_language_order(data_root: Path) -> None:
    found = cs.translation_candidates("House", "en", data_root)
    order = [LANGUAGES.index(t) for t, _ in found]
    assert order == sorted(order) and len({t for t, _ in found}) >= 10
    assert found == cs.translation_candidates("house", "en", data_root)


def test_pivot_through_english(data_root: Path) -> None:
    found = cs.translation_candidates("maison", "fr", data_root)
    assert ("en", "house") in found and ("de", "haus") in found
    assert all(t != "fr" for t, _ in found)


@pytest.mark.parametrize("severity", ["low", "medium", "high"])
def test_mixes_at_most_n_languages(data_root: Path, severity: str) -> None:
    attack = cs.build(severity, "en", data_root)
    example = xnli_example(data_root, "en", "204")
    original = words(example.premise, "en") + words(example.hypothesis, "en")
    for seed in range(8):
        out = attack.perturb(example, random.Random(seed))
        assert isinstance(out, NLIExample)
        switched = [w.text for w in words(out.premise, "en") + words(out.hypothesis, "en")]
        assert 1 <= len([w for w in switched if w not in {o.text for o in original}])
    assert attack.params()["max_languages"] == cs.MAX_LANGUAGES[severity]


def test_case_kept() -> None:
    assert cs.match_case("House", "maison", "fr") == "Maison"
    assert cs.match_case("NASA", "nasa", "ru") == "NASA"
    assert cs.match_case("House", "房子", "zh") == "房子"


def test_spaces_around_spaced_words_in_unspaced_text() -> None:
    text = "我爱猫和狗"
    spans = words(text, "zh")
    index = {s.text: i for i, s in enumerate(spans)}
    out = cs._render(text, spans, {index["猫"]: ("en", "cat"), index["和"]: ("fr", "et")}, "zh")
    assert out == "我爱 cat et 狗"
    out = cs._render(text, spans, {index["猫"]: ("th", "แมว")}, "zh")
    assert out == "我爱แมว和狗"


def test_not_applicable_without_eligible_words(data_root: Path) -> None:
    attack = cs.build("medium", "en", data_root)
    example = NLIExample("x", "en", "It is not that.", "42 !", 1)
    assert attack.perturb(example, random.Random(0)) is NOT_APPLICABLE


@pytest.mark.parametrize("severity", ["low", "medium", "high"])
def test_sentence_level_uses_parallel_rows(data_root: Path, severity: str) -> None:
    out = perturb(data_root, "fr", "459", severity, mode="sentence")
    original = xnli_example(data_root, "fr", "459")
    rows = {lang: cs.parallel_rows(data_root, lang)["459"] for lang in LANGUAGES}
    hyp_langs = [lang for lang, row in rows.items() if row[1] == out.hypothesis]
    prem_langs = [lang for lang, row in rows.items() if row[0] == out.premise]
    assert hyp_langs and "fr" not in hyp_langs
    if severity == "low":
        assert hyp_langs == ["en"] and out.premise == original.premise
    elif severity == "medium":
        assert out.premise == original.premise
    else:
        assert prem_langs and "fr" not in prem_langs and not set(prem_langs) & set(hyp_langs)
    assert out.label == original.label


def test_sentence_level_english_low_goes_to_european(data_root: Path) -> None:
    attack = cs.build_sentence("low", "en", data_root)
    assert attack.targets == ("fr", "es", "de")
    out = perturb(data_root, "en", "4", "low", mode="sentence")
    assert out.hypothesis in {cs.parallel_rows(data_root, t)["4"][1] for t in attack.targets}


def test_sentence_level_unknown_id_not_applicable(data_root: Path) -> None:
    attack = cs.build_sentence("medium", "de", data_root)
    example = NLIExample("no-such-id", "de", "a", "b", 0)
    assert attack.perturb(example, random.Random(0)) is NOT_APPLICABLE


@pytest.mark.parametrize("mode", ["word", "sentence"])
def test_protocol_params_and_resources(data_root: Path, mode: str) -> None:
    from attacks.registry import build

    attack = cs.build("high", "zh", data_root, mode=mode)
    assert isinstance(attack, Perturbation)
    assert attack.family == {"word": "code_switch", "sentence": "code_switch_sentence"}[mode]
    assert attack.params()["mode"] == mode
    json.dumps(attack.params(), sort_keys=True)
    assert all(Path(p).is_file() for p in attack.resource_files().values())
    assert isinstance(build("code_switch", "high", "zh", data_root), cs.WordCodeSwitch)
    assert isinstance(build("code_switch_sentence", "high", "zh", data_root), cs.SentenceCodeSwitch)


def test_unknown_names_rejected(data_root: Path) -> None:
    with pytest.raises(KeyError):
        cs.build("extreme", "en", data_root)
    with pytest.raises(KeyError):
        cs.build("low", "xx", data_root)
    with pytest.raises(KeyError):
        cs.build("low", "en", data_root, mode="char")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60), language=st.sampled_from(["en", "zh", "th", "ar", "sw"]),
       seed=st.integers(0, 2**32))
def test_random_unicode_never_crashes(data_root: Path, text: str, language: str,
                                      seed: int) -> None:
    attack = cs.build("high", language, data_root)
    out = attack.perturb(NLIExample("x", language, text, text[::-1], 0), random.Random(seed))
    assert out is NOT_APPLICABLE or isinstance(out, NLIExample)
