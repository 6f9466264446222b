"""Family parameters in a spec (`families.<name>.params`), and what must not move because of them.

v1.1 carries no parameters; its spec hash is hard-coded here (the value read before family
parameters existed), so a change that alters what v1.1 is fails here first.  Generation runs on
the real XNLI files with a stand-in back-translation builder (no MT), so these tests are fast.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from attacks.base import SEVERITIES
from harness.cli import main
from harness.core.errors import DataError
from harness.core.examples import NLIExample
from harness.data.spec import SPEC_DIR, load_spec, parse_spec, spec_units
from harness.generate.run import generate

V11_SPEC_SHA256 = "4f10e7a1d9efba0d6cbb466c6f3238e490668b00da9278de4813a4d888e33190"
ROUTES = {"bg": {"low": "bg>mk>bg"}, "ru": {"low": "ru>uk>ru", "medium": "ru>be>ru"}}


def test_v11_spec_hash_is_unchanged() -> None:
    spec = load_spec(SPEC_DIR / "xnli-robust-v1.1.yaml")
    assert spec.id == "xnli-robust-v1.1"
    assert spec.sha256 == V11_SPEC_SHA256
    assert all(f.params == {} and f.unit_kwargs is None for f in spec.families.values())
    assert len(spec_units(spec)) == 4 * 3 * 15 + 3 * 3


def test_v12_is_v11_with_a_history_free_apertium() -> None:
    """v1.2 changes one thing: back-translation's Apertium protocol (and so only its units' params)."""
    v11 = yaml.safe_load((SPEC_DIR / "xnli-robust-v1.1.yaml").read_text("utf-8"))
    v12 = yaml.safe_load((SPEC_DIR / "xnli-robust-v1.2.yaml").read_text("utf-8"))
    assert v12["families"]["back_translation"].pop("params") == {"apertium_protocol": "fresh-tagger"}
    for key in ("version", "expected_hashes", "engines"):
        v11.pop(key), v12.pop(key)
    assert v11 == v12
    spec = load_spec(SPEC_DIR / "xnli-robust-v1.2.yaml")
    assert [u.key for u in spec_units(spec)] == [u.key for u in spec_units(load_spec(SPEC_DIR / "xnli-robust-v1.1.yaml"))]
    bt = spec.families["back_translation"]
    assert all(bt.build_params(s, lang) == {"apertium_protocol": "fresh-tagger"} for s in SEVERITIES for lang in ("en", "es", "fr"))
    assert all(f.params == {} for name, f in spec.families.items() if name != "back_translation")


def _raw(params: Any = None, **family: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"severities": list(SEVERITIES), "languages": ["bg", "ru"], "similarity": None, **family}
    if params is not None:
        body["params"] = params
    return {"name": "routes-test", "version": "0", "seed": 7, "split": "test", "languages": ["en", "bg", "ru"],
            "sizes": {"lite": {"per_language": 12, "stratify": ["label"]}},
            "families": {"back_translation": body}, "resources": []}


def test_params_select_units_and_enter_the_spec_hash() -> None:
    spec = parse_spec(_raw({"routes": ROUTES}))
    family = spec.families["back_translation"]
    assert family.params == {"routes": ROUTES}
    assert [u.key for u in spec_units(spec)] == ["back_translation/low/bg", "back_translation/low/ru",
                                                 "back_translation/medium/ru"]
    assert family.build_params("medium", "ru") == {"route": "ru>be>ru"}
    assert not family.has_unit("high", "ru") and family.build_params("high", "ru") == {}
    plain = parse_spec(_raw())
    assert len(spec_units(plain)) == 6 and plain.families["back_translation"].build_params("low", "bg") == {}
    assert plain.sha256 != spec.sha256
    other = copy.deepcopy(ROUTES)
    other["bg"]["low"] = "bg>mk>bg>mk>bg"
    assert parse_spec(_raw({"routes": other})).sha256 != spec.sha256


@pytest.mark.parametrize("raw, message", [
    (_raw({"route": ROUTES}), "unknown parameter"),
    (_raw({"routes": {**ROUTES, "bg": {"low": "bg>de>bg"}}}), "routes.bg.low: unknown route 'bg>de>bg'"),
    (_raw({"routes": {"bg": {"low": "bg>mk>bg"}}}), "no route: \\['ru'\\]"),
    (_raw({}), "params must be a non-empty mapping"),
    (_raw(None, parmas={"routes": ROUTES}), "unknown fields \\['parmas'\\]"),
])
def test_bad_params_are_data_errors_naming_the_spec(raw: dict[str, Any], message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad-spec.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        load_spec(path)
    assert str(path) in str(caught.value) and caught.value.exit_code == 2


def test_a_family_refuses_params_it_does_not_take() -> None:
    """synonym became configurable (`rules`, issue #14): another family's params are refused."""
    raw = _raw()
    raw["families"] = {"synonym": {"languages": ["bg"], "params": {"routes": ROUTES}}}
    with pytest.raises(DataError, match=r"'synonym' params: unknown parameter\(s\) \['routes'\]"):
        parse_spec(raw)


def test_cli_exits_2_on_a_bad_route(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad-route.yaml"
    path.write_text(yaml.safe_dump(_raw({"routes": {**ROUTES, "ru": {"low": "ru>xx>ru"}}})), encoding="utf-8")
    assert main(["generate", str(tmp_path / "out"), "--spec", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "routes.ru.low" in err and not (tmp_path / "out").exists()


# ------------------------------------------------------------------ params reach the builder


class StandInRoundTrip:
    """Back-translation without MT: appends the route to the hypothesis."""

    family = name = "back_translation"
    version = "test"

    def __init__(self, severity: str, language: str, route: str | None) -> None:
        self.severity, self.language, self.route = severity, language, route
        self.languages = frozenset({language})

    def params(self) -> dict[str, Any]:
        return {"route": self.route}

    def resource_files(self) -> dict[str, str]:
        return {}

    def perturb(self, ex: NLIExample, rng: random.Random) -> NLIExample:
        return ex.with_texts(ex.premise, f"{ex.hypothesis} [{self.route}]")


def stand_in_build(family: str, severity: str, language: str, data_root: Path, **params: Any) -> StandInRoundTrip:
    assert set(params) <= {"route"}
    return StandInRoundTrip(severity, language, params.get("route"))


def test_each_unit_gets_its_route_and_records_it(tmp_path: Path, data_root: Path) -> None:
    spec = parse_spec(_raw({"routes": ROUTES}))
    report = generate(tmp_path / "b", spec=spec, data_root=data_root, builder=stand_in_build, progress=False)
    units = report.manifest["units"]
    assert sorted(units) == ["back_translation/low/bg", "back_translation/low/ru", "back_translation/medium/ru"]
    for key, unit in units.items():
        _, severity, language = key.split("/")
        assert unit["spec_params"] == {"route": ROUTES[language][severity]}
        assert unit["perturbation"]["params"] == {"route": ROUTES[language][severity]}
    line = json.loads((tmp_path / "b" / "back_translation/medium/ru.jsonl").read_text("utf-8").splitlines()[0])
    assert line["hypothesis"].endswith("[ru>be>ru]")
    assert report.manifest["spec"]["families"]["back_translation"]["params"] == {"routes": ROUTES}


def test_units_without_params_record_none(tmp_path: Path, data_root: Path) -> None:
    spec = parse_spec(_raw(languages=["bg"]))
    report = generate(tmp_path / "b", spec=spec, data_root=data_root, builder=stand_in_build, progress=False)
    assert len(report.manifest["units"]) == 3
    for unit in report.manifest["units"].values():
        assert "spec_params" not in unit and unit["perturbation"]["params"] == {"route": None}
    assert "params" not in report.manifest["spec"]["families"]["back_translation"]


def test_candidate_routes_spec_is_valid() -> None:
    spec = load_spec(SPEC_DIR / "candidates" / "back-translation-routes.yaml")
    v11 = load_spec()
    assert (spec.seed, spec.split, spec.sizes["lite"], spec.resources) == (v11.seed, v11.split, v11.sizes["lite"], v11.resources)
    assert list(spec.families) == ["back_translation"] and spec.families["back_translation"].similarity == 0.90
    assert len(spec_units(spec)) == 11
