"""Character noise: golden outputs, script safety properties, keyboard tables.

The golden outputs pin the algorithm: if one changes, `attacks.charnoise.VERSION` must be
bumped and the goldens regenerated (and eyeballed).  Synthetic sentences (written for this
test) are pinned as whole strings.  Real XNLI rows are pinned by their edits and a hash of
the full output, so the test file holds no copy of the (CC BY-NC) test set.  Letters from
another script than the word's (homoglyphs) are written as \\u escapes so they are visible.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import unicodedata
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attacks import charnoise
from attacks.base import NOT_APPLICABLE, Perturbation, derive_rng
from attacks.charnoise import (
    OPERATIONS, RATES, CharNoise, build, candidate_edits, is_eligible, noise_text,
    noise_text_edits, noise_word,
)
from attacks.text import graphemes
from harness import LANGUAGES
from harness.core.examples import NLIExample

SEED = 13

SYNTHETIC = {
    "en": ("The committee approved the new library budget after a long discussion.",
           "The clmmittee appr\u03bfved teh new library budgte after a lpng discussion."),
    "fr": ("Le comité a approuvé le budget de la nouvelle bibliothèque après une longue discussion.",
           "Le comité a appouvé le budet de la nouvelle bibliothèqye après une longue discussino."),
    "es": ("El comité aprobó el presupuesto de la nueva biblioteca después de una larga discusión.",
           "El comitd aprobó el presupuesto de la nueva bilioteca después de una l\u0430rga discusixón."),
    "de": ("Der Ausschuss genehmigte nach langer Diskussion das Budget der neuen Bibliothek.",
           "Der Ausshcuss genehmige nch langer Diskzssion das Budget der neu\u0435n Bkbliothek."),
    "el": ("Η επιτροπή ενέκρινε τον προϋπολογισμό της νέας βιβλιοθήκης μετά από μακρά συζήτηση.",
           "Η επιτροπή ενεκρινε τον προϋπολογισμό τνς νέας βιβλιοθήκηςα μετά αόπ ακρά συζήτησ."),
    "bg": ("Комисията одобри бюджета на новата библиотека след дълга дискусия.",
           "Комисията одобри юбджета на нвоата библиотека слец дълг дискусия."),
    "ru": ("Комитет одобрил бюджет новой библиотеки после долгого обсуждения.",
           "\u004bомитет оодбрил ббджет новой библиотеки после доогого обсуждения."),
    "tr": ("Komite uzun bir tartışmanın ardından yeni kütüphanenin bütçesini onayladı.",
           "Komites uzun bir tartışmanın ardndan yeni kütüphanenin bütçeaini onaylajdı."),
    "ar": ("وافقت اللجنة على ميزانية المكتبة الجديدة بعد نقاش طويل.",
           "وافقت اللجنة على ميزانةي المكنبة الجيددة بعدي قاش طويل."),
    "vi": ("Ủy ban đã phê duyệt ngân sách của thư viện mới sau một cuộc thảo luận dài.",
           "Ủy b\u0430n đã ph duyệty gân sách của thu viện mới sau một cuộc thso luận dầi."),
    "th": ("คณะกรรมการอนุมัติงบประมาณของห้องสมุดใหม่หลังจากการอภิปรายที่ยาวนาน",
           "คษะกรรมการอนุมํติงบประมาณของห้องสพมุดหม่หลังจากกราอภิปรายที่ยาวนาน"),
    "zh": ("委员会经过长时间讨论后批准了新图书馆的预算。",
           "委员会经过长时问讨论后准批了新图馆书的预预算。"),
    "hi": ("लंबी चर्चा के बाद समिति ने नए पुस्तकालय के बजट को मंज़ूरी दी।",
           "लंबी चर्चा के बाद सतिमि ने नए पुस्तकालय के बजटध को मंज़ूरी दी।"),
    "sw": ("Kamati iliidhinisha bajeti ya maktaba mpya baada ya majadiliano marefu.",
           "Kamati iliidhinisha bajeti ya m\u0430ktaba mpya aada ya majadiljano marrfu."),
    "ur": ("طویل بحث کے بعد کمیٹی نے نئی لائبریری کے بجٹ کی منظوری دی۔",
           "طویقل بحث کے بعد کمٹی نے نئی لائبرری کے بجٹ کی منہظوری دی۔"),
}

"""Synthetic sentence per language -> its output at severity "high" (whole strings)."""

XNLI_GOLDEN = [
    ("en", "medium", "176",
     [("said", "sad"), ("place", "placw")],
     [("for", "flr"), ("housing", "housinb")],
     "d07467ce524d67ae"),
    ("fr", "medium", "176",
     [("payons", "paynos"), ("que", "qur"), ("restiez", "resti\u0435z")],
     [("Ils", "Ols"), ("paient", "paieng")],
     "d36b7754c907f347"),
    ("es", "medium", "176",
     [("pagando", "pag\u0430ndo"), ("lugar", "lugarx")],
     [("pagando", "pagzndo"), ("para", "pada")],
     "f67f33deaffb0db7"),
    ("de", "medium", "176",
     [("Sie", "Ske"), ("einen", "eknen")],
     [("mich", "ich"), ("Unterkunft", "Umterkunft")],
     "2fc20511cd7b934e"),
    ("el", "medium", "176",
     [("Είπαν", "Ειπαν"), ("μείνετε", "μεινετε")],
     [("για", "φια"), ("εμένα", "εένα")],
     "40653b705fd37210"),
    ("bg", "medium", "176",
     [("място", "мядто")],
     [("братята", "браттяа")],
     "9b326fc37f50b636"),
    ("ru", "medium", "176",
     [("Они", "Он"), ("платим", "пшатим")],
     [("Они", "Онр"), ("моих", "аоих")],
     "60cab7adc1589dbb"),
    ("tr", "medium", "176",
     [("dediler", "ddeiler")],
     [("ödüyorlar", "ödüyırlar")],
     "d8206b02c70e0c13"),
    ("ar", "medium", "176",
     [("قالوا", "قالواغ"), ("أجلك", "أجفك")],
     [("السكن", "السكة")],
     "d90b89faa05d17a3"),
    ("vi", "medium", "176",
     [("tôi", "ti"), ("bạn", "bn")],
     [("trả", "tr"), ("nhà", "hhà"), ("cho", "chl")],
     "f067ffbfb690d025"),
    ("th", "medium", "176",
     [("กว่า", "กย่า"), ("เรา", "เตา")],
     [("พวกเขา", "พรกเขา"), ("จ่าย", "จ่าญ")],
     "b20ca1052e8ecf06"),
    ("zh", "medium", "176",
     [("地方", "得方"), ("停留", "留停")],
     [("兄弟姐妹", "兄姐妹")],
     "75d90028be9e6c03"),
    ("hi", "medium", "176",
     [("आपके", "आप")],
     [("आवास", "आवा")],
     "9c20e49b080cf190"),
    ("sw", "medium", "176",
     [("mahali", "mahail")],
     [("Wao", "Wuao"), ("wanalipa", "wanqlipa")],
     "6b12587da0f9552e"),
    ("ur", "medium", "176",
     [("ادا", "اشا"), ("ہیں", "ہیںص")],
     [("میرے", "جیرے"), ("بھائی", "بھائےی"), ("ہیں", "ہءں")],
     "11e6c26f492ace4e"),
    ("en", "high", "11",
     [("told", "yold"), ("that", "hat"), ("that", "th\u0430t"), ("would", "woulx"), ("called", "c\u0430lled"), ("end", "eind")],
     [("was", "eas"), ("called", "callwd"), ("for", "ford"), ("meet", "emet")],
     "b1df31743ca114a9"),
    ("fr", "high", "11",
     [("m'ont", "m'ojt"), ("fin", "tin"), ("pour", "pou"), ("que", "qye"), ("rencontre", "renc\u03bfntre")],
     [("gars", "g\u0430rs"), ("avait", "vait"), ("été", "téé"), ("pour", "poru")],
     "72751a02fcc82b83"),
    ("ar", "high", "11",
     [("إيه", "إیه"), ("أنه", "أوه"), ("قبل", "قبب"), ("النهاية", "انلهاية"), ("سيقابلني", "ئيقابلني")],
     [("أخبروني", "أخيروني"), ("سيقومون", "ستيقومون"), ("بإرسال", "بإؤسال"), ("لأقابله", "لأقابفه")],
     "df8cbe3b727cc338"),
    ("hi", "high", "11",
     [("उन्होंने", "उन्हेंने"), ("मीटिंग", "मूटिंग")],
     [("bola", "bolq"), ("tha", "th"), ("liye", "liey"), ("bulaya", "bilaya"), ("jayega", "jayerga")],
     "4831da75f0b917ff"),
    ("th", "high", "11",
     [("บอก", "วอก"), ("เขา", "เยา"), ("เข้ามา", "ข้ามา")],
     [("เขา", "เขดา"), ("เพื่อ", "พื่เอ")],
     "a2ba8747a8ab837c"),
    ("zh", "high", "11",
     [("告诉", "告诉诉"), ("被叫", "叫被"), ("那里", "里那")],
     [("告知", "知告"), ("进来", "进进来")],
     "b1e6cac9c0d519dc"),
    ("ru", "high", "11",
     [("Они", "Лни"), ("сказали", "сакзали"), ("вызовут", "вызоут"), ("чтобы", "чтоб"), ("встретиться", "встетиться")],
     [("сказали", "сказалт"), ("что", "чжто"), ("позовут", "пгзовут"), ("мной", "мноэй")],
     "6225308a0f090b15"),
    ("el", "high", "11",
     [("Μου", "\u004dου"), ("έπρεπε", "έπερπε"), ("καλέσω", "κλαέσω"), ("στο", "σο"), ("τέλος", "έτλος"), ("συναντηθούμε", "συναντηθοημε")],
     [("πως", "πωος"), ("έναν", "ένα\u0076"), ("τύπο", "τπύο"), ("για", "γοα"), ("συναντήσω", "συνζντήσω")],
     "e8e557c143c51e0d"),
]
"""(language, severity, pairID, premise edits, hypothesis edits, sha256[:16] of output)."""


def _rng(severity: str, language: str, item: str):  # type: ignore[no-untyped-def]
    return derive_rng(SEED, "char_noise", severity, language, item)


def _xnli_row(data_root: Path, language: str, pair_id: str) -> list[str]:
    with gzip.open(data_root / "xnli" / f"test-{language}.tsv.gz", "rt", encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[3] == pair_id:
                return fields
    raise AssertionError(f"pairID {pair_id} not in test-{language}")


# --------------------------------------------------------------------------- goldens

@pytest.mark.parametrize("language", LANGUAGES)
def test_golden_synthetic(language: str) -> None:
    source, expected = SYNTHETIC[language]
    rng = _rng("high", language, "synthetic")
    assert noise_text(source, language, RATES["high"], rng) == expected


@pytest.mark.parametrize("golden", XNLI_GOLDEN, ids=lambda g: f"{g[0]}-{g[1]}-{g[2]}")
def test_golden_xnli(golden: tuple, data_root: Path) -> None:  # type: ignore[type-arg]
    language, severity, pair_id, premise_edits, hypothesis_edits, digest = golden
    row = _xnli_row(data_root, language, pair_id)
    rng = _rng(severity, language, pair_id)
    premise, p_edits = noise_text_edits(row[0], language, RATES[severity], rng)
    hypothesis, h_edits = noise_text_edits(row[1], language, RATES[severity], rng)
    assert (p_edits, h_edits) == (premise_edits, hypothesis_edits)
    assert hashlib.sha256(f"{premise}\t{hypothesis}".encode()).hexdigest()[:16] == digest

    example = NLIExample(id=pair_id, language=language, premise=row[0], hypothesis=row[1],
                         label=0, genre=row[4])
    out = build(severity, language, data_root).perturb(example, _rng(severity, language,
                                                                     pair_id))
    assert isinstance(out, NLIExample)
    assert (out.premise, out.hypothesis) == (premise, hypothesis)
    assert (out.id, out.label, out.genre) == (example.id, example.label, example.genre)


# --------------------------------------------------------------------------- the perturbation

def test_perturbation_record(data_root: Path) -> None:
    p = build("medium", "th", data_root)
    assert isinstance(p, Perturbation)
    assert (p.name, p.family, p.version, p.severity) == ("char_noise", "char_noise",
                                                         charnoise.VERSION, "medium")
    assert p.languages == frozenset(LANGUAGES)
    params = p.params()
    assert json.loads(json.dumps(params, sort_keys=True)) == params
    assert params["layout"] == "thai-kedmanee" and params["rate"] == 0.25
    assert p.resource_files() == {}
    with pytest.raises(FrozenInstanceError):
        p.severity = "high"  # type: ignore[misc]


def test_registry_builds_it(data_root: Path) -> None:
    from attacks.registry import build as registry_build

    p = registry_build("char_noise", "low", "fr", data_root)
    assert isinstance(p, CharNoise) and p.params()["layout"] == "azerty-fr"


def test_tables_are_pinned_per_language() -> None:
    digests = {lang: CharNoise("low", lang).params()["tables_sha256"] for lang in LANGUAGES}
    assert digests["en"] == digests["sw"] and len(set(digests.values())) == 14


def test_segmenter_version_is_a_parameter() -> None:
    assert CharNoise("low", "zh").params()["segmenter"].startswith("jieba==")
    assert CharNoise("low", "th").params()["segmenter"].startswith("pythainlp==")
    assert CharNoise("low", "ru").params()["segmenter"] is None


def test_an_example_of_another_language_is_refused() -> None:
    example = NLIExample(id="1", language="fr", premise="Bonjour madame", hypothesis="Salut",
                         label=0)
    with pytest.raises(ValueError, match="keyboard"):
        CharNoise("low", "en").perturb(example, _rng("low", "en", "1"))


def test_unknown_language_and_operation_fail_loudly() -> None:
    with pytest.raises(KeyError):
        CharNoise("low", "xx")
    with pytest.raises(KeyError):
        candidate_edits("word", "en", op="shuffle")


@pytest.mark.parametrize("premise,hypothesis,language", [
    ("123 456, 7.8!", "42 ?", "en"),
    ("A bc de.", "I am.", "en"),
    ("1990 年 3 月", "二十五", "zh"),
    ("He is not in.", "No.", "en"),
])
def test_not_applicable_without_eligible_words(premise: str, hypothesis: str,
                                              language: str) -> None:
    example = NLIExample(id="x", language=language, premise=premise, hypothesis=hypothesis,
                         label=1)
    assert CharNoise("high", language).perturb(example, _rng("high", language, "x")) \
        is NOT_APPLICABLE


def test_every_sentence_gets_at_least_one_edit() -> None:
    example = NLIExample(id="7", language="en", premise="Several travellers arrived.",
                         hypothesis="Nobody arrived here.", label=2)
    out = CharNoise("low", "en").perturb(example, _rng("low", "en", "7"))
    assert isinstance(out, NLIExample)
    assert out.premise != example.premise and out.hypothesis != example.hypothesis
    assert out.hypothesis.split()[0] == "Nobody"  # a negation is never edited


def test_share_of_words_follows_severity() -> None:
    text = " ".join(["alpha", "bravo", "charlie", "delta", "echoes", "foxtrot", "golfer",
                     "hotel", "india", "juliet"] * 2)
    for severity, expected in (("low", 2), ("medium", 5), ("high", 10)):
        _, edits = noise_text_edits(text, "en", RATES[severity], _rng(severity, "en", "s"))
        assert len(edits) == expected


# --------------------------------------------------------------------------- numbers, negations

NUMBER_TEXTS = {
    "en": "In 1995 about 3,000 people lived on 42nd Street, not 7th.",
    "ar": "في عام ١٩٩٥ عاش حوالي 3000 شخص هناك.",
    "hi": "वर्ष १९९५ में लगभग 3000 लोग वहाँ रहते थे।",
    "th": "ในปี ๒๕๓๘ มีคนประมาณ 3000 คนอาศัยอยู่ที่นั่น",
    "zh": "一九九五年大约有三千人住在那里，共计3000人。",
}


@pytest.mark.parametrize("language", sorted(NUMBER_TEXTS))
def test_numbers_are_never_edited(language: str) -> None:
    text = NUMBER_TEXTS[language]

    def numbers(s: str) -> list[str]:
        return [c for c in s if unicodedata.category(c).startswith("N")
                or (language == "zh" and c in "一九五三千")]

    for seed in range(40):
        out = noise_text(text, language, 1.0, derive_rng(seed, "char_noise", "high",
                                                         language, "n"))
        assert numbers(out) == numbers(text)
        assert regex.findall(r"\d[\d,.]*\w*", out) == regex.findall(r"\d[\d,.]*\w*", text)


def test_edits_never_create_a_negation_or_number() -> None:
    assert "no" not in candidate_edits("now", "en")
    assert "not" not in candidate_edits("note", "en")
    assert "two" not in candidate_edits("twoo", "en")
    assert not is_eligible("not", "en") and not is_eligible("never", "en")


# --------------------------------------------------------------------------- keyboards, scripts

@pytest.mark.parametrize("letter,language,expected", [
    ("s", "en", "adwezx"),  # QWERTY
    ("a", "fr", "zéq"),  # AZERTY: é sits on the unshifted number row
    ("z", "de", "tugh"),  # QWERTZ
    ("ñ", "es", "lp"),
    ("ı", "tr", "uojk"),  # Turkish Q: dotless i is the I key
    ("α", "el", "σςζ"),
    ("ф", "ru", "ыйця"),  # ЙЦУКЕН
    ("ж", "bg", "цбфг"),  # Bulgarian phonetic: ж is the V key
    ("ك", "ar", "مطحجزظ"),
    ("ک", "ur", "جلیہمخ"),  # CRULP phonetic: ک is the K key
    ("क", "hi", "रतगदसख"),  # InScript; ख is the same key shifted
    ("ก", "th", "หดำพปแฏ"),  # Kedmanee
])
def test_keyboard_neighbours(letter: str, language: str, expected: str) -> None:
    assert charnoise._key_neighbours(letter, language) == tuple(expected)


def test_case_is_kept_and_turkish_i_is_right() -> None:
    assert all(c[0].isupper() for c in candidate_edits("Masa", "en", op="substitute")
               if c[1:] == "asa")
    subs = candidate_edits("ılık", "tr", op="substitute")
    assert "ulık" in subs and "olık" in subs
    assert "Ulık" in candidate_edits("Ilık", "tr", op="substitute")
    assert "Şlık" in candidate_edits("İlık", "tr", op="substitute")  # i's neighbour ş, upper


def test_thai_substitution_keeps_marks_on_their_consonant() -> None:
    for edit in candidate_edits("ที่นี่", "th", op="substitute"):
        assert len(graphemes(edit)) == 2
    assert "ที่นี้" in candidate_edits("ที่นี่", "th", op="substitute")  # tone key neighbour


def test_thai_repetition_sign_is_kept() -> None:
    text = "คนพิการทางจิตต่าง ๆ ออกรายการ"
    for seed in range(30):
        out = noise_text(text, "th", 1.0, derive_rng(seed, "char_noise", "high", "th", "r"))
        assert " ๆ " in out


def test_devanagari_substitution_keeps_vowel_signs_in_class() -> None:
    edits = candidate_edits("किताब", "hi", op="substitute")
    assert "कुताब" in edits  # ि -> ु, the next InScript key
    assert "खिताब" in edits  # क -> ख, the same key shifted
    assert all(not unicodedata.category(e[0]).startswith("M") for e in edits)


def test_vietnamese_telex_slips() -> None:
    edits = candidate_edits("người", "vi", op="substitute")
    assert {"ngưới", "ngưởi", "ngưỡi", "ngượi", "ngưòi", "ngưồi"} <= set(edits)
    assert "đi" in candidate_edits("di", "vi", op="substitute")


def test_chinese_confusables_and_double_commit() -> None:
    assert {"己经", "以经"} <= set(candidate_edits("已经", "zh", op="substitute"))
    assert candidate_edits("已经", "zh", op="insert") == ["已已经", "已经经"]
    assert candidate_edits("三十", "zh") == []  # numerals


@pytest.mark.parametrize("word,language,expected", [
    ("élève", "fr", {"elève", "éleve"}),
    ("Straße", "de", set()),
    ("über", "de", {"uber"}),
    ("çalış", "tr", {"calış", "çaliş", "çalıs"}),
    ("ế", "vi", {"e", "ê", "é"}),
    ("διάλειμμα", "el", {"διαλειμμα"}),
    ("كِتَابٌ", "ar", {"كتَابٌ", "كِتابٌ", "كِتَاب"}),
])
def test_diacritic_removal(word: str, language: str, expected: set[str]) -> None:
    assert set(candidate_edits(word, language, op="strip_diacritic")) == expected


@pytest.mark.parametrize("word,language", [("กี้ที่นี่", "th"), ("हिंदी", "hi"),
                                            ("хорошо", "ru"), ("walikuwa", "sw")])
def test_no_diacritic_removal_where_marks_are_letters(word: str, language: str) -> None:
    assert candidate_edits(word, language, op="strip_diacritic") == []


def test_homoglyphs_cross_scripts() -> None:
    assert "pаper" in candidate_edits("paper", "en", op="homoglyph")  # Cyrillic а
    assert "Mосква" in candidate_edits("Москва", "ru", op="homoglyph")  # Latin M
    assert "یوم" in candidate_edits("يوم", "ar", op="homoglyph")  # Persian yeh


def test_latin_words_in_other_scripts_use_latin_tables() -> None:
    edits = candidate_edits("milne", "hi", op="insert")
    assert edits and all(set(e) <= set("abcdefghijklmnopqrstuvwxyz") for e in edits)


def test_candidates_are_distinct_nfc_and_drawn_by_noise_word() -> None:
    for word, language in (("Français", "fr"), ("ประเทศไทย", "th"), ("الكِتَاب", "ar")):
        edits = candidate_edits(word, language)
        assert len(edits) == len(set(edits)) and word not in edits
        assert all(unicodedata.is_normalized("NFC", e) for e in edits)
        assert candidate_edits(word, language) == edits  # a fixed order
        for op in OPERATIONS:
            allowed = candidate_edits(word, language, op=op)
            got = noise_word(word, language, derive_rng(1, "c", "low", language, op), op=op)
            assert got in allowed or (not allowed and got == word)


# --------------------------------------------------------------------------- properties

def _orphans(text: str) -> int:
    """Combining marks with nothing to combine with: at the start or after a space."""
    return sum(1 for i, ch in enumerate(text) if unicodedata.category(ch).startswith("M")
               and (i == 0 or text[i - 1].isspace()))


def _detached(text: str) -> int:
    """Marks that follow neither a letter nor another mark."""
    return sum(1 for i, ch in enumerate(text) if unicodedata.category(ch).startswith("M")
               and (i == 0 or not unicodedata.category(text[i - 1]).startswith(("L", "M"))))


_SCRIPT_ALPHABET = (
    "abcdeéxyz ÉÀ"  # Latin, precomposed
    "\u0301\u0308\u0323"  # combining accents
    "กขคทนมรอเแโะาำ\u0e31\u0e34\u0e35\u0e38\u0e48\u0e49\u0e47"  # Thai, vowel and tone marks
    "कखगतनपरसअइ\u093e\u093f\u0940\u0941\u094d\u0902\u093c"  # Devanagari, matras, virama
    "بتثسشيكلمن\u064e\u064f\u0650\u0651"  # Arabic, harakat
    "ΑΒαβγοσςάЖжоа已经的人口"  # Greek, Cyrillic, Han
    " 12٣"
)
_settings = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(text=st.text(max_size=40), language=st.sampled_from(LANGUAGES),
       seed=st.integers(0, 2**32))
def test_any_unicode_is_safe(text: str, language: str, seed: int) -> None:
    _check_text_properties(text, language, seed)


@_settings
@given(text=st.text(alphabet=_SCRIPT_ALPHABET, max_size=40),
       language=st.sampled_from(LANGUAGES), seed=st.integers(0, 2**32))
def test_script_text_is_safe(text: str, language: str, seed: int) -> None:
    _check_text_properties(text, language, seed)


def _check_text_properties(text: str, language: str, seed: int) -> None:
    source = unicodedata.normalize("NFC", text)
    out = noise_text(text, language, 0.5, derive_rng(seed, "char_noise", "high", language, "p"))
    assert unicodedata.is_normalized("NFC", out)
    assert _orphans(out) <= _orphans(source)
    assert _detached(out) <= _detached(source)
    assert [c for c in out if c.isspace()] == [c for c in source if c.isspace()]
    again = noise_text(text, language, 0.5, derive_rng(seed, "char_noise", "high", language,
                                                       "p"))
    assert again == out


_WORD_LETTERS = {
    "th": ("กขคทนมรอ", "\u0e31\u0e34\u0e35\u0e38\u0e48\u0e49"),
    "fr": ("abcdeélo", "\u0301\u0308\u0323"),
    "ar": ("بتثسشيكلمن", "\u064e\u064f\u0650\u0651"),
}


@st.composite
def _clustered_word(draw: st.DrawFn) -> tuple[str, str]:
    """A word of base letters each followed by 0-2 marks (well-formed clusters)."""
    language = draw(st.sampled_from(sorted(_WORD_LETTERS)))
    bases, marks = _WORD_LETTERS[language]
    clusters = draw(st.lists(st.tuples(st.sampled_from(bases),
                                       st.text(alphabet=marks, max_size=2)),
                             min_size=2, max_size=8))
    return "".join(b + m for b, m in clusters), language


@_settings
@given(word_language=_clustered_word(), seed=st.integers(0, 2**32),
       op=st.sampled_from(("delete", "swap")))
def test_clusters_move_whole(word_language: tuple[str, str], seed: int, op: str) -> None:
    word, language = word_language
    word = unicodedata.normalize("NFC", word)
    out = noise_word(word, language, derive_rng(seed, "c", "low", language, "w"), op=op)
    before, after = sorted(graphemes(word)), sorted(graphemes(out))
    if out == word:
        return
    if op == "swap":
        assert after == before
    else:
        assert len(after) == len(before) - 1
        assert all(after.count(g) <= before.count(g) for g in after)


@_settings
@given(word_language=_clustered_word(), seed=st.integers(0, 2**32))
def test_any_edit_keeps_marks_attached(word_language: tuple[str, str], seed: int) -> None:
    word, language = word_language
    for edit in candidate_edits(word, language):
        assert _detached(edit) == 0, (word, edit)
    out = noise_word(word, language, derive_rng(seed, "c", "low", language, "w"))
    assert _detached(out) == 0
