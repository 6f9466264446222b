"""char_noise rules v2 (`attacks.charnoise`, section "rules v2"): one test per audit fix, on sentences and words
written for these tests (no XNLI text), plus the v1 contract: without the spec parameter
nothing changes.  Goldens pin v2's exact output; any change to it needs `charnoise.VERSION_V2`
bumped.  Letters from another script than the word's are written as \\u escapes.
"""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import pytest

from attacks import charnoise, lexicons
from attacks.base import NOT_APPLICABLE, derive_rng
from attacks.charnoise import CharNoise, build, candidate_edits, unit_params
from attacks.registry import FAMILY_PARAMS
from attacks.registry import build as registry_build
from attacks.text import graphemes
from harness import LANGUAGES
from harness.core.examples import NLIExample
from test_charnoise import SYNTHETIC

SEED = 13

GOLDEN_V2 = {
    "en": ("The commuttee apporved the new library bduget after a oong disculssion.",
           "Ghe commuttee apporved."),
    "fr": ("Le comitoé a approuvé le budegt de la nou\u03bdelle bibliothèue apèrès une longue discussion.",
           "Le comitoé a."),
    "es": ("El omité apr\u043ebó el presupuesto de la uneva bibliteca después de una larga discusión.",
           "El omité apr\u043ebó."),
    "de": ("Der Auwschuss gdnehmigte nacoh langer Diskussion dqs Bugdet der neuen Bribliothek.",
           "Der Auwschuss gdnehmigte."),
    "el": ("Η επθτροπή ενεκρινε τον προϋπολλγισμό ρης νέας βιβλοιθήκης μετά από μακδά συζήτησυ.",
           "Η επθτροπή ενεκρινε."),
    "bg": ("Коемисията одобрй бюджтета на онвата библиотека сле дълга дсикусия.",
           "Коемисията одобрй бюджтета."),
    "ru": ("Копитет дообрил люджет новой библиотеки п\u03bfсле долглго обсуждения.",
           "Копитет дообрил люджет."),
    "tr": ("Komire ızun bir tartışmanın arından yeni kütüphanenin bütcesini onaladı.",
           "Komire ızun bir."),
    "ar": ("وافقت اللحنة على ميزانية المكتبة غلجديدة بجعد مقاش طويئل.",
           "وافقت اللحنة لعى."),
    "vi": ("Ủy bsn đã pêh dyuệt ngân sách của tuư viện mới sau một cuộc tbảo luan dàu.",
           "Ủy bsn đã."),
    "th": ("ณะกรรมการอนุมัติงบประมาณของห้องสมุดม่หลัจงากการขภิอปรายที่ยาวนาน",
           "ณะกรรมการอน"),
    "zh": ("委员员会经经过长式间讨讨论后批准了新图书馆的鱼算。",
           "委员员会经经过长式间讨讨论后批"),
    "hi": ("लंबी चर्चा के बाद समि ने नए पुस्तकालय के बजटह को मंज़ूरी दी।",
           "लंबी चर्चा के."),
    "sw": ("Keamati iliidhinisha bjaeti ya maktanba mpya baamda ya majdiliano mraefu.",
           "Keamati iliidhinisha bjaeti."),
    "ur": ("طوی بحچ کے بعد خمیٹی نے نئی لائبریرصی کے بجٹ کی منظور\u064a دی۔",
           "طوی بحچ کے."),
}
"""Synthetic premise (test_charnoise's) and a hypothesis sharing its first words -> v2 at
"high".  The shared words (committee, Komitet ...) carry the same edit on both sides."""


def _hypothesis(source: str, language: str) -> str:
    return source[:12] if language in ("th", "zh") else " ".join(source.split()[:3]) + "."


def _v2(premise: str, hypothesis: str, language: str, rate: float, seed: int):  # type: ignore[no-untyped-def]
    return charnoise.v2_noise_pair_edits(premise, hypothesis, language, rate,
                                         derive_rng(seed, "char_noise", "high", language, "t"))


# --------------------------------------------------------------------------- the contract

@pytest.mark.parametrize("language", LANGUAGES)
def test_golden_v2(language: str) -> None:
    source = SYNTHETIC[language][0]
    example = NLIExample(id="synthetic", language=language, premise=source,
                         hypothesis=_hypothesis(source, language), label=0)
    out = build("high", language, Path("."), rules="v2").perturb(
        example, derive_rng(SEED, "char_noise", "high", language, "synthetic"))
    assert (out.premise, out.hypothesis) == GOLDEN_V2[language]


