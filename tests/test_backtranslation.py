"""Back-translation perturbation: routes, NOT_APPLICABLE rules, batching, precomputed lookup."""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path

import pytest

from attacks import registry
from attacks import translation as tr
from attacks.backtranslation import (
    DEFAULT_ROUTES,
    BackTranslation,
    NoRoute,
    Route,
    available_languages,
    build,
    english_test_index,
)
from attacks.base import NOT_APPLICABLE, SEVERITIES, Perturbation
from harness.core.examples import NLIExample

RNG = random.Random(0)


class FakeEngine:
    """A deterministic stand-in engine: applies `rule` and records every batch."""

    name = "fake"
    version = "fake-1"
    pairs = frozenset({("en", "xx"), ("xx", "en")})

    def __init__(self, rule=lambda text, src, tgt: text) -> None:  # type: ignore[no-untyped-def]
        self.rule = rule
        self.calls: list[list[str]] = []

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        self.calls.append(list(texts))
        return [self.rule(t, src, tgt) for t in texts]


def _fake_perturbation(engine: FakeEngine, tmp_path: Path) -> BackTranslation:
    route = Route(("en", "xx", "en"), ("fake", "fake"))
    return BackTranslation("en", "low", route, {"fake": engine}, tmp_path, cache_dir=tmp_path / "cache")


def _example(premise: str, hypothesis: str, item: str = "1") -> NLIExample:
    return NLIExample(id=item, language="en", premise=premise, hypothesis=hypothesis, label=0)


def _test_items(data_root: Path, language: str, rows: range) -> list[NLIExample]:
    with gzip.open(data_root / "xnli" / f"test-{language}.tsv.gz", "rt", encoding="utf-8") as handle:
        lines = [line.rstrip("\n").split("\t") for line in handle]
    return [NLIExample(lines[i][3], language, lines[i][0], lines[i][1], 0) for i in rows]


@pytest.fixture(scope="session")
def apertium_installed() -> None:
    """Apertium is required (CI installs it): its absence fails, it is never skipped."""
    if shutil.which("apertium") is None:
        pytest.fail(f"apertium is not installed; install it with: {tr.APERTIUM_INSTALL}")


def test_identical_round_trip_is_not_applicable(tmp_path: Path) -> None:
    perturbation = _fake_perturbation(FakeEngine(), tmp_path)
    assert perturbation.perturb(_example("A cat  sleeps.", "A dog runs."), RNG) is NOT_APPLICABLE


def test_failed_round_trip_is_not_applicable(tmp_path: Path) -> None:
    engine = FakeEngine(lambda text, src, tgt: "" if "dog" in text else text + "!")
    assert _fake_perturbation(engine, tmp_path).perturb(_example("A cat.", "A dog."), RNG) is NOT_APPLICABLE


def test_one_changed_side_keeps_the_other_verbatim(tmp_path: Path) -> None:
    engine = FakeEngine(lambda text, src, tgt: text.replace("cat", "kitty") if tgt == "en" else text)
    out = _fake_perturbation(engine, tmp_path).perturb(_example("A cat sleeps.", "It  sleeps."), RNG)
    assert out == _example("A kitty sleeps.", "It  sleeps.")


def test_batch_equals_single_and_translates_each_text_once(tmp_path: Path) -> None:
    engine = FakeEngine(lambda text, src, tgt: text + (" x" if tgt == "xx" else ""))
    examples = [_example("Shared premise.", f"Hypothesis {i}.", str(i)) for i in range(3)]
    perturbation = _fake_perturbation(engine, tmp_path)
    batched = perturbation.perturb_batch(examples, [RNG] * 3)
    assert len(engine.calls) == 2 and len(engine.calls[0]) == 4  # 1 premise + 3 hypotheses
    fresh = _fake_perturbation(FakeEngine(engine.rule), tmp_path / "other")
    assert batched == [fresh.perturb(ex, RNG) for ex in examples]
    assert batched[0] == _example("Shared premise. x", "Hypothesis 0. x", "0")


def test_language_mismatch_is_an_error(tmp_path: Path) -> None:
    item = NLIExample("1", "fr", "Un chat.", "Un chien.", 0)
    with pytest.raises(ValueError, match="paraphrases en items"):
        _fake_perturbation(FakeEngine(), tmp_path).perturb(item, RNG)


def test_translations_are_cached_across_instances(tmp_path: Path) -> None:
    engine = FakeEngine(lambda text, src, tgt: text + "?")
    _fake_perturbation(engine, tmp_path).perturb(_example("A.", "B."), RNG)
    calls = len(engine.calls)
    _fake_perturbation(engine, tmp_path).perturb(_example("A.", "B."), RNG)
    assert len(engine.calls) == calls


