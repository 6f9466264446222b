"""Reduced precision (bf16, int8): only on request, always parity-checked and recorded."""

from __future__ import annotations

import json
from pathlib import Path

from adapters import precision
import numpy as np
import pytest

from adapters.hf import HFAdapter
from harness.cli import main
from harness.data.xnli import load_local
from harness.core.errors import DataError, ModelError


@pytest.fixture(scope="module")
def pairs(data_root: Path) -> list[tuple[str, str]]:
    data = load_local(data_root / "xnli", "dev", ["en", "th", "zh", "hi", "ar"])
    return [(e.premise, e.hypothesis) for items in data.values() for e in items[:20]]


@pytest.mark.parametrize("arch", ["xlmr", "bert"])
def test_bf16_is_parity_checked_and_recorded(arch: str, tiny_xlmr: Path, tiny_bert: Path,
                                             pairs: list[tuple[str, str]]) -> None:
    import torch

    adapter = HFAdapter.load(str(tiny_xlmr if arch == "xlmr" else tiny_bert))
    fp32 = adapter.predict(pairs)
    parity = precision.apply(adapter, "bf16", pairs, min_agreement=0.0)
    assert next(adapter.model.parameters()).dtype == torch.bfloat16
    bf16 = adapter.predict(pairs)
    assert bf16.dtype == np.float32 and np.allclose(bf16.sum(axis=1), 1, atol=1e-5)
    assert np.abs(bf16 - fp32).max() == pytest.approx(parity["max_probability_change"], abs=1e-6)
    identity = adapter.identity()
    assert identity["precision"] == "bfloat16"
    assert identity["precision_parity"] == parity and parity["reference"] == "float32"
    assert parity["n_items"] == len(pairs) and 0 <= parity["label_agreement"] <= 1


def test_refused_bf16_leaves_the_fp32_model(tiny_bert: Path, pairs: list[tuple[str, str]]) -> None:
    import torch

    adapter = HFAdapter.load(str(tiny_bert))
    before = adapter.predict(pairs)
    with pytest.raises(ModelError, match="bf16 changes"):
        precision.apply(adapter, "bf16", pairs, min_agreement=1.01)
    assert next(adapter.model.parameters()).dtype == torch.float32
    assert adapter.identity()["precision"] == "float32"
    np.testing.assert_array_equal(adapter.predict(pairs), before)


def test_parity_items_are_not_counted_as_scored(tiny_bert: Path, pairs: list[tuple[str, str]]) -> None:
    adapter = HFAdapter.load(str(tiny_bert))
    precision.apply(adapter, "bf16", pairs, min_agreement=0.0)
    assert adapter.stats["pairs"] == 0
    adapter.predict(pairs[:5])
    assert adapter.stats["pairs"] == 5


def test_int8_keeps_narrowing_layers_in_fp32(tiny_bert: Path, pairs: list[tuple[str, str]]) -> None:
    import torch

    adapter = HFAdapter.load(str(tiny_bert))
    precision.apply(adapter, "int8", pairs, min_agreement=0.0)
    kept = adapter.identity()["quantization"]["kept_fp32"]
    assert "classifier" in kept and "bert.encoder.layer.0.output.dense" in kept
    assert "bert.encoder.layer.0.attention.self.query" not in kept
    modules = dict(adapter.model.named_modules())
    assert type(modules["classifier"]) is torch.nn.Linear
    assert type(modules["bert.encoder.layer.0.output.dense"]) is torch.nn.Linear
    assert type(modules["bert.encoder.layer.0.attention.self.query"]) is not torch.nn.Linear
    with pytest.raises(ModelError, match="already int8"):
        precision.apply(adapter, "bf16", pairs)


def test_bench_dtype_bf16_is_in_the_record(tmp_path: Path, tiny_bert: Path, data_root: Path) -> None:
    out = tmp_path / "run"
    code = main(["bench", str(tiny_bert), "--data-dir", str(data_root), "--split", "dev", "--limit", "4",
                 "--languages", "en,th", "--dtype", "bf16", "--out", str(out), "--no-cache", "--no-progress"])
    assert code == 0
    record = json.loads((out / "result.json").read_text("utf-8"))
    assert record["model"]["precision"] == "bfloat16"
    assert record["model"]["precision_parity"]["n_items"] == 300
    assert record["truncation"]["pairs"] == 8  # the parity items are not scored items


def test_bench_refuses_int8_with_bf16(tmp_path: Path, tiny_bert: Path, data_root: Path) -> None:
    out = tmp_path / "run"
    code = main(["bench", str(tiny_bert), "--data-dir", str(data_root), "--limit", "2", "--languages", "en",
                 "--quantize", "int8", "--dtype", "bf16", "--out", str(out), "--no-cache", "--no-progress"])
    assert code == 2 and not out.exists()


def test_bad_precision_options_are_refused_before_anything_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.scoring.bench as bench

    def must_not_run(*_: object) -> None:
        raise AssertionError("read before the options were checked")

    for name in ("training_info", "load_eval_data", "load_model"):
        monkeypatch.setattr(bench, name, must_not_run)
    cfg = bench.BenchConfig(model=str(tmp_path / "no-such-model"), out=tmp_path / "run", runtime="onnxruntime",
                            dtype="bf16")
    with pytest.raises(DataError, match="cannot be combined"):
        bench.run(cfg)