def test_v1_is_untouched_without_the_parameter() -> None:
    v1 = CharNoise("high", "th")
    assert build("high", "th", Path(".")) == v1 and v1.rules == "v1"
    assert v1.version == charnoise.VERSION and "rules" not in v1.params()
    assert unit_params({}, ["low"], ["en"]) == {("low", "en"): {}}
    assert unit_params({"rules": "v1"}, ["low", "high"], ["en", "th"]) == {
        (s, lang): {} for s in ("low", "high") for lang in ("en", "th")}


def test_v2_is_a_spec_parameter_with_its_own_version() -> None:
    cells = FAMILY_PARAMS.load("char_noise")({"rules": "v2"}, ["low", "high"], ["en", "zh"])
    assert cells == {(s, lang): {"rules": "v2"} for s in ("low", "high") for lang in ("en", "zh")}
    p = registry_build("char_noise", "low", "zh", Path("."), **cells[("low", "zh")])
    params = p.params()
    assert p.version == params["version"] == "2.0.0" != charnoise.VERSION
    assert params["rules"] == "v2" and params["homoglyphs_per_item"] == 1
    assert params["lexicon"].startswith("jieba==")
    assert any(pkg.startswith("pypinyin==0.55.0") for pkg in params["zh_input"]["packages"])
    assert CharNoise("low", "sw", rules="v2").params()["lexicon"].startswith("hunspell-sw=")
    assert CharNoise("low", "ar", rules="v2").params()["lexicon"] == "wordfreq==3.1.1 zipf>=2.0"


def test_unknown_parameters_and_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="rule"):
        unit_params({"rule": "v2"}, ["low"], ["en"])
    with pytest.raises(ValueError, match="v3"):
        unit_params({"rules": "v3"}, ["low"], ["en"])
    with pytest.raises(KeyError, match="v3"):
        CharNoise("low", "en", rules="v3")


def test_a_spec_selects_v2(tmp_path: Path) -> None:
    from harness.data.spec import parse_spec

    raw = {"name": "cn-test", "version": "0", "seed": 7, "split": "test", "languages": ["en", "th"],
           "sizes": {"lite": {"per_language": 6, "stratify": ["label"]}},
           "families": {"char_noise": {"severities": ["low"], "languages": "all", "similarity": None,
                                       "params": {"rules": "v2"}}}, "resources": []}
    family = parse_spec(raw).families["char_noise"]
    assert family.unit_kwargs == {("low", "en"): {"rules": "v2"}, ("low", "th"): {"rules": "v2"}}


# --------------------------------------------------------------------------- one test per fix

def test_no_typo_makes_another_real_word() -> None:
    """used -> sued, fact -> act (en), nous -> nos (fr), kamba -> kama (sw): v1 offers them."""
    for word, language, real in [("used", "en", "sued"), ("fact", "en", "act"), ("nous", "fr", "nos"),
                                 ("kamba", "sw", "kama"), ("เซ้า", "th", "เช้า")]:
        assert real in candidate_edits(word, language)
        edits = [c for op in charnoise.OPERATIONS for c in charnoise.v2_operation_candidates(word, language, op)]
        assert real not in edits and edits
        assert not any(lexicons.is_known_word(c, language) for c in edits)


def test_real_words_are_refused_over_many_seeded_edits() -> None:
    text = {"en": "The farmer said that the bridge would open before winter.",
            "ar": "قال المزارع إن الجسر سيفتح قبل الشتاء.",
            "ur": "کسان نے کہا کہ پل سردیوں سے پہلے کھل جائے گا۔"}
    for language, sentence in text.items():
        for seed in range(60):
            _, edits = _v2(sentence, sentence, language, 0.5, seed)
            assert not any(lexicons.is_known_word(new, language) for side in edits for _, new in side)


