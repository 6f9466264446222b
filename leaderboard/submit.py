"""`xnli-robust submit`: validate a record, store it under `submissions/NAME/`, regenerate.

Writes are atomic (the submission folder is published whole, the page replaced by rename),
so an interrupted submit never leaves a broken record or leaderboard.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from harness.atomic import atomic_dir, atomic_write_text
from harness.errors import DataError, HarnessError
from harness.hashing import sha256_file
from harness.record import load_record
from leaderboard.render import load_submissions, render

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def regenerate(submissions: Path, page: Path) -> str:
    text = render(load_submissions(submissions))
    atomic_write_text(page, text)
    return text


def submit(result: Path, name: str, submissions: Path, page: Path, replace: bool = False) -> Path:
    """Copy `result` (and its predictions and extra files) into `submissions/name/`."""
    if not NAME.match(name):
        raise DataError(f"bad submission name {name!r}: letters, digits, '.', '_' and '-' only")
    result = result / "result.json" if result.is_dir() else result
    record = load_record(result)
    _check_predictions(result.parent, record)
    target = submissions / name
    if target.exists() and not replace:
        raise HarnessError(f"submission {name!r} already exists; pass --replace to overwrite it")
    with atomic_dir(target, replace=replace) as tmp:
        for path in _files_to_copy(result, record):
            shutil.copy2(path, tmp / path.name)
        if result.name != "result.json":
            (tmp / result.name).rename(tmp / "result.json")
        _keep_extra(target, tmp)
    regenerate(submissions, page)
    return target


def _check_predictions(folder: Path, record: dict) -> None:
    path = folder / record["predictions"]["file"]
    if not path.is_file():
        raise DataError(f"{path}: the record's predictions file is missing")
    if sha256_file(path) != record["predictions"]["sha256"]:
        raise DataError(f"{path}: sha256 does not match the record (the predictions were altered)")


def _files_to_copy(result: Path, record: dict) -> list[Path]:
    folder = result.parent
    names = {result.name, record["predictions"]["file"], "heatmap.png"}
    return [folder / n for n in sorted(names) if (folder / n).is_file()]


def _keep_extra(old: Path, new: Path) -> None:
    """On replace, keep the files a submission owns besides its results (recipe, card, adapter)."""
    if not old.is_dir():
        return
    for path in old.iterdir():
        if not (new / path.name).exists():
            if path.is_dir():
                shutil.copytree(path, new / path.name)
            else:
                shutil.copy2(path, new / path.name)