@pytest.mark.parametrize("arch", ["xlmr", "bert"])
def test_onnxruntime_matches_torch_and_is_recorded(arch: str, tiny_xlmr: Path, tiny_bert: Path, tmp_path: Path,
                                                   pairs: list[tuple[str, str]]) -> None:
    """Exported once into the cache folder, run by ONNX Runtime: same probabilities as torch fp32."""
    from adapters.precision import OrtModel

    adapter = HFAdapter.load(str(tiny_xlmr if arch == "xlmr" else tiny_bert), batch_size=8)
    torch_probs = adapter.predict(pairs)
    parity = precision.apply(adapter, "onnxruntime", pairs, cache_dir=tmp_path)
    assert isinstance(adapter.model, OrtModel)
    ort_probs = adapter.predict(pairs)
    np.testing.assert_allclose(ort_probs, torch_probs, atol=1e-5)
    assert parity["label_agreement"] == 1.0 and parity["max_probability_change"] < 1e-5
    identity = adapter.identity()
    assert identity["precision"] == "float32-onnxruntime" and identity["runtime"]["name"] == "onnxruntime"
    files = list(tmp_path.glob("*.onnx"))
    assert len(files) == 1 and not list(tmp_path.glob(".*.tmp"))
    again = HFAdapter.load(str(tiny_xlmr if arch == "xlmr" else tiny_bert), batch_size=3)
    precision.apply(again, "onnxruntime", pairs, cache_dir=tmp_path)  # reuses the exported file
    assert list(tmp_path.glob("*.onnx")) == files
    np.testing.assert_allclose(again.predict(pairs), ort_probs, atol=1e-6)  # other batch size, same answers
    with pytest.raises(ModelError, match="already float32-onnxruntime"):
        precision.apply(adapter, "bf16", pairs)


def test_a_failed_onnx_export_leaves_nothing_in_the_cache(tiny_bert: Path, tmp_path: Path, pairs: list[tuple[str, str]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    def broken_export(model: object, args: object, f: object, **_: object) -> None:
        f.write(b"half an onnx file")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    adapter = HFAdapter.load(str(tiny_bert), batch_size=8)
    before = adapter.predict(pairs)
    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(KeyboardInterrupt):
        precision.apply(adapter, "onnxruntime", pairs, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir()), "no file, complete or partial, under the cache key"
    assert not adapter.model.training and adapter.info.get("precision") is None
    np.testing.assert_array_equal(adapter.predict(pairs), before)


def test_bench_runtime_onnxruntime_is_in_the_record_and_the_cache_key(tmp_path: Path, tiny_bert: Path,
                                                                        data_root: Path) -> None:
    common = [str(tiny_bert), "--data-dir", str(data_root), "--split", "dev", "--limit", "4", "--languages", "en,th",
              "--no-progress", "--cache", str(tmp_path / "cache.sqlite")]
    assert main(["bench", *common, "--out", str(tmp_path / "torch")]) == 0
    assert main(["bench", *common, "--runtime", "onnxruntime", "--out", str(tmp_path / "ort")]) == 0
    torch_rec = json.loads((tmp_path / "torch" / "result.json").read_text("utf-8"))
    ort_rec = json.loads((tmp_path / "ort" / "result.json").read_text("utf-8"))
    assert ort_rec["model"]["precision"] == "float32-onnxruntime"
    assert ort_rec["model"]["runtime"]["name"] == "onnxruntime" and ort_rec["model"]["precision_parity"]["n_items"] == 300
    assert ort_rec["inference"]["cache"]["hits"] == 0 and torch_rec["inference"]["cache"]["misses"] == 8  # never served torch answers
    assert ort_rec["results"]["clean"]["per_language"] == torch_rec["results"]["clean"]["per_language"]
    assert main(["bench", *common, "--runtime", "onnxruntime", "--dtype", "bf16", "--out", str(tmp_path / "x")]) == 2


class _Clock:
    """A timer where every fp32 pass takes 1 s and every bf16 pass `bf16_seconds`."""

    def __init__(self, adapter: HFAdapter, bf16_seconds: float) -> None:
        self.adapter, self.bf16_seconds, self.now = adapter, bf16_seconds, 0.0
        self.started: float | None = None

    def __call__(self) -> float:
        import torch

        if self.started is None:
            self.started = self.now
        else:
            bf16 = next(self.adapter.model.parameters()).dtype == torch.bfloat16
            self.now += self.bf16_seconds if bf16 else 1.0
            self.started = None
        return self.now


def test_bf16_slower_than_fp32_on_the_cpu_is_refused_with_the_measurement(tiny_bert: Path,
                                                                          pairs: list[tuple[str, str]]) -> None:
    adapter = HFAdapter.load(str(tiny_bert))
    with pytest.raises(ModelError, match=r"slower than fp32 on this machine: 10.7 vs 64.0 pairs/s \(0.167x\) measured on 64 pairs") as info:
        precision.apply(adapter, "bf16", pairs * 4, min_agreement=0.0, timer=_Clock(adapter, 6.0))
    assert "pairs/s" in str(info.value) and "Score in fp32" in str(info.value)
    assert adapter.identity()["precision"] == "float32"  # refused: the fp32 model stays
    ok = precision.apply(adapter, "bf16", pairs * 4, min_agreement=0.0, timer=_Clock(adapter, 0.5))
    assert ok["label_agreement"] >= 0.0 and adapter.identity()["precision"] == "bfloat16"


def test_too_short_a_timing_decides_nothing(tiny_bert: Path, pairs: list[tuple[str, str]]) -> None:
    adapter = HFAdapter.load(str(tiny_bert))
    cast = adapter.model
    assert precision.check_not_slower(adapter, cast, pairs, "--dtype bf16", timer=lambda: 0.0)["skipped"]


def test_a_backend_without_a_precision_is_refused_by_name() -> None:
    class Plain:
        def identity(self) -> dict[str, str]:
            return {"adapter": "plain"}

    with pytest.raises(ModelError, match="the plain adapter does not offer bf16"):
        precision.apply(Plain(), "bf16", [])
    with pytest.raises(DataError, match="Did you mean: bf16"):
        precision.apply(Plain(), "bf61", [])
