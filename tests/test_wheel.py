"""The harness installed from its wheel (not editable), run from another directory.

Why: an installed package sits in site-packages.  Defaults tied to the source tree would write
results there, and data files missing from the wheel (specs, the result schema) only fail
once installed.  The wheel is built from a copy of the working tree, offline, and installed into
a fresh virtual environment that sees the test interpreter's dependencies (torch is not
reinstalled) but not the checkout: no editable finder, no PYTHONPATH, a temporary cwd.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

from harness.core import paths

REPO = Path(__file__).resolve().parents[1]


def _package_data() -> dict[str, list[str]]:
    return tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]


def test_every_package_data_pattern_matches_files() -> None:
    """A listed folder that does not exist (attacks/resources once) ships nothing and hides a typo."""
    empty = [f"{package}/{pattern}" for package, patterns in _package_data().items() for pattern in patterns
             if not [p for p in (REPO / package).glob(pattern) if p.is_file()]]
    assert empty == []


def test_work_home_env_then_checkout_then_cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    assert paths.checkout_root() == REPO and paths.work_home() == REPO  # `make bench` writes to runs/ here
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    assert paths.work_home() == tmp_path / "home"
    monkeypatch.delenv(paths.HOME_ENV)
    monkeypatch.setattr(paths, "checkout_root", lambda: None)  # as when installed
    monkeypatch.chdir(tmp_path)
    assert paths.work_home() == tmp_path


# ---- the installed wheel -----------------------------------------------------------------------

def _source_copy(dest: Path) -> Path:
    """pyproject, README and the top-level packages: what the wheel is built from, nothing else
    (an in-place build would leave build/ and *.egg-info in the checkout)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for package in sorted(p for p in REPO.iterdir() if (p / "__init__.py").is_file()):
        shutil.copytree(package, dest / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _fresh_venv(folder: Path) -> tuple[Path, Path]:
    """(python, site-packages) of a new venv whose only extra path is this interpreter's
    site-packages, added as a plain path so its .pth files (the editable finder) are not run."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n", "utf-8")
    return python, site


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", paths.HOME_ENV)}
    return {**env, **extra}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(venv folder, its site-packages) with the wheel of this working tree installed."""
    base = tmp_path_factory.mktemp("wheel")
    source = _source_copy(base / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", base / "dist", source],
                   check=True, env=_clean_env())
    wheel = next((base / "dist").glob("xnli_robust-*.whl"))
    python, site = _fresh_venv(base / "venv")
    subprocess.run([python, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "install", "-q",
                    "--no-deps", "--no-index", "--ignore-installed", wheel], check=True, env=_clean_env())
    return base / "venv", site


def _files(folder: Path) -> set[str]:
    """Everything under `folder` except bytecode caches (the interpreter's, not ours)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


def _bench(venv_dir: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([venv_dir / "bin" / "xnli-robust", "bench", *args], cwd=cwd, capture_output=True,
                          text=True, env=_clean_env(**env))


def test_installed_wheel_writes_where_it_is_run(installed: tuple[Path, Path], tiny_xlmr: Path, data_root: Path,
                                                tmp_path: Path) -> None:
    venv_dir, site = installed
    python = venv_dir / "bin" / "python"
    probe = ("import json, harness, harness.data.spec as b, harness.core.record as r; "
             "spec = b.load_spec(); "
             "print(json.dumps({'harness': harness.__file__, 'spec': str(b.DEFAULT_SPEC), 'id': spec.id, "
             "'pins': sorted(b.read_pinned_files(spec, 'lite') or {}), 'schema': r.schema()['title'], "
             "'audits': len(list((b.SPEC_DIR / 'audits').glob('*/*.audit.jsonl')))}))")
    found = json.loads(subprocess.run([python, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                                      check=True, env=_clean_env()).stdout)
    assert Path(found["harness"]).is_relative_to(site), f"the checkout was imported: {found['harness']}"
    assert Path(found["spec"]).is_relative_to(site) and found["id"] and found["pins"] and found["schema"]
    assert found["audits"] > 0, "the committed audits ship with the package (the export's data card reads them)"

    before = _files(site)
    quick = [str(tiny_xlmr), "--source", "local", "--languages", "en,fr", "--limit", "3", "--no-cache", "--no-progress"]
    data = {"XNLI_ROBUST_DATA": str(data_root)}
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    run = _bench(venv_dir, cwd, *quick, **data)
    assert run.returncode == 0, run.stderr
    record = json.loads((cwd / "runs" / tiny_xlmr.name / "result.json").read_text("utf-8"))
    assert record["data"]["n_items"] == {"en": 3, "fr": 3}
    assert record["harness"]["git_commit"] is None  # installed: no checkout's commit is claimed

    home = tmp_path / "home"
    run = _bench(venv_dir, cwd, *quick, **data, XNLI_ROBUST_HOME=str(home))
    assert run.returncode == 0, run.stderr
    assert (home / "runs" / tiny_xlmr.name / "result.json").is_file()

    run = _bench(venv_dir, cwd, **data)  # no model: the reference submission is not installed
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "Pass a checkpoint" in run.stderr and "submissions/direct-e5small-s1" in run.stderr
    assert _files(site) == before, "the installed package folder was written to"
    assert sorted(p.name for p in cwd.iterdir()) == ["runs"] and sorted(p.name for p in (cwd / "runs").iterdir()) == [tiny_xlmr.name]
