"""Synonym swap rule set v2 (issue #14): one golden test per audited failure mode, on our own
short sentences, the nesting property on the lite items, and the v1/v2 selection contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from attacks import synonyms_v2 as v2
from attacks.base import NOT_APPLICABLE, derive_rng
from attacks.registry import FAMILY_PARAMS
from attacks.synonym_family import build, unit_params
from attacks.synonyms import VERSION as V1_VERSION
from attacks.synonyms import synonym_candidates
from harness.core.examples import NLIExample
from harness.data.spec import SPEC_DIR, load_spec
from harness.data.xnli import load_local
from harness.generate.select import select_items


@pytest.fixture(scope="module")
def lite_ids(data_root: Path) -> list[str]:
    """The v1.1 lite items, chosen by the project's selection code (no generated benchmark
    needed); chosen once for the module's three languages."""
    spec = load_spec(SPEC_DIR / "xnli-robust-v1.1.yaml")
    english = load_local(data_root / "xnli", spec.split, ["en"])["en"]
    return select_items(english, spec.size("lite"), spec.seed)


def _options(word: str, language: str, sentence: str, data_root: Path) -> list[str]:
    context = v2._context(NLIExample("t", language, sentence, "", 0))
    return v2.options(word, language, context, str(data_root))


def _edits(example: NLIExample, severity: str, data_root: Path) -> set[tuple[int, int, str]] | None:
    chosen = build(severity, example.language, data_root, rules="v2").edits(example)
    return None if chosen is None else {(e.side, e.span.start, e.text) for e in chosen}


# --------------------------------------------------------------------- the contract


def test_unit_params_select_v2_and_refuse_unknown_names() -> None:
    cells = unit_params({}, ["low", "high"], ["en", "fr"])
    assert cells == {(s, lang): {} for s in ("low", "high") for lang in ("en", "fr")}
    assert unit_params({"rules": "v1"}, ["low"], ["en"]) == {("low", "en"): {}}
    assert unit_params({"rules": "v2"}, ["low"], ["en"]) == {("low", "en"): {"rules": "v2"}}
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['rule'\]"):
        unit_params({"rule": "v2"}, ["low"], ["en"])
    with pytest.raises(ValueError, match="'v3'"):
        unit_params({"rules": "v3"}, ["low"], ["en"])
    assert FAMILY_PARAMS.load("synonym") is unit_params


def test_v2_params_and_version_are_distinct_and_v1_unchanged(data_root: Path) -> None:
    new, old = build("medium", "fr", data_root, rules="v2"), build("medium", "fr", data_root)
    assert new.params()["version"] == "2.0.0" and new.params()["rules"] == "v2"
    assert new.version == "2.0.0" != old.version == V1_VERSION == "1.0.0"
    assert old.params()["version"] == "1.0.0" and "rules" not in old.params()
    assert {"lemminflect", "pymorphy3", "wordfreq", "simplemma"} <= set(new.params()["packages"])
    assert build("medium", "fr", data_root, rules="v1") == old


# --------------------------------------------------------------------- one test per fix


def test_fix_sense_in_context_not_the_pivot_first_sense(data_root: Path) -> None:
    """sœur→nonne/infirmière (v1) and 'sister'→'sis': polysemous words are skipped unless the
    context and the dominant sense agree; a replacement's own dominant sense must be the
    chosen synset."""
    assert set(synonym_candidates("sœur", "fr", data_root)) >= {"nonne", "infirmière"}
    assert _options("sœur", "fr", "Ma sœur habite ici.", data_root) == []
    assert _options("purchased", "en", "She purchased a house.", data_root) == ["bought"]
    assert _options("bank", "en", "We sat on the bank of the river.", data_root) == []


def test_fix_function_words_never_swapped(data_root: Path) -> None:
    """würde→Selbstachtung (v1): wordfreq's most frequent German words are closed-class."""
    assert synonym_candidates("würde", "de", data_root) == ["Selbstachtung"]
    assert v2.is_function_word("würde", "de")
    assert _options("würde", "de", "Er würde gerne kommen.", data_root) == []
    out = build("high", "de", data_root, rules="v2").perturb(
        NLIExample("t", "de", "Er würde gerne kommen.", "Sie würde es machen.", 0), derive_rng(0, "s", "high", "de", "t"))
    assert out is NOT_APPLICABLE or "würde" in out.premise