def test_english_index_has_unique_pair_ids(data_root: Path) -> None:
    index = english_test_index(data_root)
    assert len(index) == 5010 and index["4"][0] == 0


def test_precomputed_route_returns_the_items_row(data_root: Path, tmp_path: Path) -> None:
    perturbation = build("low", "en", data_root, route="en>sw>en", cache_dir=tmp_path)
    items = _test_items(data_root, "en", range(100, 103))
    with gzip.open(data_root / "translations" / "xnli-test-sw-to-en.tsv.gz", "rt", encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle][1:]
    out = perturbation.perturb_batch(items, [RNG] * 3)
    for i, result in zip(range(100, 103), out):
        assert result is not NOT_APPLICABLE
        assert result.premise in {rows[i][1], items[i - 100].premise}
        assert result.hypothesis in {rows[i][2], items[i - 100].hypothesis}
        assert (result.premise, result.hypothesis) != (items[i - 100].premise, items[i - 100].hypothesis)
    assert set(perturbation.resource_files()) == {"xnli-test-sw-to-en", "xnli-test-en"}


def test_precomputed_route_skips_edited_or_unknown_items(data_root: Path, tmp_path: Path) -> None:
    perturbation = build("low", "en", data_root, route="en>ur>en", cache_dir=tmp_path)
    item = _test_items(data_root, "en", range(1))[0]
    edited = item.with_texts(item.premise + " Indeed.", item.hypothesis)
    unknown = NLIExample("no-such-id", "en", item.premise, item.hypothesis, 0)
    assert perturbation.perturb_batch([edited, unknown]) == [NOT_APPLICABLE, NOT_APPLICABLE]


def _text_sha(example) -> str:  # type: ignore[no-untyped-def]
    from harness.core.hashing import sha256_text

    return sha256_text(example.premise + "\x1f" + example.hypothesis)


def test_apertium_route_golden(apertium_installed: None, data_root: Path, tmp_path: Path) -> None:
    perturbation = build("medium", "en", data_root, cache_dir=tmp_path)
    assert isinstance(perturbation, Perturbation)
    items = _test_items(data_root, "en", range(2))
    first, second = perturbation.perturb_batch(items, [RNG, RNG])
    # pinned by hash: the round trips of real XNLI rows stay out of the repository
    assert first.id == items[0].id and _text_sha(first) == "570a78194e269e76986d9778432c04ecdbea90f88c6a448fc286ce8f66f1b37d", (first.premise, first.hypothesis)
    assert second.id == items[1].id and _text_sha(second) == "78a14b9aaf1037c7b9bb62edb539d071eb4c1f439e6d5c223b19bab0406eeee7", (second.premise, second.hypothesis)
    params = perturbation.params()
    assert params["route"] == "en>es>en" and [h["engine"] for h in params["hops"]] == ["apertium", "apertium"]
    assert perturbation.resource_files() == {}


def test_bergamot_route_golden(data_root: Path, tmp_path: Path) -> None:
    perturbation = build("low", "en", data_root, cache_dir=tmp_path)
    item = _test_items(data_root, "en", range(1))[0]
    out = perturbation.perturb(item, RNG)
    assert out.id == item.id and _text_sha(out) == "a1f4ed68b1a1e29cfa620c7709fc7c86b226e4e662956a6d3d271cd2a28b855c", (out.premise, out.hypothesis)


def test_available_languages_and_registry(apertium_installed: None, data_root: Path) -> None:
    available = available_languages(data_root)
    assert set(available) == {"en", "es", "fr"}
    assert available["en"][:3] == [DEFAULT_ROUTES["en"][s].id for s in SEVERITIES]
    assert {"en>sw>en", "en>ur>en"} <= set(available["en"])
    assert registry.build("back_translation", "high", "fr", data_root).languages >= {"en", "es", "fr"}
    with pytest.raises(NoRoute, match="no route for 'de'"):
        registry.build("back_translation", "low", "de", data_root)
    with pytest.raises(NoRoute, match="unknown route"):
        build("low", "en", data_root, route="en>de>en")


# ------------------------------------------------------------------ routes a spec names


