"""`bench --benchmark` streams: one perturbed unit at a time, with the all-in-memory results.

The reference here is the implementation before streaming (every set loaded, every probability
kept, the predictions file built in memory, the metrics from plain dicts), written out in the
test: the streamed run must give the same record results and byte-identical predictions.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import generate_small_benchmark

from harness import LABELS
from harness.bench import BenchConfig, run, score_set
from harness.benchmark import Benchmark, load_benchmark
from harness.robustness import ABSENT, LabelArray, summarise


@pytest.fixture(scope="module")
def streamed_benchmark(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A small real benchmark: 10 items in en, zh, sw; two families, three severities."""
    return generate_small_benchmark(tmp_path_factory.mktemp("streamed") / "tiny", data_root, ["en", "zh", "sw"], 10, 11)


def in_memory_reference(model: Path, benchmark: Path, languages: tuple[str, ...], limit: int | None,
                        seed: int) -> tuple[dict, bytes]:
    """Results and predictions bytes as the pre-streaming `bench` computed them."""
    from adapters import load_adapter

    bench = load_benchmark(benchmark, verify_files=False)
    clean = {lang: bench.clean(lang)[:limit] for lang in languages if lang in bench.languages}
    keep = {lang: {e.id for e in items} for lang, items in clean.items()}
    sets: dict[str, dict[str, list]] = {"clean": clean}
    for unit in bench.units():
        if unit.language in keep:
            items = [p.example for p in bench.perturbed(*unit) if p.example.id in keep[unit.language]]
            sets.setdefault(f"{unit.family}/{unit.severity}", {})[unit.language] = items
    adapter = load_adapter("hf", str(model), max_length=128, batch_size=32, progress=False)
    probs = {s: {lang: adapter.predict([(e.premise, e.hypothesis) for e in items]) for lang, items in by_lang.items()}
             for s, by_lang in sets.items()}

    def predictions(s: str) -> dict[str, dict[str, int]]:
        return {lang: {e.id: int(row.argmax()) for e, row in zip(items, probs[s][lang])} for lang, items in sets[s].items()}

    perturbed: dict[str, dict] = {}
    for s in sets:
        if s != "clean":
            family, severity = s.split("/")
            perturbed.setdefault(family, {})[severity] = predictions(s)
    gold = {lang: {e.id: e.label for e in items} for lang, items in clean.items()}
    summary = summarise(gold, predictions("clean"), perturbed, seed)
    results = {"clean": score_set(clean, probs["clean"], seed), "perturbed": {"families": summary["families"]},
               "worst_case": summary["worst_case"]}
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        for s, by_lang in sets.items():
            for lang, items in by_lang.items():
                for e, row in zip(items, probs[s][lang]):
                    line = {"set": s, "language": lang, "id": e.id, "gold": LABELS[e.label],
                            "pred": LABELS[int(row.argmax())], "probs": [round(float(p), 6) for p in row]}
                    handle.write((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))
    return json.loads(json.dumps(results)), buffer.getvalue()


@pytest.mark.parametrize(("languages", "limit"), [(("en", "zh", "sw"), None), (("sw", "en"), 6)],
                         ids=["all", "limit-6-sw-en"])
def test_streamed_run_equals_the_in_memory_one(streamed_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                               languages: tuple[str, ...], limit: int | None,
                                               one_torch_thread: None) -> None:
    cfg = BenchConfig(model=str(tiny_bert), out=tmp_path / "run", benchmark=streamed_benchmark, languages=languages,
                      limit=limit, progress=False, verify_benchmark=False)
    record = run(cfg)
    results, blob = in_memory_reference(tiny_bert, streamed_benchmark, languages, limit, cfg.seed)
    published = (tmp_path / "run" / "predictions.jsonl.gz").read_bytes()
    assert published == blob
    assert record["predictions"]["sha256"] == hashlib.sha256(blob).hexdigest()
    assert json.loads((tmp_path / "run" / "result.json").read_text())["results"] == results
    assert record["timing"]["pairs_per_second"] > 0
    with gzip.open(io.BytesIO(blob)) as lines:
        assert record["truncation"]["pairs"] == sum(1 for _ in lines)


def test_units_are_read_one_at_a_time(streamed_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, one_torch_thread: None) -> None:
    """Nothing perturbed is read before scoring starts, and each unit is scored before the next is read."""
    from adapters.hf import HFAdapter

    events: list[str] = []
    read, predict = Benchmark.perturbed, HFAdapter.predict
    monkeypatch.setattr(Benchmark, "perturbed", lambda self, *unit: events.append("read") or read(self, *unit))
    monkeypatch.setattr(HFAdapter, "predict", lambda self, pairs: events.append("predict") or predict(self, pairs))
    cfg = BenchConfig(model=str(tiny_bert), out=tmp_path / "run", benchmark=streamed_benchmark, languages=("en", "zh"),
                      progress=False, verify_benchmark=False)
    run(cfg)
    assert events[:2] == ["predict", "predict"]  # clean en, zh
    assert events[2:] == ["read", "predict"] * 6  # 3 sets x 2 languages


def test_an_interrupted_run_leaves_nothing(streamed_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, one_torch_thread: None) -> None:
    read, calls = Benchmark.perturbed, []

    def fail_on_third(self: Benchmark, *unit: str) -> list:
        calls.append(unit)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return read(self, *unit)

    monkeypatch.setattr(Benchmark, "perturbed", fail_on_third)
    cfg = BenchConfig(model=str(tiny_bert), out=tmp_path / "out" / "run", benchmark=streamed_benchmark,
                      languages=("en",), progress=False, verify_benchmark=False)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    assert list((tmp_path / "out").iterdir()) == [], "no output and no temporary folder left behind"


def test_label_array_reads_like_the_dict_it_replaces() -> None:
    ids = ["a", "b", "c", "d"]
    position = {item: k for k, item in enumerate(ids)}
    view = LabelArray(ids, position, np.array([2, ABSENT, 0, 1], dtype=np.int8))
    assert dict(view) == {"a": 2, "c": 0, "d": 1} and len(view) == 3
    assert "b" not in view and "z" not in view and 3 not in view
    assert sorted(view) == ["a", "c", "d"] and isinstance(view["a"], int)
    with pytest.raises(KeyError):
        view["b"]
    with pytest.raises(ValueError, match="3 labels for 4 items"):
        LabelArray(ids, position, np.zeros(3, dtype=np.int8))