def test_a_name_in_both_sentences_gets_one_edit() -> None:
    premise = "Yesterday Hargreaves painted the old barn near Milbrook."
    hypothesis = "Hargreaves painted a barn in Milbrook."
    assert _v2(premise, hypothesis, "en", 0.5, 3)[0] == (
        "Yesterday Hargreves panted the olf barn near Nilbrook.", "Hargreves panted a barn in Nilbrook.")
    edited = 0
    for seed in range(200):
        (p, h), _ = _v2(premise, hypothesis, "en", 0.25, seed)
        p_words, h_words = p.rstrip(".").split(), h.rstrip(".").split()
        assert p_words[1] == h_words[0] and p_words[7] == h_words[5], seed  # Hargreaves, Milbrook
        edited += p_words[1] != "Hargreaves"
    assert edited > 20


def test_the_same_word_gets_the_same_edit_wherever_it_is() -> None:
    """The edit's RNG comes from the word, not its position: both copies of a word that is
    edited twice read alike."""
    premise = "Ferdinand met Ferdinand's cousin; Ferdinand laughed."
    for seed in range(100):
        (p, _), (edits, _) = _v2(premise, "A cousin laughed.", "en", 0.5, seed)
        assert len({new for old, new in edits if old == "Ferdinand"}) <= 1


def _homoglyphs(old: str, new: str) -> int:
    return sum(1 for a, b in zip(old, new) if a != b and b in charnoise.HOMOGLYPHS.get(a, ""))


@pytest.mark.parametrize("language, premise, hypothesis", [
    ("ar", "يكتب الكاتب كتابي في مكتبي الكبير كل يوم", "الكاتب يكتب كثيرا في المكتبة"),
    ("ur", "یہ کتاب میری ہے اور یہ کہانی بھی میری ہے", "کہانی میری ہے"),
])
def test_at_most_one_homoglyph_per_item(language: str, premise: str, hypothesis: str) -> None:
    """Sentences full of ي/ی and ك/ک (each with a twin): never two words with a twin in one
    item (a word of both sides carries its one edit on both)."""
    with_one = 0
    for seed in range(300):
        _, edits = _v2(premise, hypothesis, language, 0.5, seed)
        count = sum(_homoglyphs(old, new) for old, new in set(edits[0] + edits[1]))
        assert count <= 1
        with_one += count
    assert 0 < with_one < 300 * 0.5


def test_thai_leading_vowel_never_leaves_its_consonant() -> None:
    """และ -> แะ and เขา -> ขเา (v1) are gone; over 2,000 seeded edits of words with leading
    vowels, every leading vowel is followed by a consonant, and the consonant that followed it
    is either still there or replaced by another consonant (a substitution)."""
    assert "แะ" in candidate_edits("และ", "th") and "ขเา" in candidate_edits("เขา", "th")
    v2_edits = {c for op in charnoise.OPERATIONS for w in ("และ", "เขา")
                for c in charnoise.v2_operation_candidates(w, "th", op)}
    assert not {"แะ", "ขเา", "แล", "ะแล"} & v2_edits
    words = ["เขา", "และ", "เปลี่ยน", "ใหญ่", "โรงเรียน", "ไม้กวาด", "เมือง", "แม่น้ำ", "เด็กเล็ก", "ไกลออกไป"]
    rng = random.Random(0)
    for n in range(2000):
        word = words[n % len(words)]
        new, _ = charnoise.v2_noise_word(word, "th", rng)
        assert charnoise.thai_well_formed(new), (word, new)


_HINDI = ["पुस्तकालय", "क्षत्रिय", "स्त्री", "मंज़ूरी", "चर्चा", "समिति", "ज़िंदगी", "प्रधानमंत्री",
          "विद्यार्थी", "हिंदुस्तान", "कृष्ण", "शक्ति", "उन्होंने", "दृष्टि", "ख़ुशी", "आँगन", "ऑफ़िस"]


def test_v1_could_leave_a_virama_dangling() -> None:
    """v1 classes the virama with the vowel signs, so स्त्री -> स्त्र् and ज़िंदगी -> ज़्ंदगी."""
    assert "स्त्र्" in candidate_edits("स्त्री", "hi") and "ज़्ंदगी" in candidate_edits("ज़िंदगी", "hi")
    v2_edits = {c for op in charnoise.OPERATIONS for c in charnoise.v2_operation_candidates("ज़िंदगी", "hi", op)}
    assert v2_edits and "ज़्ंदगी" not in v2_edits


