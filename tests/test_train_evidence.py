"""Stage evidence (held-out accuracy, interval, chance, learned), the loud failure, selection on a
held-out part of MNLI train, the shuffled-label control, and the records and cards that carry it.

Training runs use the tiny random XLM-R of the other training tests (a few steps, ~12 rows);
the committed reference summaries give the real numbers the backfill must reproduce.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from test_train import _stage, write_recipe

from harness.core.errors import HarnessError
from harness.data.tasks import PairItem, in_heldout, load_task, permute_labels
from harness.metrics.learning import (
    HeldOut,
    describe,
    majority_count,
    not_learned,
    stage_evidence,
    task_evidence,
)
from harness.metrics.validity import wilson
from harness.training.evidence import read_training_folder, record_stages
from harness.training.recipe import RecipeError, load_recipe
from harness.training.trainer import StageNotLearned, train

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = sorted(p.parent for p in (REPO / "submissions").glob("*/train_summary.json"))


pytestmark = pytest.mark.usefixtures("one_torch_thread_per_module")


# ---------------------------------------------------------------------------- the statistics


def test_chance_level_is_not_learned_and_a_clear_margin_is() -> None:
    anli = stage_evidence([HeldOut("anli", 219, 627, 3)])  # the reference ANLI stage, seed 1
    low, high = wilson(219, 627)
    assert anli == {"held_out_accuracy": 0.3493, "held_out_correct": 219, "held_out_n": 627,
                    "ci95": [round(low, 4), round(high, 4)], "chance": 0.3333, "majority": None, "learned": False}
    assert low < 1 / 3 < high
    qqp = stage_evidence([HeldOut("qqp", 824, 1000, 2, majority=623)])
    assert qqp["learned"] and qqp["ci95"][0] > 0.623 and qqp["chance"] == 0.5 and qqp["majority"] == 0.623
    assert not_learned(qqp) == [] and not_learned(anli) == [describe(anli)]
    assert describe(anli) == "34.9% [31.3, 38.7] on 627 held-out items, chance 33.3%"
    assert describe(qqp).endswith("chance 50.0%, majority label 62.3%")
    # the lower bound must be *above* chance: 2/3 at n=6 is not evidence
    assert not task_evidence(HeldOut("x", 4, 6, 3))["learned"]
    with pytest.raises(ValueError):
        HeldOut("x", 7, 6, 3)


def test_always_answering_the_majority_label_is_not_learning() -> None:
    """QQP's dev sample is 62.3% "not duplicate": a constant answer clears 1/2 but not the majority."""
    constant = HeldOut("qqp", 623, 1000, 2, majority=623)
    assert wilson(623, 1000)[0] > 0.5
    assert task_evidence(constant)["learned"] is False
    assert task_evidence(HeldOut("qqp", 623, 1000, 2))["learned"] is True  # labels unknown: chance alone
    assert majority_count([0, 1, 1, 2, 1]) == 3 and majority_count([]) == 0


def test_a_mix_is_learned_only_when_every_task_is() -> None:
    mixed = stage_evidence([HeldOut("anli", 223, 627, 3), HeldOut("qqp", 829, 1000, 2)])
    assert mixed["held_out_n"] == 1627 and mixed["held_out_correct"] == 1052
    assert mixed["chance"] == round((627 / 3 + 1000 / 2) / 1627, 4)
    assert mixed["ci95"][0] > mixed["chance"]  # pooled clears chance...
    assert mixed["learned"] is False  # ...but ANLI did not learn
    assert [t["learned"] for t in mixed["per_task"]] == [False, True]
    assert [t["task"] for t in mixed["per_task"]] == ["anli", "qqp"]
    assert not_learned(mixed) == [f"anli {describe(mixed['per_task'][0])}"]
    both = stage_evidence([HeldOut("qqp", 829, 1000, 2), HeldOut("socialiqa", 300, 413, 3)])
    assert both["learned"] is True


# ---------------------------------------------------------------------------- the committed summaries


