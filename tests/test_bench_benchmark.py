"""`bench --benchmark`: clean and perturbed scoring, robustness metrics, heat map, leaderboard."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import generate_small_benchmark

from harness.cli import main
from harness.core.record import load_record


@pytest.fixture(scope="module")
def small_benchmark(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A real (small) benchmark: 12 items in en, th, zh; char noise and word code-switching."""
    return generate_small_benchmark(tmp_path_factory.mktemp("bench") / "tiny", data_root, ["en", "th", "zh"], 12, 7)


def test_bench_scores_every_set(small_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["bench", str(tiny_bert), "--benchmark", str(small_benchmark), "--out", str(out),
                 "--no-progress", "--no-cache", "--allow-unpinned"]) == 0
    record = load_record(out / "result.json")
    assert record["data"]["source"] == "benchmark" and record["data"]["benchmark"]["verified"] is True
    families = record["results"]["perturbed"]["families"]
    assert set(families) == {"char_noise", "code_switch"}
    assert set(families["char_noise"]["cells"]) == {"low", "high"}
    rows = [json.loads(l) for l in gzip.open(out / "predictions.jsonl.gz", "rt", encoding="utf-8")]
    sets = {r["set"] for r in rows}
    assert sets == {"clean", "char_noise/low", "char_noise/high", "code_switch/medium"}
    # recompute one cell's flip rate and drop from the per-example predictions
    clean = {(r["language"], r["id"]): r for r in rows if r["set"] == "clean"}
    cell = [r for r in rows if r["set"] == "char_noise/high" and r["language"] == "th"]
    flips = sum(r["pred"] != clean[("th", r["id"])]["pred"] for r in cell) / len(cell)
    drop = (sum(clean[("th", r["id"])]["pred"] == r["gold"] for r in cell) - sum(r["pred"] == r["gold"] for r in cell)) / len(cell)
    th = families["char_noise"]["cells"]["high"]["th"]
    assert th["n"] == len(cell) and th["flip_rate"] == pytest.approx(flips) and th["drop"] == pytest.approx(drop)
    worst = record["results"]["worst_case"]["per_language"]["en"]["accuracy"]
    assert worst <= record["results"]["clean"]["per_language"]["en"]["accuracy"]
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    assert main(["submit", str(out), "--name", "Tiny", "--benchmark", str(small_benchmark), "--allow-unpinned",
                 "--submissions", str(subs), "--page", str(page)]) == 0
    text = page.read_text()
    assert "## Robustness on the fixed benchmark" in text and "char_noise" in text
    assert (subs / "Tiny" / "heatmap.png").is_file()


def test_bench_refuses_a_tampered_benchmark(small_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    copy = shutil.copytree(small_benchmark, tmp_path / "copy")
    target = copy / "char_noise" / "low" / "en.jsonl"
    data = bytearray(target.read_bytes())
    data[10] ^= 1
    target.write_bytes(bytes(data))
    code = main(["bench", str(tiny_bert), "--benchmark", str(copy), "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 3 and "verification failed" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_generate_verify_audit_cli(tmp_path: Path, data_root: Path, small_benchmark: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import shutil

    import yaml

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "xnli-robust-test", "version": "0", "seed": 7, "split": "test", "languages": ["hi", "ar"],
        "sizes": {"tiny": {"per_language": 9, "stratify": ["label"]}},
        "families": {"char_noise": {"severities": ["medium"], "languages": "all", "similarity": None}}}))
    out = tmp_path / "gen"
    assert main(["generate", str(out), "--size", "tiny", "--spec", str(spec), "--data-dir", str(data_root),
                 "--no-progress"]) == 0
    assert main(["verify", str(out), "--spec", str(spec)]) == 0
    assert "OK: " in capsys.readouterr().out
    assert main(["audit", str(out), "--out", str(tmp_path / "a.csv"), "--per-cell", "3"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "a.csv", encoding="utf-8-sig")))
    assert len(rows) == 6 and {r["language"] for r in rows} == {"hi", "ar"}
    bad = shutil.copytree(out, tmp_path / "bad")
    target = next((bad / "char_noise").rglob("*.jsonl"))
    target.write_bytes(target.read_bytes().replace(b"{", b"[", 1))
    assert main(["verify", str(bad), "--spec", str(spec)]) == 3
