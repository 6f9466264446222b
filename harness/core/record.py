"""The result record: a documented, versioned JSON schema (`harness/schema/result-v1.json`).

Every number is a JSON number, never a string; every input is named by a hash.  `validate`
is what `submit` runs before a record may enter the leaderboard.
"""

from __future__ import annotations

import json
import platform
import subprocess
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from harness.core.errors import DataError

SCHEMA_VERSION = 1


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(resources.files("harness").joinpath("schema/result-v1.json").read_text("utf-8"))


def validate(record: Any, where: str = "record") -> None:
    """Raise DataError listing every schema violation (path and message)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:20]]
        raise DataError(f"{where} does not match result schema v{SCHEMA_VERSION}:\n" + "\n".join(lines))


def load_record(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: no such result file")
    try:
        record = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    validate(record, str(path))
    return record


def git_state(repo: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the harness checkout, or (None, None) outside git.

    Why checkout_root: an installed package inside some other git tree (a venv in a project)
    must not record that project's commit as the harness's."""
    from harness.core.paths import checkout_root

    repo = repo or checkout_root()
    if repo is None:
        return None, None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                    capture_output=True, text=True, timeout=10, check=True).stdout.strip())
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


def hardware(device: str) -> dict[str, Any]:
    import os

    import torch

    info: dict[str, Any] = {"device": device, "platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    import transformers

    info["transformers"] = transformers.__version__
    return info