def test_fix_english_reinflection(data_root: Path) -> None:
    """A replacement takes the original's Penn tag (lemminflect); ambiguous forms are skipped."""
    assert v2._english_inflect("buy", "purchase", "purchased", ("VBD", "VBN")) == "bought"
    assert v2._english_inflect("automobile", "car", "cars", ("NNS",)) == "automobiles"
    assert v2._english_reading("found", str(data_root)) is None  # find or found
    assert v2._english_inflect("set up", "establish", "established", ("VBD",)) is None


def test_fix_russian_reinflection_and_gender(data_root: Path) -> None:
    """первый попытка (v1): pymorphy3 inflects to the original's case and number, and a noun
    replacement must have the original's gender and animacy."""
    parses = v2._russian_reading("самолете")
    assert parses is not None and v2._russian_inflect("аэроплан", parses) == "аэроплане"
    attempt = v2._russian_reading("попытку")
    assert v2._russian_inflect("опыт", attempt) is None  # masculine for feminine
    assert v2._russian_inflect("проба", attempt) == "пробу"


def test_fix_no_swap_after_an_agreeing_determiner(data_root: Path) -> None:
    """une composant / eine Regulativ (v1): after a closed-class word, agreeing languages skip."""
    text = "Elle a une composante et une idée."
    spans = v2.words(text, "fr")
    index = next(i for i, s in enumerate(spans) if s.text == "composante")
    assert v2._blocked_by_neighbours(spans, index, 1, text, "fr")
    assert not v2._form_agrees("κράτος", "χώρα", "el")  # Η χώρα -> Η κράτος
    assert v2._form_agrees("kitabu", "kiti", "sw") and not v2._form_agrees("wanyama", "kiumbe", "sw")


def test_fix_replacements_are_whole_lemmas_not_fragments_or_numbers(data_root: Path) -> None:
    """rabbins→rabbin, अमेरिका→संयुक्त, bằng→bằng phẳng, tuyệt→tốt (v1)."""
    assert synonym_candidates("rabbins", "fr", data_root) == ["rabbin"]
    assert _options("rabbins", "fr", "Les rabbins parlent.", data_root) == []
    assert v2._fragment("संयुक्त", ["संयुक्त राज्य अमेरिका", "संयुक्त"])
    assert v2._shares_word("bằng phẳng", "bằng", "vi") and v2._shares_word("แฟนสาว", "แฟน", "th")
    assert _options("tuyệt", "vi", "tuyệt đối", data_root) == []
    assert not v2._script_ok("技術", "vi") and v2._script_ok("kỹ thuật", "vi")


def test_fix_chinese_output_is_simplified(data_root: Path) -> None:
    """然后→後面 (v1): replacements go through OpenCC t2s and must encode in GB2312."""
    assert v2._zh_simplified("後面") == "后面"
    assert v2._zh_simplified("龘") is None
    assert _options("姐姐", "zh", "我姐姐很好。", data_root) == []  # 妹妹 shares no character


# --------------------------------------------------------------------- nesting


def test_nested_counts_grow_strictly_or_are_not_applicable() -> None:
    assert v2.nested_counts(0) == {"low": None, "medium": None, "high": None}
    assert v2.nested_counts(2) == {"low": 1, "medium": 2, "high": None}
    assert v2.nested_counts(10) == {"low": 1, "medium": 3, "high": 4}
    assert v2.nested_counts(40) == {"low": 2, "medium": 5, "high": 8}


@pytest.mark.parametrize("language", ["en", "ru", "zh"])
def test_severities_nest_strictly_on_lite_items(language: str, lite_ids: list[str], data_root: Path) -> None:
    """edits(low) ⊂ edits(medium) ⊂ edits(high), strictly, whenever all three apply."""
    ids = lite_ids
    by_id = {ex.id: ex for ex in load_local(data_root / "xnli", "test", [language])[language]}
    checked = 0
    for item_id in ids[:120]:
        ex = by_id[item_id]
        low, medium, high = (_edits(ex, s, data_root) for s in ("low", "medium", "high"))
        if low is not None and medium is not None:
            assert low < medium, item_id
        if medium is not None and high is not None:
            assert medium < high, item_id
            checked += 1
    assert checked > 0


def test_v2_output_depends_on_its_own_input_only(data_root: Path) -> None:
    """Alone, shuffled, and under another benchmark seed: the same v2 output per item."""
    items = load_local(data_root / "xnli", "test", ["en"])["en"][:10]
    p = build("high", "en", data_root, rules="v2")
    first = {ex.id: repr(p.perturb(ex, derive_rng(1, "synonym", "high", "en", ex.id))) for ex in items}
    again = {ex.id: repr(p.perturb(ex, derive_rng(2, "synonym", "high", "en", ex.id)))
             for ex in reversed(items)}
    assert first == again