def test_route_for_takes_any_path_over_known_hops() -> None:
    from attacks.backtranslation import route_for

    assert route_for("bg", "bg>mk>bg").engines == ("apertium", "apertium")
    assert route_for("es", "es>pt>es>ca>es").id == "es>pt>es>ca>es"
    assert route_for("en", "en>sw>en").precomputed  # extra routes by id, as before
    with pytest.raises(NoRoute, match="unknown route 'bg>de>bg' for bg"):
        route_for("bg", "bg>de>bg")
    with pytest.raises(NoRoute, match="does not start from ru"):
        route_for("ru", "uk>ru>uk")


def test_unit_params_select_units_and_reject_mistakes() -> None:
    from attacks.backtranslation import unit_params

    routes = {"bg": {"low": "bg>mk>bg"}, "ru": {"low": "ru>uk>ru", "medium": "ru>be>ru"}}
    cells = unit_params({"routes": routes}, SEVERITIES, ["bg", "ru"])
    assert cells == {("low", "bg"): {"route": "bg>mk>bg"}, ("low", "ru"): {"route": "ru>uk>ru"},
                     ("medium", "ru"): {"route": "ru>be>ru"}}
    assert unit_params({}, ["low"], ["en"]) == {("low", "en"): {}}
    for params, message in [
        ({"route": routes}, "unknown parameter"),
        ({"routes": {**routes, "bg": {"low": "bg>xx>bg"}}}, "routes.bg.low: unknown route"),
        ({"routes": {**routes, "bg": {"lowest": "bg>mk>bg"}}}, "severities \\['lowest'\\]"),
        ({"routes": {**routes, "ru": {"low": "bg>mk>bg"}}}, "does not start from ru"),
        ({"routes": {**routes, "de": {"low": "de>en>de"}}}, "not in it: \\['de'\\]"),
        ({"routes": {"ru": {"low": "ru>uk>ru"}}}, "no route: \\['bg'\\]"),
        ({"routes": {**routes, "bg": "bg>mk>bg"}}, "routes.bg must map"),
        ({"routes": ["bg>mk>bg"]}, "routes must map"),
    ]:
        with pytest.raises(ValueError, match=message):
            unit_params(params, SEVERITIES, ["bg", "ru"])


def test_unit_params_pass_the_apertium_protocol_to_every_unit() -> None:
    from attacks.backtranslation import unit_params

    cells = unit_params({"apertium_protocol": "fresh-tagger"}, ["low", "high"], ["en", "fr"])
    assert cells == {(sev, lang): {"apertium_protocol": "fresh-tagger"} for sev in ("low", "high") for lang in ("en", "fr")}
    routed = unit_params({"apertium_protocol": "fresh-tagger", "routes": {"bg": {"low": "bg>mk>bg"}}}, ["low"], ["bg"])
    assert routed == {("low", "bg"): {"route": "bg>mk>bg", "apertium_protocol": "fresh-tagger"}}
    with pytest.raises(ValueError, match="apertium_protocol 'stream' is not one of"):
        unit_params({"apertium_protocol": "stream"}, ["low"], ["en"])


def test_the_protocol_reaches_every_apertium_hop(apertium_installed: None, data_root: Path, tmp_path: Path) -> None:
    fresh = build("high", "fr", data_root, cache_dir=tmp_path, apertium_protocol="fresh-tagger")
    versions = {h["engine_version"] for h in fresh.params()["hops"] if h["engine"] == "apertium"}
    assert versions == {tr.ApertiumEngine(protocol="fresh-tagger").version}
    plain = build("high", "fr", data_root, cache_dir=tmp_path)
    assert {h["engine_version"] for h in plain.params()["hops"] if h["engine"] == "apertium"} == {tr.ApertiumEngine().version}


def test_registry_passes_the_route_to_the_builder(apertium_installed: None, data_root: Path, tmp_path: Path) -> None:
    perturbation = registry.build("back_translation", "low", "bg", data_root, route="bg>mk>bg")
    assert perturbation.route.id == "bg>mk>bg" and perturbation.language == "bg" and "bg" in perturbation.languages
    hops = perturbation.params()["hops"]
    assert [(h["src"], h["tgt"]) for h in hops] == [("bg", "mk"), ("mk", "bg")]
    assert all("apertium-mkd-bul=" in h["engine_version"] and "apertium-eng-spa" not in h["engine_version"]
               for h in hops)
    default = build("medium", "en", data_root, cache_dir=tmp_path)  # v1.1's engines are what they were
    assert {h["engine_version"] for h in default.params()["hops"]} == {tr.ApertiumEngine().version}
    with pytest.raises(NoRoute, match="unknown route"):
        registry.build("back_translation", "low", "bg", data_root, route="bg>de>bg")
