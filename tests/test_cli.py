"""End to end through the console entry point on real XNLI dev rows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.record import load_record


def test_help_is_fast_and_lists_only_working_commands() -> None:
    code = "import sys, harness.cli as c; c.parser(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch','transformers','datasets','nltk')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", "--help must not import heavy libraries"


def test_bench_submit_leaderboard(tmp_path: Path, tiny_xlmr: Path, data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["bench", str(tiny_xlmr), "--data-dir", str(data_root), "--split", "dev", "--limit", "6",
                 "--out", str(out), "--no-progress", "--regime", "stilts", "--intermediate-tasks", "anli,qqp"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| macro" in printed and "label map (config)" in printed
    record = load_record(out / "result.json")  # validates against the schema
    assert record["data"]["n_items"] == {lang: 6 for lang in record["data"]["languages"]}
    assert len(record["data"]["languages"]) == 15
    assert record["data"]["files"]["xnli/dev-th.tsv.gz"] == __import__("harness.core.hashing").core.hashing.sha256_file(data_root / "xnli" / "dev-th.tsv.gz")
    assert record["training"] == {"regime": "stilts", "intermediate_tasks": ["anli", "qqp"], "recipe": None, "recipe_sha256": None}
    en = record["results"]["clean"]["per_language"]["en"]
    assert isinstance(en["accuracy"], float) and en["ci_low"] <= en["accuracy"] <= en["ci_high"]
    # per-example predictions beside the record: one row per scored pair
    import gzip
    rows = [json.loads(l) for l in gzip.open(out / "predictions.jsonl.gz", "rt", encoding="utf-8")]
    assert len(rows) == 90 and {r["id"] for r in rows} == {f"dev-{i}" for i in range(6)}
    hits = sum(r["pred"] == r["gold"] for r in rows if r["language"] == "en")
    assert en["accuracy"] == pytest.approx(hits / 6)

    submissions, page = tmp_path / "submissions", tmp_path / "LEADERBOARD.md"
    data = ["--data-dir", str(data_root)]  # gold labels are read from the data the record names
    assert main(["submit", str(out), "--name", "Tiny-STILTs", *data, "--submissions", str(submissions), "--page", str(page)]) == 0
    text = page.read_text()
    assert "Tiny-STILTs" in text and "stilts" in text and "anli, qqp" in text
    # re-submitting the same name is refused unless --replace
    assert main(["submit", str(out), "--name", "Tiny-STILTs", *data, "--submissions", str(submissions), "--page", str(page)]) == 2
    assert main(["submit", str(out), "--name", "Tiny-STILTs", "--replace", *data, "--submissions", str(submissions), "--page", str(page)]) == 0


def test_bench_refuses_existing_output(tmp_path: Path, tiny_bert: Path, data_root: Path) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    assert main(["bench", str(tiny_bert), "--data-dir", str(data_root), "--limit", "2", "--languages", "en", "--out", str(out)]) == 2


@pytest.mark.parametrize("problem", ["truncated_row", "unknown_label", "empty_premise", "missing_language", "no_checkpoint"])
def test_bad_input_exits_nonzero_and_writes_nothing(problem: str, tmp_path: Path, tiny_bert: Path, data_root: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "data" / "xnli"
    root.mkdir(parents=True)
    good = "A premise.\tA hypothesis.\tentailment\t1\tfiction\n"
    rows = {"truncated_row": good + "Only a premise\n", "unknown_label": "A.\tB.\tyes\t1\tfiction\n",
            "empty_premise": "\tB.\tneutral\t1\tfiction\n"}.get(problem, good)
    (root / "test-en.tsv").write_text(rows, "utf-8")
    model = str(tmp_path / "no-such-model") if problem == "no_checkpoint" else str(tiny_bert)
    languages = "en,fr" if problem == "missing_language" else "en"
    out = tmp_path / "out"
    code = main(["bench", model, "--data-dir", str(tmp_path / "data"), "--languages", languages, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and "Traceback" not in err
    expected = {"truncated_row": "test-en.tsv:2: expected 3 or 5", "unknown_label": "unknown label 'yes'",
                "empty_premise": "empty premise", "missing_language": "no test-fr.tsv",
                "no_checkpoint": "does not exist"}[problem]
    assert expected in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_console_script_runs(tmp_path: Path, tiny_bert: Path, data_root: Path) -> None:
    exe = shutil.which("xnli-robust", path=str(Path(sys.executable).parent))
    assert exe, "the console script must be installed"
    env = {**os.environ, "XNLI_ROBUST_DATA": str(data_root)}
    result = subprocess.run([exe, "bench", str(tiny_bert), "--languages", "en,zh", "--limit", "3", "--split", "dev",
                             "--out", str(tmp_path / "o"), "--no-progress"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "| zh" in result.stdout
    bad = subprocess.run([exe, "bench", str(tiny_bert), "--languages", "xx"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown language" in bad.stderr


def test_bench_without_a_model_is_the_reference_main_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`xnli-robust bench` alone: the direct reference adapter on the lite benchmark, generated once."""
    import harness.generate.run
    import harness.cli as cli

    generated: list[Path] = []
    monkeypatch.setenv("XNLI_ROBUST_HOME", str(tmp_path))  # outputs there; the model still from the checkout
    monkeypatch.setattr(harness.generate.run, "generate", lambda out, **kw: generated.append(out))
    args = cli.parser().parse_args(["bench", "--no-progress"])
    cli._default_job(args)
    assert args.model == str(cli.reference_model()) and Path(args.recipe).name == "recipe.yaml"
    assert (cli.reference_model() / "adapter_model.safetensors").is_file()
    lite = tmp_path / "runs" / "xnli-robust-v1.2-lite"
    assert args.benchmark == lite and generated == [lite] and args.out == tmp_path / "runs" / "default"
