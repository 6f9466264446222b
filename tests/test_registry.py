"""One registry class answers every unknown name the same way; seeds come from one module."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.core.errors import DataError, HarnessError
from harness.core.registry import Registry, UnknownName


def test_a_miss_says_did_you_mean_and_is_a_user_error() -> None:
    reg: Registry[int] = Registry("colour", {"red": 1, "green": 2})
    with pytest.raises(UnknownName) as info:
        reg["gren"]
    assert str(info.value) == "unknown colour 'gren'. Did you mean: green? Known: green, red."
    assert isinstance(info.value, DataError) and isinstance(info.value, KeyError)
    assert info.value.exit_code == 2
    assert reg.check("red") == "red" and list(reg) == ["red", "green"] and len(reg) == 2


def test_register_refuses_a_second_entry_of_the_same_name() -> None:
    reg: Registry[str] = Registry("engine", {"a": "x:y"})
    reg.register("b", "x:z")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", "x:w")


def test_lazy_entries_import_on_load_only() -> None:
    reg: Registry[str] = Registry("thing", {"path": "pathlib:PurePosixPath"})
    assert reg["path"] == "pathlib:PurePosixPath"
    assert reg.load("path")("a/b").name == "b"


@pytest.mark.parametrize("lookup", [
    lambda: __import__("attacks.registry", fromlist=["x"]).family_factory("char_nosie"),
    lambda: __import__("attacks.translation", fromlist=["x"]).create_engine("apertuim"),
    lambda: __import__("adapters.base", fromlist=["x"]).load_adapter("hff", "m"),
    lambda: __import__("harness.data.tasks", fromlist=["x"]).TASKS["anly"],
    lambda: __import__("attacks.adaptive", fromlist=["x"]).RECIPES["synonim"],
    lambda: __import__("harness.scoring.bench", fromlist=["x"]).SOURCES.check("hubb"),
])
def test_every_registry_answers_with_did_you_mean(lookup) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownName, match="Did you mean"):
        lookup()


def test_a_misspelled_family_in_a_spec_is_refused_before_any_work(tmp_path: Path) -> None:
    from harness.cli import main
    from harness.data.spec import DEFAULT_SPEC

    spec = tmp_path / "spec.yaml"
    spec.write_text(DEFAULT_SPEC.read_text("utf-8").replace("\n  char_noise:\n", "\n  char_nosie:\n"), encoding="utf-8")
    with pytest.raises(HarnessError, match="char_nosie.*Did you mean: char_noise"):
        from harness.data.spec import load_spec
        load_spec(spec)
    out = tmp_path / "out"
    assert main(["generate", str(out), "--spec", str(spec), "--no-progress"]) == 2
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_seed_derivations_are_those_the_committed_outputs_were_made_with() -> None:
    """Golden values computed with the formulas before they moved into harness.core.seeds
    (perturbation RNG, TextAttack-part RNG, lite selection rank, audit rank, attack item seed,
    attack item order, training seed): a changed formula changes every benchmark file."""
    from attacks.base import derive_rng
    from harness.core import seeds
    from harness.core.sampling import rank
    from harness.scoring.attack import item_seed

    assert derive_rng(20241126, "synonym", "high", "fr", "test-42").random() == 0.16748387261083075
    assert seeds.rng(0, "de", "Haus", "swap").random() == 0.6608162572486799
    assert rank(20241126, "lite", "test-42").hex().startswith("8560fadfb046627927ee41b1ce16eea6")
    assert rank(0, "audit\x1fsynonym\x1fhigh", "test-42").hex().startswith("ea530072cf389fed798b3440b1bb7c28")
    assert item_seed(0, "en", "test-7") == 1232354620
    assert seeds.digest(0, "test-7").hex().startswith("d7998e2a925ffd5add20659dd6de99e4")
    assert seeds.derive_seed(1, "stage", 0, "epoch", 1) == 7340087863989140032
    assert isinstance(seeds.rng(1), random.Random) and seeds.rng(1).random() == seeds.rng(1).random()


def test_a_new_backend_is_added_by_registering_it(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench scores through a backend the code base has never seen: registered, not wired in."""
    import json

    from adapters.base import ADAPTERS
    from harness.cli import main

    monkeypatch.setattr(ADAPTERS, "_entries", {**ADAPTERS._entries, "toy": "toy_backend:ToyAdapter"})
    out = tmp_path / "run"
    assert main(["bench", str(tmp_path), "--adapter", "toy", "--source", "local", "--languages", "en,fr",
                 "--limit", "4", "--no-cache", "--no-progress", "--out", str(out)]) == 0
    record = json.loads((out / "result.json").read_text("utf-8"))
    assert record["model"]["adapter"] == "toy" and record["data"]["n_items"] == {"en": 4, "fr": 4}
    assert record["truncation"] == {"pairs": 8, "truncated": 0}


def test_recorded_path_is_relative_under_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.core.paths import recorded_path

    (tmp_path / "sub" / "model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sub")
    assert recorded_path(tmp_path / "sub" / "model") == "model"
    assert recorded_path(str(tmp_path / "sub" / "model" / "recipe.yaml")) == "model/recipe.yaml"
    assert recorded_path(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")  # outside: unchanged
    assert recorded_path("org/name") == "org/name" and recorded_path("model") == "model"
