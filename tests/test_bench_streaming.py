"""`bench --benchmark` streams: a bounded group of perturbed units at a time, with the all-in-memory results.

The reference here is the implementation before streaming (every set loaded, every probability
kept, the predictions file built in memory, the metrics from plain dicts), written out in the
test: the streamed run must give the same record results and byte-identical predictions when
the reference scores the same `predict` calls (one per unit, or units grouped), and the same
labels and results, probabilities within float noise, across groupings.
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
import harness.scoring.bench as bench_module
from harness.scoring.bench import BenchConfig, run, score_set
from harness.data.benchmark import Benchmark, load_benchmark
from harness.metrics.robustness import ABSENT, LabelArray, summarise


@pytest.fixture(scope="module")
def streamed_benchmark(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A small real benchmark: 10 items in en, zh, sw; two families, three severities."""
    return generate_small_benchmark(tmp_path_factory.mktemp("streamed") / "tiny", data_root, ["en", "zh", "sw"], 10, 11)


def in_memory_reference(model: Path, benchmark: Path, languages: tuple[str, ...], limit: int | None,
                        seed: int, per_unit: bool) -> tuple[dict, bytes]:
    """Results and predictions bytes as the pre-streaming `bench` computed them.

    `per_unit`: one `predict` call per (set, language), as `bench` did before grouping; else one
    call for everything (what `bench` does when the whole benchmark fits in GROUP_PAIRS)."""
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
    if per_unit:
        probs = {s: {lang: adapter.predict([(e.premise, e.hypothesis) for e in items]) for lang, items in by_lang.items()}
                 for s, by_lang in sets.items()}
    else:
        every = adapter.predict([(e.premise, e.hypothesis) for by_lang in sets.values()
                                 for items in by_lang.values() for e in items])
        probs, start = {}, 0
        for s, by_lang in sets.items():
            for lang, items in by_lang.items():
                probs.setdefault(s, {})[lang] = every[start:start + len(items)]
                start += len(items)

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


@pytest.mark.parametrize("per_unit", [True, False], ids=["one-call-per-unit", "grouped"])
@pytest.mark.parametrize(("languages", "limit"), [(("en", "zh", "sw"), None), (("sw", "en"), 6)],
                         ids=["all", "limit-6-sw-en"])
def test_streamed_run_equals_the_in_memory_one(streamed_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                               languages: tuple[str, ...], limit: int | None, per_unit: bool,
                                               monkeypatch: pytest.MonkeyPatch, one_torch_thread: None) -> None:
    if per_unit:  # every group closes after its first unit
        monkeypatch.setattr(bench_module, "GROUP_PAIRS", 1)
    cfg = BenchConfig(model=str(tiny_bert), out=tmp_path / "run", benchmark=streamed_benchmark, languages=languages,
                      limit=limit, progress=False, verify_benchmark=False)
    record = run(cfg)
    results, blob = in_memory_reference(tiny_bert, streamed_benchmark, languages, limit, cfg.seed, per_unit)
    published = (tmp_path / "run" / "predictions.jsonl.gz").read_bytes()
    assert published == blob
    assert record["predictions"]["sha256"] == hashlib.sha256(blob).hexdigest()
    assert json.loads((tmp_path / "run" / "result.json").read_text())["results"] == results
    assert record["timing"]["pairs_per_second"] > 0
    with gzip.open(io.BytesIO(blob)) as lines:
        assert record["truncation"]["pairs"] == sum(1 for _ in lines)


def test_units_are_read_one_group_at_a_time(streamed_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, one_torch_thread: None) -> None:
    """Units are read only when their group is scored; a group closes once it holds GROUP_PAIRS pairs."""
    from adapters.hf import HFAdapter

    bench = load_benchmark(streamed_benchmark, verify_files=False)
    sizes = [len(bench.clean("en")), len(bench.clean("zh"))]
    sizes += [len(bench.perturbed(*unit)) for unit in bench.units() if unit.language in ("en", "zh")]
    events: list[str | int] = []
    read, predict = Benchmark.perturbed, HFAdapter.predict
    monkeypatch.setattr(Benchmark, "perturbed", lambda self, *unit: events.append("read") or read(self, *unit))
    monkeypatch.setattr(HFAdapter, "predict", lambda self, pairs: events.append(len(pairs)) or predict(self, pairs))
    monkeypatch.setattr(bench_module, "GROUP_PAIRS", 18)
    cfg = BenchConfig(model=str(tiny_bert), out=tmp_path / "run", benchmark=streamed_benchmark, languages=("en", "zh"),
                      progress=False, verify_benchmark=False)
    run(cfg)
    expected: list[str | int] = []
    group = 0
    for k, size in enumerate(sizes):
        if k >= 2:
            expected.append("read")
        group += size
        if group >= 18 or k == len(sizes) - 1:
            expected.append(group)
            group = 0
    assert events == expected
    assert sum(1 for e in events if isinstance(e, int)) > 2, "the benchmark spans several groups"
    assert all(e < 18 + max(sizes) for e in events if isinstance(e, int)), "a group never exceeds its bound"


def test_grouping_changes_no_label(streamed_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, one_torch_thread: None) -> None:
    """One call per unit and grouped calls: the same results and labels, probabilities within float noise."""
    runs = {}
    for group_pairs in (1, 25, bench_module.GROUP_PAIRS):
        monkeypatch.setattr(bench_module, "GROUP_PAIRS", group_pairs)
        out = tmp_path / f"g{group_pairs}"
        runs[group_pairs] = run(BenchConfig(model=str(tiny_bert), out=out, benchmark=streamed_benchmark,
                                            progress=False, verify_benchmark=False)), _rows(out)
    (base, base_rows), others = runs[1], [runs[g] for g in runs if g != 1]
    for record, rows in others:
        assert record["results"] == base["results"]
        assert [r[:4] for r in rows] == [r[:4] for r in base_rows]
        np.testing.assert_allclose([r[4] for r in rows], [r[4] for r in base_rows], atol=1e-5)


def _rows(out: Path) -> list[tuple]:
    with gzip.open(out / "predictions.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [(d["set"], d["language"], d["id"], d["pred"], d["probs"]) for d in map(json.loads, handle)]


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