def test_backfill_reads_the_reference_numbers(data_root: Path) -> None:
    anli = read_training_folder(REPO / "submissions" / "stilts-anli-e5small-s1", data_root)
    assert anli is not None and anli["selected_on"] == "mnli-dev"
    first, final = anli["stages"]
    assert (first["task"], first["held_out_correct"], first["held_out_n"], first["learned"]) == ("anli", 219, 627, False)
    held = load_task("anli", data_root).dev
    assert first["majority"] == round(majority_count([it.label for it in held]) / len(held), 4)
    assert read_training_folder(REPO / "submissions" / "stilts-anli-e5small-s1")["stages"][0]["majority"] is None
    assert "pooled files (sha256(id) < 0.1, 627 items)" in first["selection"]
    assert (final["task"], final["held_out_correct"], final["learned"]) == ("mnli", 678, True)
    assert final["selection"] == "best held-out accuracy on mnli dev (1000 items)"
    mix = read_training_folder(REPO / "submissions" / "stilts-mix-e5small-s1", data_root)["stages"][0]
    # a mix's best_accuracy is a mean: each task's count comes from the log's eval at the best step
    assert [(t["task"], t["held_out_correct"], t["learned"]) for t in mix["per_task"]] == \
        [("anli", 223, False), ("qqp", 829, True), ("socialiqa", 186, True)]
    assert mix["learned"] is False
    summary = json.loads((REPO / "submissions" / "stilts-mix-e5small-s1" / "train_summary.json").read_text())
    without_log = record_stages(summary, [])[0]
    assert without_log["held_out_accuracy"] is None and without_log["learned"] is None


@pytest.mark.parametrize("folder", SUBMISSIONS, ids=lambda p: p.name)
def test_committed_records_and_cards_carry_the_stage_evidence(folder: Path, data_root: Path) -> None:
    from harness.core.record import load_record
    from leaderboard.cards import stages_section

    record = load_record(folder / "result.json")
    expected = read_training_folder(folder, data_root)
    assert {k: record["training"][k] for k in expected} == expected
    assert stages_section(record["training"]) in (folder / "README.md").read_text("utf-8")


# ---------------------------------------------------------------------------- the trainer


def test_stage_evidence_in_the_summary_and_a_loud_warning(tmp_path: Path, tiny_xlmr: Path, data_root: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write_recipe(tmp_path / "r", tiny_xlmr, [_stage("anli", 3), _stage("mnli", 3)])
    summary = train(path, tmp_path / "out", data_root=data_root, progress=False)
    anli, mnli = summary["stages"]
    assert anli["held_out_n"] == 8 and anli["chance"] == 0.3333 and anli["shuffled_labels"] is False
    assert anli["held_out_correct"] == round(anli["best_accuracy"] * 8)
    assert anli["learned"] is False  # 8 items and a few steps of a random model
    assert mnli["selection"] == "best held-out accuracy on mnli dev (8 items)" and "report" not in mnli
    assert summary["selected_on"] == "mnli-dev" and summary["mnli_dev_accuracy"] == mnli["best_accuracy"]
    err = capsys.readouterr().err
    assert "warning: stage 1/2 (anli) did not learn: " + describe(anli) in err
    assert "warning: stage 2/2 (mnli) did not learn" in err and "--require-learned" in err
    record = read_training_folder(tmp_path / "out")
    assert record["stages"][0] == {k: anli[k] for k in record["stages"][0]}
    labels = [it.label for it in load_task("anli", data_root).dev[:8]]
    assert anli["majority"] == round(majority_count(labels) / 8, 4)


def test_require_learned_fails_with_exit_4_and_keeps_no_model(tmp_path: Path, tiny_xlmr: Path,
                                                             data_root: Path) -> None:
    from harness.cli import main

    path = write_recipe(tmp_path / "r", tiny_xlmr, [_stage("qqp", 3), _stage("mnli", 3)])
    out = tmp_path / "out"
    assert main(["train", str(path), "--out", str(out), "--data-dir", str(data_root), "--no-progress",
                 "--require-learned"]) == 4
    assert sorted(p.name for p in out.iterdir()) == ["training_log.jsonl"]  # no checkpoint, adapter or summary
    events = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "not_learned" and events[-1]["stage"] == 0
    assert not any(e["event"] == "stage_start" and e["stage"] == 1 for e in events)  # stopped at stage 1's end
    recipe = yaml.safe_load(path.read_text())
    recipe["training"]["require_learned"] = True
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    with pytest.raises(StageNotLearned, match=r"stage 1/2 \(qqp\) did not learn: .* chance 50.0%") as info:
        train(path, out, data_root=data_root, progress=False)
    assert isinstance(info.value, HarnessError) and info.value.exit_code == 4


def test_selection_on_held_out_mnli_train_and_dev_measured_once(tmp_path: Path, tiny_xlmr: Path,
                                                                data_root: Path) -> None:
    from adapters.checkpoints import load_trained_model

    path = write_recipe(tmp_path / "r", tiny_xlmr, [_stage("mnli", 4)], sources={"mnli": {"selection_fraction": 0.1}})
    out = tmp_path / "out"
    summary = train(path, out, data_root=data_root, progress=False)
    stage = summary["stages"][0]
    assert summary["selected_on"] == "mnli-train-heldout"
    assert stage["selection"] == "best held-out accuracy on mnli held-out part of train (sha256(id) < 0.1, 8 items)"
    data = load_task("mnli", data_root, {"selection_fraction": 0.1})
    assert all(in_heldout(it.id, 0.1) for it in data.dev) and not any(in_heldout(it.id, 0.1) for it in data.train)
    assert len(data.train) + len(data.dev) == 8999 and len(data.report) == 1000
    # dev is the reported number, measured on the saved (selected) weights
    report = stage["report"]["mnli"]
    assert summary["mnli_dev_accuracy"] == report["accuracy"] and summary["mnli_dev_examples"] == report["n"] == 8
    model, tokenizer = load_trained_model(out)
    dev = data.report[:8]
    batch = tokenizer([it.text_a for it in dev], [it.text_b for it in dev], padding=True, truncation=True,
                      max_length=48, return_tensors="pt")
    with torch.no_grad():
        predicted = model.eval()(**batch).logits.argmax(-1).tolist()
    assert report["correct"] == sum(p == it.label for p, it in zip(predicted, dev))
    evals = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()
             if '"event": "eval"' in line]
    assert evals and all(e["per_task"].keys() == {"mnli"} for e in evals)
    assert summary["stages"][0]["data"]["mnli"]["dev_items_sha256"] != summary["stages"][0]["data"]["mnli"]["report_items_sha256"]


