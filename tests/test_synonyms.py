"""Synonym swap: golden outputs on real XNLI rows, protected words, determinism, robustness."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attacks.base import NOT_APPLICABLE, Perturbation, derive_rng
from attacks.protected import is_protected
from attacks.synonyms import RATES, build, edit_count, synonym_candidates
from attacks.text import words
from harness.examples import NLIExample, parse_label

# Pinned outputs at severity medium, seed 13 (rows of xnli/test-{lang}.tsv.gz, 0-based).
# Eyeballed before pinning: WordNet synonyms are not always idiomatic (see the module
# docstring); a change here means the algorithm changed and VERSION must be bumped.
GOLDEN = {
    ('en', 5): (
        "And I thought that was a privilege, and it's still, it's still, I was the only nine two-two Ex-O which was my AFFC Air Force Career field.",
        'We all were given the same exact figure no matter what privileges we were promised to be granted, it was all a lie.',
    ),
    ('en', 11): (
        "There's so much you could talk about on that I'll just jump that.",
        "I wont talk about the history of the city because there's too much to tell.",
    ),
    ('fr', 5): (
        "Et je pensais que c'était un privilège, et ça l'est encore, toujours, j'étais le seul 922 Ex-O, c'est là que j'avais effectué ma carrière dans l'AFFC Air Force.",
        "Nous avons tous reçu le même nombre exact, peu importe les privilèges qu'on nous a promis de nous formuler, c'était un mensonge.",
    ),
    ('fr', 11): (
        "Il y a tellement de choses dont vous pourriez parler que je vais juste m'en passer.",
        "Je ne vais pas parler de l'histoire de la métropole parce qu'il y aurait trop de choses à dire.",
    ),
    ('zh', 5): (
        '而我当初认为这是一个特权，我现在仍然这样愿意，我是唯一的922 Ex-O，也是我的AFFC空军职业生涯。',
        '我们都被赋予了相同的一定数字，无论我们被许诺了何种特权，都是谎言。',
    ),
    ('zh', 11): (
        '你可以讲的太多了，我就不注意了。',
        '我不会谈论这座都市的历史，因为有太多的话要说。',
    ),
    ('th', 5): (
        'และฉันนึกว่านั้นเป็นสิทธิพิเศษและมันยังคงเป็น ฉันเป็นเก้า สอง-สอง เอ็กซ์-โอ ซึ่งเป็นสาขาอาชีพ AFFC Air Force ของฉัน',
        'พวกเราได้รับการปฎิบัติอย่างเท่าๆกัน ไม่ว่าเราจะได้รับคำสัญญาว่าเราจะได้สิทธิพิเศษอะไรบ้าง ทุกๆอย่างเป็นเรื่องคำโกหก',
    ),
    ('th', 11): (
        'มันมีอีกมากที่คุณสามารถพูดคุยเกี่ยวกับสิ่งนั้น ฉันจะข้ามไปละกัน',
        'ฉันจะไม่พูดถึงเกี่ยวกับประวัติของเมื่อง เพราะว่ามันเยอะเกิน',
    ),
    ('hi', 5): (
        'और मैंने सोचा कि यह एक विशेषाधिकार था, और यह अभी भी है, यह अभी भी है, मैं केवल नौ दो-दो Ex-O जो मेरे AFFC एयर फोर्स कैरियर फील्ड थे।',
        'हम सभी को एक ही सटीक संख्या दी गई थी, इससे कोई फर्क नहीं पड़ता कि हमें कौन से विशेषाधिकार दिए जाने का वादा किया गया था, यह सब मिथ्या था।',
    ),
    ('hi', 11): (
        'इतना है कि आप इसके बारे में शब्द कर सकते हैं कि मैं इसे छोड़ूँगा|',
        'मैं नगर के इतिहास के बारे में बात नहीं करता क्योंकि कहने के लिए बहुत कुछ है।',
    ),
    ('ar', 5): (
        'واعتقدت أن ذلك شرف لي ، ولا يزال ، ولايزال ، كنت الوحيد برقم تسعة اثنان اثنان إي أكس أو والذي كان صناعة مهنتي في سلاح الجو .',
        'حصلنا جميعنا على نفس العدد بالضبط بغض النظر عن الامتيازات التي وعدنا بها، لقد كانت كلها كذب.',
    ),
    ('ar', 11): (
        'هناك الكثير تستطيع التحدث عنه  وأنا سوف أتاجاوز ذلك بالضبط .',
        'لن أتحدث عن تاريخ المدينة لأن هناك الكثير مما يمكن قوله حولها.',
    ),
}


def _row(data_root: Path, language: str, index: int) -> NLIExample:
    path = data_root / "xnli" / f"test-{language}.tsv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i == index:
                premise, hypothesis, label, pair_id, genre = line.rstrip("\n").split("\t")
                return NLIExample(pair_id, language, premise, hypothesis,
                                  parse_label(label), genre)
    raise IndexError(index)


def _perturb(data_root: Path, example: NLIExample, severity: str = "medium"):  # type: ignore[no-untyped-def]
    swap = build(severity, example.language, data_root)
    rng = derive_rng(13, "synonym", severity, example.language, example.id)
    return swap.perturb(example, rng)


@pytest.mark.parametrize("language,index", sorted(GOLDEN))
def test_golden_outputs(data_root: Path, language: str, index: int) -> None:
    out = _perturb(data_root, _row(data_root, language, index))
    assert out is not NOT_APPLICABLE
    assert (out.premise, out.hypothesis) == GOLDEN[(language, index)]


def test_deterministic_and_independent_of_other_items(data_root: Path) -> None:
    first, other = _row(data_root, "en", 11), _row(data_root, "en", 5)
    before = _perturb(data_root, first)
    _perturb(data_root, other)
    assert _perturb(data_root, first) == before


def _protected_words(text: str, language: str) -> list[str]:
    return [s.text for s in words(text, language) if is_protected(s.text, language)]


def _assert_protected_kept(before: str, after: str, language: str) -> None:
    """Every protected word of `before` survives in `after` (a synonym may add function words;
    in unspaced scripts a swap may change how neighbours segment, so count substrings)."""
    from collections import Counter

    kept = Counter(_protected_words(before, language))
    if language in ("zh", "th"):
        for word, n in kept.items():
            assert after.count(word) >= n, (word, before, after)
    else:
        assert kept <= Counter(_protected_words(after, language)), (before, after)


@pytest.mark.parametrize("language", ["en", "fr", "zh", "th", "hi", "ar", "ur", "de"])
def test_protected_words_never_change(data_root: Path, language: str) -> None:
    for index in range(25):
        example = _row(data_root, language, index)
        out = _perturb(data_root, example, "high")
        if out is NOT_APPLICABLE:
            continue
        _assert_protected_kept(example.premise, out.premise, language)
        _assert_protected_kept(example.hypothesis, out.hypothesis, language)


def test_negations_and_numbers_kept_in_english(data_root: Path) -> None:
    sentence = "The dog did not bark at the 3 big cars, and nobody saw the two cats."
    out = _perturb(data_root, NLIExample("x", "en", sentence, sentence, 0), "high")
    assert out is not NOT_APPLICABLE
    for kept in ("not", "3", "nobody", "two"):
        assert kept in out.premise.split() or kept + "," in out.premise.split()
    _assert_protected_kept(sentence, out.premise, "en")


def test_not_applicable_without_candidates(data_root: Path) -> None:
    example = NLIExample("x", "en", "It is not the one.", "No, it was never 42!", 2)
    assert _perturb(data_root, example) is NOT_APPLICABLE
    empty = NLIExample("y", "zh", "", "", 1)
    assert _perturb(data_root, empty) is NOT_APPLICABLE


def test_english_morphology_and_capitalisation(data_root: Path) -> None:
    assert synonym_candidates("car", "en", data_root)[:2] == ["auto", "automobile"]
    assert all(c.endswith("s") for c in synonym_candidates("cars", "en", data_root))
    assert synonym_candidates("thought", "en", data_root) == []  # also a form of "think"
    example = NLIExample("x", "en", "Cars are fast.", "Cars are fast.", 0)
    out = _perturb(data_root, example, "high")
    assert out is not NOT_APPLICABLE and out.premise[0].isupper()


def test_candidates_are_same_language_single_words_for_unspaced(data_root: Path) -> None:
    for word in ("汽车", "狗"):
        found = synonym_candidates(word, "zh", data_root)
        assert found and all(" " not in c and not c.isascii() for c in found)
    assert synonym_candidates("ไม่", "th", data_root) == []
    assert synonym_candidates("car", "en", data_root) == synonym_candidates("car", "en", data_root)


def test_protocol_params_and_resources(data_root: Path) -> None:
    swap = build("low", "hi", data_root)
    assert isinstance(swap, Perturbation)
    assert swap.params()["rate"] == RATES["low"]
    files = swap.resource_files()
    assert {"wordnet", "wikt-hin", "cldr-hin"} <= set(files)
    assert all(Path(p).is_file() for p in files.values())
    assert "omw-2.0" in build("low", "zh", data_root).resource_files()
    with pytest.raises(KeyError):
        build("extreme", "en", data_root)
    with pytest.raises(KeyError):
        build("low", "xx", data_root)


def test_edit_count_share_minimum_and_cap() -> None:
    assert edit_count(0, 0.4) == 0
    assert edit_count(1, 0.1) == 1
    assert edit_count(8, 0.25) == 2
    assert edit_count(100, 0.4) == 4


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(premise=st.text(max_size=40), hypothesis=st.text(max_size=40),
       language=st.sampled_from(["en", "fr", "zh", "th", "ar", "hi", "vi"]))
def test_random_unicode_never_crashes(data_root: Path, premise: str, hypothesis: str,
                                      language: str) -> None:
    out = _perturb(data_root, NLIExample("h", language, premise, hypothesis, 1))
    assert out is NOT_APPLICABLE or isinstance(out, NLIExample)
