"""Protected words: negations, quantifiers, numbers and function words in all 15 languages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attacks.protected import LANGUAGES, PROTECTED_VERSION, is_protected, protected_kind

XNLI_LANGUAGES = "en fr es de el bg ru tr ar vi th zh hi sw ur".split()

# (language, negation, quantifier, number word, stopword, content word that is not protected)
CASES = [
    ("en", "never", "every", "three", "the", "dog"),
    ("fr", "jamais", "plusieurs", "trois", "le", "chien"),
    ("es", "nunca", "algunos", "tres", "el", "perro"),
    ("de", "nicht", "alle", "drei", "der", "Hund"),
    ("el", "δεν", "όλοι", "τρία", "το", "σκύλος"),
    ("bg", "не", "всички", "три", "и", "куче"),
    ("ru", "никогда", "все", "три", "и", "собака"),
    ("tr", "değil", "bazı", "üç", "ve", "köpek"),
    ("ar", "ليس", "بعض", "ثلاثة", "في", "كلب"),
    ("vi", "không", "mọi", "ba", "và", "chó"),
    ("th", "ไม่", "ทุก", "สาม", "และ", "สุนัข"),
    ("zh", "没有", "所有", "三", "的", "狗"),
    ("hi", "नहीं", "सभी", "तीन", "और", "कुत्ता"),
    ("sw", "hapana", "wote", "tatu", "na", "mbwa"),
    ("ur", "نہیں", "تمام", "تین", "اور", "کتا"),
]


def test_lists_cover_every_xnli_language() -> None:
    assert set(XNLI_LANGUAGES) == LANGUAGES
    assert PROTECTED_VERSION


@pytest.mark.parametrize("language,neg,quant,num,stop,content", CASES)
def test_kinds_per_language(language: str, neg: str, quant: str, num: str, stop: str,
                            content: str) -> None:
    assert protected_kind(neg, language) == "negation"
    assert protected_kind(quant, language) == "quantifier"
    assert protected_kind(num, language) == "number"
    assert protected_kind(stop, language) == "stopword"
    assert not is_protected(content, language)


@pytest.mark.parametrize("word,language", [
    ("NOT", "en"), ("Never", "en"), ("don't", "en"), ("DIDN’T", "en"),
    ("n'est", "fr"), ("Jamais", "fr"), ("KEINE", "de"), ("ΔΕΝ", "el"), ("HİÇ", "tr"),
    ("ولا", "ar"), ("لَا", "ar"), ("لم", "ar"),
    ("不会", "zh"), ("从未", "zh"), ("没", "zh"),
    ("ไม่ได้", "th"), ("ไม่มี", "th"), ("มิ", "th"),
    ("नहीं", "hi"), ("मत", "hi"), ("نہ", "ur"), ("مت", "ur"),
    ("chưa", "vi"), ("hakuna", "sw"), ("нет", "ru"), ("няма", "bg"), ("sin", "es"),
])
def test_negations_in_any_case_and_affixed_form(word: str, language: str) -> None:
    assert protected_kind(word, language) == "negation"


@pytest.mark.parametrize("word,language", [
    ("42", "en"), ("3.5", "fr"), ("٣", "ar"), ("۳", "ur"), ("३", "hi"), ("๓", "th"),
    ("twenty-one", "en"), ("三十", "zh"), ("ยี่สิบเอ็ด", "th"), ("İki", "tr"),
    ("hundred", "en"), ("mille", "fr"), ("ألف", "ar"), ("हज़ार", "hi"),
])
def test_numbers_in_any_script(word: str, language: str) -> None:
    assert protected_kind(word, language) == "number"


def test_nfc_and_nfd_spellings_match() -> None:
    import unicodedata

    assert is_protected(unicodedata.normalize("NFD", "jamás"), "es")
    assert is_protected(unicodedata.normalize("NFD", "हज़ार"), "hi")


def test_elided_article_does_not_protect_content_word() -> None:
    assert not is_protected("l'homme", "fr")


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(KeyError, match="known"):
        is_protected("not", "xx")


@settings(max_examples=200, deadline=None)
@given(word=st.text(max_size=12), language=st.sampled_from(XNLI_LANGUAGES))
def test_any_text_returns_a_bool(word: str, language: str) -> None:
    assert isinstance(is_protected(word, language), bool)
