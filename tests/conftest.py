"""Shared fixtures.  Tests never touch the network: hub access is forced offline here too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
