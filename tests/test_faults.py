"""Issue #17: forged records, concurrent submits, debris of killed runs, unchecked names and
input that used to end in a traceback.  Every test checks the message, the exit code, and that
nothing was lost or half-written."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import generate_small_benchmark

from harness.cli import main
from harness.core.hashing import sha256_file

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here writes to the real ~/.cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    monkeypatch.setenv("XNLI_ROBUST_CACHE", str(tmp_path / "home" / "xnli-cache"))


@pytest.fixture(scope="module")
def small_benchmark(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    return generate_small_benchmark(tmp_path_factory.mktemp("faults-bench") / "tiny", data_root, ["en", "th"], 6, 7)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, small_benchmark: Path, tiny_bert: Path) -> Path:
    """A real bench run on the small benchmark (the record every forgery starts from)."""
    out = tmp_path_factory.mktemp("faults-run") / "run"
    assert main(["bench", str(tiny_bert), "--benchmark", str(small_benchmark), "--out", str(out),
                 "--no-progress", "--no-cache", "--allow-unpinned"]) == 0
    return out


def _copy(run: Path, tmp_path: Path, name: str = "copy") -> Path:
    return Path(shutil.copytree(run, tmp_path / name))


def _rows(run: Path) -> list[dict[str, Any]]:
    with gzip.open(run / "predictions.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _write_rows(run: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite the predictions and update the record's sha256, as a forger would."""
    with gzip.open(run / "predictions.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    record = json.loads((run / "result.json").read_text())
    record["predictions"]["sha256"] = sha256_file(run / "predictions.jsonl.gz")
    (run / "result.json").write_text(json.dumps(record, indent=2))


def _submit(run: Path, name: str, subs: Path, page: Path, *extra: str) -> int:
    return main(["submit", str(run), "--name", name, "--submissions", str(subs), "--page", str(page), *extra])


def _nothing_stored(subs: Path, page: Path) -> None:
    assert not subs.exists() or [p.name for p in subs.iterdir() if p.name != ".lock"] == []
    assert not page.exists()


# ---- 1. submit recomputes every number -----------------------------------------------------------

def test_record_with_raised_accuracies_is_refused(scored: Path, small_benchmark: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(scored, tmp_path)
    record = json.loads((run / "result.json").read_text())
    clean = record["results"]["clean"]
    for scores in [*clean["per_language"].values(), clean["macro"]]:
        scores.update({k: min(1.0, scores[k] + 0.2) for k in ("accuracy", "ci_low", "ci_high")})
    (run / "result.json").write_text(json.dumps(record))
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    code = _submit(run, "Forged", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned")
    err = capsys.readouterr().err
    assert code == 3
    assert "error: results/clean/macro/accuracy: the record says" in err and "recomputed" in err
    assert "Traceback" not in err
    _nothing_stored(subs, page)


def test_predictions_edited_to_all_correct_are_refused(scored: Path, small_benchmark: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Gold labels come from the benchmark: rewriting them to the predictions (and every number
    to match, and the sha256) is caught; so is rewriting the predictions to the gold labels."""
    from leaderboard.verify import gold_from_predictions, read_units, recompute

    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    run = _copy(scored, tmp_path, "gold-edited")
    _write_rows(run, [{**r, "gold": r["pred"]} for r in _rows(run)])
    record = json.loads((run / "result.json").read_text())
    units = read_units(run / "predictions.jsonl.gz")
    record["results"] = recompute(units, gold_from_predictions(units), record["seed"])  # consistent forgery
    assert record["results"]["clean"]["macro"]["accuracy"] == 1.0
    (run / "result.json").write_text(json.dumps(record))
    assert _submit(run, "AllRight", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 3
    err = capsys.readouterr().err
    assert "gold label" in err and "differs from the data's" in err and "Traceback" not in err
    _nothing_stored(subs, page)

    run = _copy(scored, tmp_path, "pred-edited")
    _write_rows(run, [{**r, "pred": r["gold"], "probs": [float(r["gold"] == lab) for lab in
                                                          ("entailment", "neutral", "contradiction")]}
                      for r in _rows(run)])
    assert _submit(run, "AllRight", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 3
    err = capsys.readouterr().err
    assert "error: results/clean/macro/accuracy: the record says" in err
    _nothing_stored(subs, page)


def test_item_ids_and_benchmark_hash_must_match(scored: Path, small_benchmark: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    run = _copy(scored, tmp_path, "ids")
    rows = _rows(run)
    rows = [r for r in rows if not (r["set"] == "char_noise/high" and r["language"] == "th")] + \
        [r for r in rows if r["set"] == "char_noise/high" and r["language"] == "th"][:-1]
    _write_rows(run, rows)
    assert _submit(run, "Ids", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 3
    assert "item ids differ from the data's" in capsys.readouterr().err
    run = _copy(scored, tmp_path, "hash")
    record = json.loads((run / "result.json").read_text())
    record["data"]["benchmark"]["benchmark_hash"] = "0" * 64
    (run / "result.json").write_text(json.dumps(record))
    assert _submit(run, "Hash", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 3
    assert f"is not the record's {'0' * 64}" in capsys.readouterr().err
    assert _submit(scored, "NoBench", subs, page) == 2
    assert "pass --benchmark DIR" in capsys.readouterr().err
    _nothing_stored(subs, page)


def test_unpinned_benchmark_needs_a_flag_and_is_marked(scored: Path, small_benchmark: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    assert _submit(scored, "Tiny", subs, page, "--benchmark", str(small_benchmark)) == 2
    assert "--allow-unpinned" in capsys.readouterr().err
    _nothing_stored(subs, page)
    assert _submit(scored, "Tiny", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 0
    text = page.read_text()
    assert "xnli-robust-test-v0-tiny (unpinned)" in text and "test (unpinned benchmark)" in text
    stamp = json.loads((subs / "Tiny" / "verification.json").read_text())
    assert stamp["benchmark_pinned"] is False and stamp["gold_source"].startswith("benchmark ")


def test_leaderboard_lists_only_stored_records_that_verify(scored: Path, small_benchmark: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    for name in ("Good", "Edited"):
        assert _submit(scored, name, subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 0
    stored = subs / "Edited" / "result.json"
    record = json.loads(stored.read_text())
    record["results"]["clean"]["per_language"]["en"]["accuracy"] += 0.2
    stored.write_text(json.dumps(record))  # edited by hand after submit
    capsys.readouterr()
    assert main(["leaderboard", "--submissions", str(subs), "--page", str(page)]) == 0
    text = page.read_text()
    assert "[Good](" in text and "[Edited](" not in text
    assert "## Not listed (failed verification)" in text and "- `Edited`: results/clean/per_language/en/accuracy" in text
    assert "warning: Edited is not listed" in capsys.readouterr().err


def test_reference_submissions_verify() -> None:
    """The committed records recompute exactly from their predictions (render-time check)."""
    from harness.core.record import load_record
    from leaderboard.verify import verify_stored

    folders = sorted(p.parent for p in (REPO / "submissions").glob("*/result.json"))
    assert folders
    for folder in folders[:3]:
        assert verify_stored(folder, load_record(folder / "result.json")).numbers_checked > 1000


# ---- 2. concurrency and debris -------------------------------------------------------------------

def _cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _submit_args(run: Path, name: str, subs: Path, page: Path, bench: Path) -> list[str]:
    return ["submit", str(run), "--name", name, "--benchmark", str(bench), "--allow-unpinned",
            "--submissions", str(subs), "--page", str(page)]


def _page_rows(page: Path) -> list[str]:
    clean = page.read_text().split("## Clean accuracy, every submission")[1].split("## Robustness")[0]
    return [line for line in clean.splitlines() if line.startswith("| ") and "](../submissions/" in line]


def test_ten_parallel_submits_leave_ten_rows(scored: Path, small_benchmark: Path, tmp_path: Path) -> None:
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    procs = [_cli(*_submit_args(scored, f"Model-{i}", subs, page, small_benchmark)) for i in range(10)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0] * 10, results
    assert len(_page_rows(page)) == 10
    assert sorted(p.name for p in subs.iterdir()) == [".lock", *sorted(f"Model-{i}" for i in range(10))]


def test_two_parallel_submits_of_one_name(scored: Path, small_benchmark: Path, tmp_path: Path) -> None:
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    procs = [_cli(*_submit_args(scored, "Same", subs, page, small_benchmark)) for _ in range(2)]
    results = sorted((p.wait(timeout=300), p.stderr.read()) for p in procs)  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0, 2]
    err = results[1][1]
    assert "error: submission 'Same' already exists" in err and "--replace" in err and "Traceback" not in err
    assert len(_page_rows(page)) == 1
    assert sorted(p.name for p in subs.iterdir()) == [".lock", "Same"]


def test_leftover_temp_folders_are_not_listed_and_are_cleaned(scored: Path, small_benchmark: Path,
                                                              tmp_path: Path) -> None:
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    assert _submit(scored, "Kept", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 0
    half = subs / ".Half.k3x9.tmp"  # a copy killed midway: a truncated record
    half.mkdir()
    (half / "result.json").write_text('{"schema_version": 1, "mod')
    replaced = subs / ".Kept.old"  # a replace killed between its two renames
    os.replace(subs / "Kept", replaced)
    (tmp_path / f".{page.name}.a1b2.tmp").write_text("half a page")
    assert main(["leaderboard", "--submissions", str(subs), "--page", str(page)]) == 0
    assert sorted(p.name for p in subs.iterdir()) == [".lock", "Kept"]
    assert not list(tmp_path.glob(".LB.md.*.tmp"))
    text = page.read_text()
    assert "[Kept](" in text and "Half" not in text and ".tmp" not in text
    assert _submit(scored, "Second", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 0
    assert len(_page_rows(page)) == 2


def test_kill_between_publish_and_page_is_repaired_by_the_next_run(scored: Path, small_benchmark: Path,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from leaderboard import submit as submit_mod

    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    assert _submit(scored, "First", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 0
    before = page.read_text()

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(submit_mod, "atomic_write_text", killed)
    assert _submit(scored, "Second", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 130
    assert page.read_text() == before  # the old page, whole
    monkeypatch.undo()
    assert _submit(scored, "Third", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 0
    assert len(_page_rows(page)) == 3


# ---- 3. names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Bad\nName", "Trailing\n", ".hidden", "a/b", "x" * 65, "", "sp ace"])
def test_bad_names_are_refused(scored: Path, small_benchmark: Path, tmp_path: Path, name: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    code = _submit(scored, name, subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned")
    err = capsys.readouterr().err
    assert code == 2 and f"error: bad submission name {name!r}" in err and "Traceback" not in err
    _nothing_stored(subs, page)


def test_longest_name_is_accepted(scored: Path, small_benchmark: Path, tmp_path: Path) -> None:
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    name = "A" + "b.c_d-" * 10 + "xyz"
    assert len(name) == 64
    assert _submit(scored, name, subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 0
    assert f"[{name}](../submissions/{name}/)" in page.read_text()


# ---- 6. ordinary permissions ---------------------------------------------------------------------

def test_atomic_writes_respect_the_umask(tmp_path: Path) -> None:
    from harness.core.atomic import atomic_dir, atomic_write_json, atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "LEADERBOARD.md", "page\n")
        atomic_write_json(tmp_path / "manifest.json", {"a": 1})
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "x").write_text("x")
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.txt", "p")
    finally:
        os.umask(old)
    mode = lambda name: (tmp_path / name).stat().st_mode & 0o777  # noqa: E731
    assert (mode("LEADERBOARD.md"), mode("manifest.json"), mode("folder")) == (0o644, 0o644, 0o755)
    assert mode("private.txt") == 0o600
    assert not list(tmp_path.glob(".*.tmp"))


# ---- 4. clear errors instead of tracebacks ---------------------------------------------------------

def _bench(model: Path, out: Path, *extra: str) -> list[str]:
    return ["bench", str(model), "--split", "dev", "--limit", "3", "--languages", "en,zh", "--out", str(out),
            "--no-progress", *extra]


def _clean_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
    for needle in needles:
        assert needle in err, err
    return err


def test_max_length_above_the_position_limit(tiny_xlmr: Path, data_root: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import json as _json

    limit = _json.loads((tiny_xlmr / "config.json").read_text())["max_position_embeddings"] - 2  # RoBERTa offset
    out = tmp_path / "out"
    assert main(_bench(tiny_xlmr, out, "--data-dir", str(data_root), "--max-length", str(limit + 1))) == 2
    _clean_error(capsys, f"--max-length {limit + 1} exceeds the model's position limit of {limit} tokens")
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    assert main(_bench(tiny_xlmr, out, "--data-dir", str(data_root), "--max-length", str(limit), "--no-cache")) == 0


def test_out_that_is_a_file_or_under_a_file(tiny_bert: Path, data_root: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    for extra in ((), ("--overwrite",)):
        assert main(_bench(tiny_bert, target, "--data-dir", str(data_root), *extra)) == 2
        _clean_error(capsys, f"--out {target} is an existing file, not an output folder")
    assert main(_bench(tiny_bert, target / "run", "--data-dir", str(data_root))) == 2
    _clean_error(capsys, f"{target} is a file, not a folder")
    assert target.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["notes.txt"]


def test_out_in_an_unwritable_folder(tiny_bert: Path, data_root: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Simulated (the suite may run as root, who can write anywhere): creating a file in the
    parent fails with EACCES, as it does for a user without write permission."""
    import errno
    import tempfile

    locked = tmp_path / "locked"
    locked.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        if Path(kwargs.get("dir") or "") == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(locked))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    assert main(_bench(tiny_bert, locked / "run", "--data-dir", str(data_root))) == 2
    _clean_error(capsys, f"--out {locked / 'run'}: cannot write in {locked} (Permission denied)")
    assert list(locked.iterdir()) == []


def test_unreadable_data_folder(tiny_bert: Path, data_root: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Simulated like the above: looking inside the data root fails with EACCES."""
    import errno

    root = tmp_path / "data"
    shutil.copytree(data_root / "xnli", root / "xnli", ignore=shutil.ignore_patterns("test-*"))
    real = Path.is_file

    def is_file(self: Path) -> bool:
        if str(self).startswith(str(root)):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    out = tmp_path / "out"
    assert main(_bench(tiny_bert, out, "--data-dir", str(root))) == 2
    _clean_error(capsys, f"{root}", "cannot read the data (Permission denied)", "--data-dir")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["file", "empty-folder", "env-empty-folder"])
def test_named_data_root_without_xnli_is_an_error(kind: str, tiny_bert: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from harness.data import sources

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a named data root must never fall through to a download")

    monkeypatch.setattr(sources, "ensure_xnli10", no_download)
    root = tmp_path / "root"
    root.write_text("x") if kind == "file" else root.mkdir()
    extra: tuple[str, ...] = ("--data-dir", str(root))
    if kind == "env-empty-folder":
        monkeypatch.setenv("XNLI_ROBUST_DATA", str(root))
        extra = ()
    out = tmp_path / "out"
    assert main(_bench(tiny_bert, out, *extra)) == 2
    expected = "is not a folder" if kind == "file" else "holds no XNLI dev files"
    _clean_error(capsys, f"data root {root}", expected)
    assert not out.exists()


def _bad_pickle_checkpoint(tiny_bert: Path, folder: Path) -> Path:
    import pickle

    shutil.copytree(tiny_bert, folder)
    (folder / "model.safetensors").unlink()
    with open(folder / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"weights": os.system}, handle, protocol=2)  # a global the safe loader refuses
    return folder


def test_allow_pickle_on_a_pickle_the_safe_loader_rejects(tiny_bert: Path, data_root: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    model = _bad_pickle_checkpoint(tiny_bert, tmp_path / "ckpt")
    out = tmp_path / "out"
    assert main(_bench(model, out, "--data-dir", str(data_root), "--allow-pickle", "--no-cache")) == 2
    _clean_error(capsys, f"{model}: torch's safe loader (weights_only) rejects the pickled weights")
    assert not out.exists()


def test_corrupt_prediction_caches_are_rebuilt_or_refused_row_by_row(tiny_bert: Path, data_root: Path,
                                                                       tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    from adapters.cache import TABLE, row_digest

    plain = tmp_path / "plain"
    assert main(_bench(tiny_bert, plain, "--data-dir", str(data_root), "--no-cache")) == 0
    expected = json.loads((plain / "result.json").read_text())["results"]
    cache = tmp_path / "p.sqlite"

    def scored(name: str) -> dict[str, Any]:
        capsys.readouterr()
        assert main(_bench(tiny_bert, tmp_path / name, "--data-dir", str(data_root), "--cache", str(cache))) == 0
        record = json.loads((tmp_path / name / "result.json").read_text())
        assert record["results"] == expected
        return record["inference"]["cache"]

    cache.write_bytes(b"this is not a database" * 100)
    capsys.readouterr()
    assert main(_bench(tiny_bert, tmp_path / "not-a-db", "--data-dir", str(data_root), "--cache", str(cache))) == 0
    err = capsys.readouterr().err
    assert f"warning: prediction cache {cache} is unreadable" in err and "Traceback" not in err
    assert json.loads((tmp_path / "not-a-db" / "result.json").read_text())["results"] == expected
    assert (tmp_path / "p.sqlite.corrupt").read_bytes().startswith(b"this is not")
    assert scored("warm") == {"hits": 6, "misses": 0}

    with sqlite3.connect(cache) as db:  # wrong probabilities (old checksum), and a short row (right checksum)
        rows = db.execute(f"SELECT model, pair, probs FROM {TABLE} ORDER BY pair").fetchall()
        (m0, p0, b0), (m1, p1, b1) = rows[:2]
        forged = np.array([0.98, 0.01, 0.01], dtype=np.float32).tobytes()
        db.execute(f"UPDATE {TABLE} SET probs = ? WHERE pair = ?", (forged, p0))
        db.execute(f"UPDATE {TABLE} SET probs = ?, digest = ? WHERE pair = ?", (b1[:8], row_digest(m1, p1, b1[:8]), p1))
    assert scored("tampered") == {"hits": 4, "misses": 2, "rejected": 2}
    assert "2 row(s) failed their checksum or shape and were recomputed, not served" in capsys.readouterr().err
    assert scored("repaired") == {"hits": 6, "misses": 0}

    data = bytearray(cache.read_bytes())  # damage the file's pages
    data[100:4000] = b"\xff" * 3900
    cache.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(_bench(tiny_bert, tmp_path / "damaged", "--data-dir", str(data_root), "--cache", str(cache))) == 0
    err = capsys.readouterr().err
    assert "warning: prediction cache" in err and "Traceback" not in err
    assert json.loads((tmp_path / "damaged" / "result.json").read_text())["results"] == expected


# ---- 5. records say what happened ----------------------------------------------------------------

def test_ignored_remote_code_is_recorded(tiny_bert: Path, data_root: Path, tmp_path: Path) -> None:
    model = Path(shutil.copytree(tiny_bert, tmp_path / "ckpt"))
    config = json.loads((model / "config.json").read_text())
    auto_map = {"AutoModelForSequenceClassification": "modeling_custom.CustomForNLI"}
    (model / "config.json").write_text(json.dumps({**config, "auto_map": auto_map}))
    out = tmp_path / "out"
    assert main(_bench(model, out, "--data-dir", str(data_root), "--no-cache")) == 0
    record = json.loads((out / "result.json").read_text())
    assert record["model"]["remote_code"] == {"auto_map": auto_map, "used": False,
                                              "note": "ignored: scored with the built-in bert class"}
    assert record["model"]["architecture"] == "BertForSequenceClassification"
    plain = tmp_path / "plain"
    assert main(_bench(tiny_bert, plain, "--data-dir", str(data_root), "--no-cache")) == 0
    assert json.loads((plain / "result.json").read_text())["model"]["remote_code"] is None


def test_unpinned_benchmark_is_scored_only_on_request(small_benchmark: Path, tiny_bert: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    common = ["bench", str(tiny_bert), "--benchmark", str(small_benchmark), "--out", str(out), "--no-progress",
              "--no-cache", "--languages", "en,th"]
    assert main(common) == 2
    _clean_error(capsys, "no spec pins this benchmark's hash", "--allow-unpinned")
    assert not out.exists()
    assert main([*common, "--allow-unpinned"]) == 0
    bench = json.loads((out / "result.json").read_text())["data"]["benchmark"]
    assert bench["verified"] is True and bench["matches_spec"] is None
    assert "unpinned" in bench["verification"] and bench["notes"]


# ---- 7. a killed bench leaves nothing that stays -------------------------------------------------

KILL_DURING_BENCH = """
import os, signal, sys
import harness.scoring.bench as bench
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs: a real kill
bench.write_predictions = killed
from harness.cli import main
main(sys.argv[1:])
"""


def test_a_killed_bench_leaves_a_temp_folder_the_next_run_removes(tiny_bert: Path, data_root: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = _bench(tiny_bert, out, "--data-dir", str(data_root), "--no-cache")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", KILL_DURING_BENCH, *args], env=env, capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    debris = list(tmp_path.glob(".run.*.tmp"))
    assert len(debris) == 1 and debris[0].name.startswith(".run.") and not out.exists()
    live = tmp_path / f".run.{os.getpid()}.live.tmp"  # a run still in progress (this process): kept
    live.mkdir()
    assert main(args) == 0
    assert (out / "result.json").is_file()
    assert sorted(p.name for p in tmp_path.glob(".run.*.tmp")) == [live.name]


def test_a_replace_killed_between_its_renames_leaves_the_old_folder(tmp_path: Path) -> None:
    from harness.core.atomic import atomic_dir

    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "v").write_text("old")
    os.replace(target, tmp_path / ".out.old")  # the state a kill between the two renames leaves
    with pytest.raises(RuntimeError):
        with atomic_dir(target, replace=True):
            raise RuntimeError("the next run fails too")
    assert (target / "v").read_text() == "old" and not (tmp_path / ".out.old").exists()


def test_predictions_that_cannot_be_scored_are_an_integrity_failure(scored: Path, small_benchmark: Path,
                                                                    tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(scored, tmp_path)
    rows = _rows(run)
    _write_rows(run, [r for r in rows if r["set"] != "clean"] + [r for r in rows if r["set"] == "clean"])
    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    assert _submit(run, "Reordered", subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 3
    _clean_error(capsys, "scored before (or without) its clean items")
    _nothing_stored(subs, page)


def test_attack_out_that_is_a_file(tmp_path: Path, tiny_bert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "attack.txt"
    target.write_text("keep")
    assert main(["attack", str(tiny_bert), "--recipe", "charnoise", "--out", str(target), "--no-progress"]) == 2
    _clean_error(capsys, f"--out {target} is an existing file, not an output folder")
    assert target.read_text() == "keep"


def test_leaderboard_with_the_benchmark_catches_gold_edited_after_submit(scored: Path, small_benchmark: Path,
                                                                         tmp_path: Path) -> None:
    """Without the benchmark the page can only check stored records against their own
    predictions (gold labels were checked at submit); given it, gold labels come from it."""
    from leaderboard.verify import gold_from_predictions, read_units, recompute

    subs, page = tmp_path / "subs", tmp_path / "LB.md"
    for name in ("Honest", "Doctored"):
        assert _submit(scored, name, subs, page, "--benchmark", str(small_benchmark), "--allow-unpinned") == 0
    stored = subs / "Doctored"
    _write_rows(stored, [{**r, "gold": r["pred"]} for r in _rows(stored)])
    record = json.loads((stored / "result.json").read_text())
    units = read_units(stored / "predictions.jsonl.gz")
    record["results"] = recompute(units, gold_from_predictions(units), record["seed"])
    (stored / "result.json").write_text(json.dumps(record))
    assert main(["leaderboard", "--submissions", str(subs), "--page", str(page)]) == 0
    assert "[Doctored](" in page.read_text()  # consistent with itself: the documented limit
    assert main(["leaderboard", "--submissions", str(subs), "--page", str(page),
                 "--benchmark", str(small_benchmark)]) == 0
    text = page.read_text()
    assert "[Honest](" in text and "[Doctored](" not in text and "- `Doctored`: predictions clean" in text
