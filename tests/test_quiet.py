"""Quiet by default: third-party load reports and bars hidden, the harness's own warnings kept.

The checkpoint lacks one classifier weight, so transformers 5 prints its "LOAD REPORT" table
(MISSING: classifier.out_proj.bias) and a "Loading weights" bar: both must be gone by default
and back with `--verbose`, while the harness's `warning:` line about the random weight and its
own "scoring" bar (governed by `--no-progress`) show either way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import parser

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def headless_xlmr(tiny_xlmr: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny XLM-R without `classifier.out_proj.bias`: loading it initialises that weight at random."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path_factory.mktemp("headless") / "xlmr-missing-bias"
    shutil.copytree(tiny_xlmr, folder)
    tensors = load_file(folder / "model.safetensors")
    del tensors["classifier.out_proj.bias"]
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def _env() -> dict[str, str]:
    """This interpreter sees this working tree; no quiet setting inherited from the test process."""
    from harness.core.quiet import QUIET_ENV

    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENV}
    return {**env, "PYTHONPATH": str(REPO)}


def _bench_stderr(model: Path, out: Path, data_root: Path, *extra: str) -> str:
    run = subprocess.run([sys.executable, "-m", "harness.cli", "bench", str(model), "--data-dir", str(data_root),
                          "--source", "local", "--languages", "en", "--limit", "3", "--no-cache", "--out", str(out),
                          *extra], capture_output=True, text=True, env=_env(), cwd=out.parent)
    assert run.returncode == 0, run.stderr
    return run.stderr


def test_load_report_hidden_by_default_and_shown_with_verbose(headless_xlmr: Path, data_root: Path,
                                                             tmp_path: Path) -> None:
    quiet = _bench_stderr(headless_xlmr, tmp_path / "quiet", data_root)
    assert "LOAD REPORT" not in quiet and "Loading weights" not in quiet and "[transformers]" not in quiet
    assert "warning: checkpoint" in quiet and "classifier.out_proj.bias" in quiet  # ours, always
    assert "scoring" in quiet  # the harness's own bar: --no-progress governs it, not --verbose

    loud = _bench_stderr(headless_xlmr, tmp_path / "loud", data_root, "--verbose")
    assert "LOAD REPORT" in loud and "MISSING" in loud and "Loading weights" in loud
    assert "warning: checkpoint" in loud


def test_verbose_before_or_after_the_command() -> None:
    assert parser().parse_args(["--verbose", "verify", "x"]).verbose
    assert parser().parse_args(["verify", "x", "--verbose"]).verbose
    assert not parser().parse_args(["verify", "x"]).verbose


PROBE = """
import json, sys, warnings
from harness.core import quiet
quiet.configure(False)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'datasets', 'huggingface_hub'))
import os
env = {v: os.environ.get(v) for v in quiet.QUIET_ENV}
warnings.warn('a real problem')
from transformers.utils import logging
print(json.dumps({'heavy': heavy, 'env': env, 'level': logging.get_verbosity(), 'bars': logging.is_progress_bar_enabled()}))
"""


def test_configure_imports_nothing_keeps_user_choices_and_python_warnings() -> None:
    env = {**_env(), "TRANSFORMERS_VERBOSITY": "info"}  # the user's choice wins over ours
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    found = json.loads(run.stdout)
    assert found["heavy"] == [], "configure must stay import-free (the CLI calls it before every command)"
    assert found["env"]["TRANSFORMERS_VERBOSITY"] == "info" and found["env"]["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    assert found["level"] == 20 and found["bars"] is False  # INFO as asked; bars off (read at import)
    assert "UserWarning: a real problem" in run.stderr


def test_configure_silences_a_library_imported_before_it() -> None:
    code = ("import transformers.utils.logging as l; from harness.core import quiet; quiet.configure(False); "
            "print(l.get_verbosity(), l.is_progress_bar_enabled())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True)
    assert run.stdout.split() == ["40", "False"]  # logging.ERROR, no bars
