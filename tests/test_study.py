"""The device study script (benchmarks/device/study.py): its plan, and a CPU dry run end to end.

The plan is checked recipe by recipe (every one must load, derive from its reference recipe and
select on held-out MNLI train); the dry run trains tiny models in worker processes, packs them,
resumes, and skips runs an earlier call returned.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from harness.training.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study() -> ModuleType:
    spec = importlib.util.spec_from_file_location("device_study", REPO / "benchmarks" / "device" / "study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_study"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_study_plan_is_the_reference_recipes_with_seeds_selection_and_a_control(study: ModuleType,
                                                                                tmp_path: Path) -> None:
    runs = study.plan("study", list(study.ARMS), study.parse_seeds("1-10"), None)
    assert len(runs) == 5 * 10 and len({r["name"] for r, _ in runs}) == 50
    assert [r["seed"] for r, _ in runs[:5]] == [1] * 5  # seed-major: a cut-short call has whole seeds
    for recipe, origin in runs:
        arm = recipe["name"].rsplit("-e5small-v2-s", 1)[0]
        ref = yaml.safe_load((REPO / origin).read_text())
        assert origin == f"submissions/{study.ARMS[arm]}/recipe.yaml"
        assert recipe["sources"] == {"mnli": {"selection_fraction": 0.1}}
        assert recipe["training"] == ref["training"] and recipe["base_model"] == ref["base_model"]
        stages = [{k: v for k, v in s.items() if k != "shuffle_labels"} for s in recipe["stages"]]
        assert stages == ref["stages"]
        assert recipe["stages"][0].get("shuffle_labels", False) == arm.startswith("control-")
        loaded = load_recipe(study.write_recipe(recipe, tmp_path, origin))
        assert loaded.name == recipe["name"] and loaded.seed == recipe["seed"]
    control = next(r for r, _ in runs if r["name"] == "control-qqp-shuffled-e5small-v2-s3")
    assert control["stages"][0]["task"] == "qqp" and control["intermediate_tasks"] == ["qqp"]


def test_diagnosis_grid(study: ModuleType, tmp_path: Path) -> None:
    runs = [r for r, _ in study.plan("diagnose", [], [1], None)]
    names = [r["name"] for r in runs]
    assert len(names) == len(set(names)) == 12
    lrs = {(r["training"]["method"], r["training"].get("lora", {}).get("r"), r["stages"][0]["lr"],
            r["stages"][0]["epochs"]) for r in runs}
    ref_epochs = yaml.safe_load((REPO / "submissions/stilts-anli-e5small-s1/recipe.yaml").read_text())["stages"][0]["epochs"]
    for r in (8, 32):
        assert {("lora", r, lr, ref_epochs) for lr in (1e-4, 5e-4, 2e-3)} <= lrs
        assert {("lora", r, 5e-4, ref_epochs * f) for f in (2, 4)} <= lrs
    assert {("full", None, 2e-5, ref_epochs), ("full", None, 1e-4, ref_epochs)} <= lrs
    wide = next(r for r in runs if r["training"].get("lora", {}).get("r") == 32)
    assert wide["training"]["lora"]["target_modules"] == ["query", "key", "value", "dense"]
    for recipe in runs:
        assert "patience" not in recipe["stages"][0] and recipe["stages"][1]["max_steps"] == 1
        load_recipe(study.write_recipe(recipe, tmp_path, "x"))


def _names(tarball: Path) -> set[str]:
    with tarfile.open(tarball) as tar:
        return set(tar.getnames())


def _status(tarball: Path) -> dict:
    with tarfile.open(tarball) as tar:
        return json.loads(tar.extractfile("study_status.json").read())


@pytest.mark.slow
def test_dry_run_end_to_end(study: ModuleType, tmp_path: Path, tiny_xlmr: Path, data_root: Path) -> None:
    common = ["--dry-run", "--base", str(tiny_xlmr), "--data", str(data_root), "--jobs", "2", "--poll-s", "0.2"]
    work, tar = tmp_path / "work", tmp_path / "out" / "study.tar.gz"
    args = ["study", *common, "--work", str(work), "--tar", str(tar), "--arms", "direct,control-qqp-shuffled",
            "--seeds", "1"]
    assert study.main(args) == 0
    runs = ["control-qqp-shuffled-e5small-v2-s1", "direct-e5small-v2-s1"]
    assert _names(tar) == {"study_status.json"} | {f"{r}/{f}" for r in runs for f in study.MODEL_FILES}
    status = _status(tar)
    assert status["packed"] == runs and all(status["runs"][r]["state"] == "finished" for r in runs)
    control = status["runs"]["control-qqp-shuffled-e5small-v2-s1"]
    assert control["stages"][0]["shuffled_labels"] is True and control["selected_on"] == "mnli-train-heldout"
    summary = json.loads((work / runs[1] / "train_summary.json").read_text())
    assert summary["selected_on"] == "mnli-train-heldout"
    assert (work / runs[1] / "recipe.yaml").read_bytes() == (work / "recipes" / f"{runs[1]}.yaml").read_bytes()
    returned = tmp_path / "returned"
    with tarfile.open(tar) as handle:
        handle.extractall(returned, filter="data")

    # rerun: nothing is trained again; a tiny pack cap leaves runs out and says so
    assert study.main([*args, "--max-pack-mib", "0.001"]) == 0
    status = _status(tar)
    assert status["packed"] == [] and status["left_out_of_pack"] == runs
    assert all(status["runs"][r]["wall_s"] is None for r in runs)  # not launched this time
    # a fresh machine told what an earlier call returned trains none of it
    assert study.main(["study", *common, "--work", str(tmp_path / "fresh"), "--tar", str(tmp_path / "t2.tar.gz"),
                       "--arms", "direct,control-qqp-shuffled", "--seeds", "1", "--done", str(returned)]) == 0
    assert {s["state"] for s in _status(tmp_path / "t2.tar.gz")["runs"].values()} == {"done-earlier"}

    # the diagnosis mode, on its full fine-tuning point: summaries and logs only
    assert study.main(["diagnose", *common, "--work", str(tmp_path / "diag"), "--tar", str(tmp_path / "d.tar.gz"),
                       "--only", "full-lr2e-05"]) == 0
    assert _names(tmp_path / "d.tar.gz") == {"study_status.json"} | {
        f"diag-anli-full-lr2e-05-s1/{f}" for f in study.DIAGNOSIS_FILES}
