"""`python -m harness.generate.subset`: a smaller benchmark is the larger one restricted to its
items (per-item independence across sizes), on two real generated benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import generate_small_benchmark

from harness.generate.subset import main, restriction_problems


def test_a_smaller_size_is_the_larger_restricted_and_a_changed_line_is_found(tmp_path: Path, data_root: Path,
                                                                             capsys) -> None:  # type: ignore[no-untyped-def]
    large = generate_small_benchmark(tmp_path / "large", data_root, ["en", "sw"], 12, seed=5)
    small = generate_small_benchmark(tmp_path / "small", data_root, ["en", "sw"], 6, seed=5)
    small_ids = {json.loads(line)["id"] for line in (small / "clean" / "sw.jsonl").read_text("utf-8").splitlines()}
    large_ids = {json.loads(line)["id"] for line in (large / "clean" / "sw.jsonl").read_text("utf-8").splitlines()}
    assert small_ids < large_ids
    compared, problems = restriction_problems(large, small)
    assert compared == 2 * (1 + 3) and problems == []
    assert main([str(large), str(small)]) == 0

    unit = large / "char_noise" / "high" / "sw.jsonl"
    lines = unit.read_text("utf-8").splitlines(keepends=True)
    kept = next(i for i, line in enumerate(lines) if json.loads(line)["id"] in small_ids)
    record = json.loads(lines[kept])
    record["premise"] = record["premise"] + " x"
    lines[kept] = json.dumps(record, ensure_ascii=False) + "\n"
    unit.write_text("".join(lines), encoding="utf-8")
    _, problems = restriction_problems(large, small)
    assert len(problems) == 1 and problems[0].startswith("char_noise/high/sw.jsonl: ")
    assert main([str(large), str(small)]) == 1
    assert "1 problems" in capsys.readouterr().out