def test_devanagari_marks_are_never_orphaned_or_doubled() -> None:
    """2,000 seeded v2 edits of words with conjuncts, nukta, matras and nasal signs: every
    result is well-formed, no cluster starts with a mark, no mark is doubled."""
    rng = random.Random(1)
    for n in range(2000):
        word = _HINDI[n % len(_HINDI)]
        new, _ = charnoise.v2_noise_word(word, "hi", rng)
        assert charnoise.devanagari_well_formed(new), (word, new)
        assert not any(unicodedata.category(g[0]).startswith("M") for g in graphemes(new))
        assert not any(a == b and unicodedata.category(a).startswith("M") for a, b in zip(new, new[1:]))


def test_chinese_slips_are_same_pinyin_and_never_drop_a_character() -> None:
    """德国 -> 国 and 界定 -> 界 (v1 deletions) are gone; a substitution keeps the word's
    toneless reading of the character (重 in 重新 is chong)."""
    from pypinyin import lazy_pinyin, pinyin, Style

    assert "国" in candidate_edits("德国", "zh") and "界" in candidate_edits("界定", "zh")
    assert charnoise.v2_available_operations("德国", "zh") == ("substitute", "insert")
    assert lexicons.zh_homophones("重新", 0)[0] == "冲" and lexicons.zh_homophones("重要", 0)[0] == "中"
    assert lexicons.zh_homophones("长时间", 0) == ()  # pypinyin reads it zhang: not sure, not used
    rng = random.Random(2)
    for n in range(1000):
        word = ["德国", "界定", "重新", "银行", "学习", "讨论", "图书馆", "预算"][n % 8]
        new, op = charnoise.v2_noise_word(word, "zh", rng)
        assert len(new) >= len(word) and not lexicons.is_known_word(new, "zh")
        if op == "substitute":
            i = next(k for k in range(len(word)) if word[k] != new[k])
            reading = pinyin(new[i], style=Style.NORMAL)[0][0]
            assert reading == lazy_pinyin(word)[i], (word, new)


def test_arabic_edits_never_split_a_word_or_misplace_a_final_letter() -> None:
    """A non-joining letter (ا د ر و) inserted or substituted mid-word splits the word; ة is
    only ever final; tatweel and ZWNJ keep their neighbours."""
    word = "مكتبتها"
    assert any(charnoise.pieces(c) > charnoise.pieces(word) for c in candidate_edits(word, "ar"))
    for language, words in {"ar": ["مكتبتها", "سيكتبون", "طبيعة", "كـتاب"],
                            "ur": ["مکتبہ", "کہانیاں", "دیکھنے", "می\u200cخواهم"]}.items():
        for w in words:
            for op in charnoise.OPERATIONS:
                for c in charnoise.v2_operation_candidates(w, language, op):
                    assert charnoise.pieces(c) <= charnoise.pieces(w), (w, c)
                    assert charnoise.arabic_well_formed(c, w, language), (w, c)
    assert not charnoise.arabic_well_formed("طبةيع", "طبيعة", "ar")


def test_acronyms_are_not_edited() -> None:
    assert charnoise.is_eligible("CIA", "en") and not charnoise.v2_is_eligible("CIA", "en")
    assert not charnoise.v2_is_eligible("HMOs", "el") and charnoise.v2_is_eligible("Fox", "el")
    out = CharNoise("high", "en", rules="v2").perturb(
        NLIExample(id="1", language="en", premise="CIA, NASA, UNESCO.", hypothesis="NASA", label=0),
        random.Random(0))
    assert out is NOT_APPLICABLE


def test_v2_output_depends_on_its_own_input_only(data_root: Path) -> None:
    """As tests/test_reproducibility.py checks every family: alone, shuffled, repeated."""
    from harness.data.xnli import load_local

    for language in ("en", "th", "zh", "ar", "hi", "sw"):
        items = load_local(data_root / "xnli", "test", [language])[language][:10]
        results = []
        for order in (list(range(10)), [7, 2, 9, 0, 5, 1, 8, 3, 6, 4]):
            p = registry_build("char_noise", "high", language, data_root, rules="v2")
            batch = [items[i] for i in order]
            results.append({ex.id: repr(p.perturb(ex, derive_rng(1, "char_noise", "high", language, ex.id)))
                            for ex in batch})
        alone = {ex.id: repr(CharNoise("high", language, rules="v2").perturb(
            ex, derive_rng(1, "char_noise", "high", language, ex.id))) for ex in items[:4]}
        assert results[0] == results[1] and alone == {k: results[0][k] for k in alone}
