"""The HF adapter: label maps, batching invariance, safe loading, hub path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from adapters import precision
import numpy as np
import pytest

from adapters import checkpoints
from adapters.hf import HFAdapter
from adapters.labels import from_config, parse_override
from harness.data.xnli import load_local
from harness.core.errors import ModelError
from tiny_models import build_checkpoint, permuted_copy


@pytest.fixture(scope="module")
def pairs(data_root: Path) -> list[tuple[str, str]]:
    data = load_local(data_root / "xnli", "dev", ["en", "th", "zh", "hi", "ar"])
    return [(e.premise, e.hypothesis) for items in data.values() for e in items[:30]]


@pytest.mark.parametrize("arch", ["xlmr", "bert"])
def test_permuted_classifier_scores_identically(arch: str, tiny_xlmr: Path, tiny_bert: Path, tmp_path: Path,
                                                pairs: list[tuple[str, str]]) -> None:
    source = tiny_xlmr if arch == "xlmr" else tiny_bert
    permuted = permuted_copy(source, tmp_path / "permuted", (2, 0, 1))
    assert json.loads((permuted / "config.json").read_text())["id2label"]["0"] == "contradiction"
    a, b = HFAdapter.load(str(source)), HFAdapter.load(str(permuted))
    assert b.identity()["label_map"] == {"entailment": 1, "neutral": 2, "contradiction": 0}
    pa, pb = a.predict(pairs), b.predict(pairs)
    np.testing.assert_allclose(pa, pb, atol=1e-6)
    assert pa.std(axis=0).max() > 1e-3, "outputs must vary across items for the test to mean anything"
    assert not np.allclose(pa[:, 0], pa[:, 1]), "the three outputs must differ"


def test_batch_size_and_order_do_not_change_predictions(tiny_xlmr: Path, pairs: list[tuple[str, str]]) -> None:
    one = HFAdapter.load(str(tiny_xlmr), batch_size=1).predict(pairs)
    many = HFAdapter.load(str(tiny_xlmr), batch_size=64).predict(pairs)
    assert (one.argmax(1) == many.argmax(1)).all()
    np.testing.assert_allclose(one, many, atol=1e-5)
    order = np.random.default_rng(0).permutation(len(pairs))
    shuffled = HFAdapter.load(str(tiny_xlmr), batch_size=7).predict([pairs[i] for i in order])
    np.testing.assert_allclose(shuffled, many[order], atol=1e-5)


def test_truncation_is_counted(tiny_xlmr: Path, pairs: list[tuple[str, str]]) -> None:
    adapter = HFAdapter.load(str(tiny_xlmr), max_length=16)
    probs = adapter.predict(pairs)
    assert probs.shape == (len(pairs), 3)
    assert 0 < adapter.stats["truncated"] <= adapter.stats["pairs"] == len(pairs)


def _with_labels(source: Path, target: Path, id2label: dict[str, str], num_labels: int = 3) -> Path:
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config["id2label"], config["label2id"] = id2label, {v: int(k) for k, v in id2label.items()}
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_generic_labels_are_refused_or_overridden(tiny_xlmr: Path, tmp_path: Path) -> None:
    generic = _with_labels(tiny_xlmr, tmp_path / "generic", {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"})
    with pytest.raises(ModelError, match="--label-map"):
        HFAdapter.load(str(generic))
    adapter = HFAdapter.load(str(generic), label_map="entailment=2,neutral=0,contradiction=1")
    assert adapter.identity()["label_map_source"] == "override"
    assert adapter.label_map.order == (2, 0, 1)


def test_calibration_recovers_a_permutation(tiny_xlmr: Path) -> None:
    """A fake model that is right 80% of the time in a scrambled output order."""
    from adapters.labels import calibrate

    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, size=300)
    noisy = np.where(rng.random(300) < 0.8, gold, rng.integers(0, 3, size=300))
    model_index = np.array([1, 2, 0])[noisy]  # canonical k lives at output [1,2,0][k]

    def predict(pairs):  # type: ignore[no-untyped-def]
        return np.eye(3)[model_index]

    found = calibrate(predict, [("p", "h")] * 300, gold.tolist())
    assert found.order == (1, 2, 0) and found.source == "calibrated"
    with pytest.raises(ModelError, match="not conclusive"):
        calibrate(lambda pairs: np.eye(3)[rng.integers(0, 3, size=300)], [("p", "h")] * 300, gold.tolist())


def test_label_name_variants_and_two_class() -> None:
    assert from_config({0: "ENTAILMENT", 1: "Neutral", 2: "contradiction"}, 3).order == (0, 1, 2)
    assert from_config({0: "contradiction", 1: "entailment", 2: "neutral"}, 3).order == (1, 2, 0)
    assert from_config({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, 3) is None
    with pytest.raises(ModelError, match="two-class"):
        from_config({0: "entailment", 1: "not_entailment"}, 2)
    with pytest.raises(ModelError, match="distinct"):
        parse_override("entailment=0,neutral=0,contradiction=1", 3)


def test_pickle_only_checkpoint_needs_consent(tmp_path: Path, data_root: Path) -> None:
    folder = build_checkpoint(tmp_path / "pickled", data_root, "bert", safetensors=False)
    if not list(folder.glob("*.bin")):  # transformers 5 always writes safetensors: make a .bin by hand
        import torch
        from safetensors.torch import load_file

        torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="--allow-pickle"):
        HFAdapter.load(str(folder))
    adapter = HFAdapter.load(str(folder), allow_pickle=True)
    assert adapter.identity()["weights_format"] == "pickle"


def test_missing_checkpoint_and_hub_path(tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        HFAdapter.load(str(tmp_path / "nope"))
    # Hub ids go through snapshot_download (the network boundary), then load as a folder.
    snapshot = tmp_path / "hub" / "models--me--tiny" / "snapshots" / ("c0ffee" * 6 + "beef")
    shutil.copytree(tiny_bert, snapshot)
    asked = []
    monkeypatch.setattr(checkpoints, "hub_snapshot_download", lambda repo, rev: asked.append((repo, rev)) or str(snapshot))
    adapter = HFAdapter.load("me/tiny", revision="main")
    assert asked == [("me/tiny", "main")]
    assert adapter.identity()["revision"] == snapshot.name and adapter.identity()["id"] == "me/tiny"

    def offline(repo: str, rev: str | None) -> str:
        raise OSError("offline")

    monkeypatch.setattr(checkpoints, "hub_snapshot_download", offline)
    with pytest.raises(ModelError, match="cannot load 'me/other' from the Hugging Face hub"):
        HFAdapter.load("me/other")


def test_weights_hash_names_the_bytes(tiny_xlmr: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_xlmr, tmp_path / "copy")
    assert checkpoints.weights_sha256(copy) == checkpoints.weights_sha256(tiny_xlmr)
    permuted = permuted_copy(tiny_xlmr, tmp_path / "perm", (1, 0, 2))
    assert checkpoints.weights_sha256(permuted) != checkpoints.weights_sha256(tiny_xlmr)


def test_int8_quantisation_is_parity_checked(tiny_bert: Path, pairs: list[tuple[str, str]]) -> None:
    adapter = HFAdapter.load(str(tiny_bert))
    parity = precision.apply(adapter, "int8", pairs, min_agreement=0.0)
    identity = adapter.identity()
    assert identity["precision"] == "int8-dynamic"
    assert identity["quantization"]["label_agreement"] == parity["label_agreement"] and 0 <= parity["label_agreement"] <= 1
    strict = HFAdapter.load(str(tiny_bert))
    with pytest.raises(ModelError, match="int8 quantisation changes"):
        precision.apply(strict, "int8", pairs, min_agreement=1.01)