def test_shuffled_label_control(tmp_path: Path, tiny_xlmr: Path, data_root: Path) -> None:
    items = [PairItem(str(i), "a", "b", i % 3) for i in range(30)]
    shuffled = permute_labels(items, random.Random(3))
    assert sorted(it.label for it in shuffled) == sorted(it.label for it in items)
    assert [it.label for it in shuffled] != [it.label for it in items]
    assert [it.id for it in shuffled] == [it.id for it in items]
    assert permute_labels(items, random.Random(3)) == shuffled

    plain = write_recipe(tmp_path / "plain", tiny_xlmr, [_stage("qqp", 2, train_limit=40, eval_limit=40), _stage("mnli", 2)])
    control = write_recipe(tmp_path / "control", tiny_xlmr,
                           [_stage("qqp", 2, train_limit=40, eval_limit=40, shuffle_labels=True), _stage("mnli", 2)])
    a = train(plain, tmp_path / "a", data_root=data_root, progress=False)["stages"][0]
    b = train(control, tmp_path / "b", data_root=data_root, progress=False)["stages"][0]
    c = train(control, tmp_path / "c", data_root=data_root, progress=False)["stages"][0]
    assert b["shuffled_labels"] is True and b["steps"] == a["steps"]
    for side in ("train_items_sha256", "dev_items_sha256"):  # both sides shuffled, by the seed
        assert b["data"]["qqp"][side] != a["data"]["qqp"][side]
        assert b["data"]["qqp"][side] == c["data"]["qqp"][side]


@pytest.mark.parametrize("change, message", [
    ({"training": {"require_learned": "yes"}}, "training.require_learned: expected true or false"),
    ({"stages": [{"task": "anli"}, {"task": "mnli", "shuffle_labels": True}]}, "final mnli stage must learn"),
    ({"sources": {"anli": {"selection_fraction": 0.1}}}, "selected on its heldout_fraction"),
    ({"sources": {"mnli": {"heldout_fraction": 0.1}}}, "only a pooled task takes heldout_fraction"),
    ({"sources": {"mnli": {"selection_fraction": 0.9}}}, "selection_fraction"),
])
def test_new_recipe_options_are_validated(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    recipe = {"name": "bad", "regime": "stilts", "base_model": "x", "seed": 1,
              "stages": [{"task": "anli"}, {"task": "mnli"}], **change}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)
