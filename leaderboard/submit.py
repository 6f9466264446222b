"""`xnli-robust submit`: verify a record, store it under `submissions/NAME/`, regenerate.

Why it looks like this:
- The numbers are checked, not trusted: every number under `results` is recomputed from the
  predictions and gold labels read from the data the record names (`leaderboard/verify.py`).
- One submit at a time: a lock (`fcntl.flock` on `submissions/.lock`) serialises the whole
  store-and-render step, so parallel submits can neither lose a row nor race on a name.
- Writes are atomic (the submission folder is published whole, the page replaced by rename),
  and whoever holds the lock first removes what an interrupted run left (temporary folders,
  a half-replaced submission), so a kill at any point leaves the old or the new state.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

from harness.core.atomic import atomic_dir, atomic_write_text, exclusive_lock
from harness.core.errors import DataError, HarnessError
from harness.core.record import load_record
from leaderboard.render import NAME, load_submissions, recipe_identities, render

LOCK = ".lock"
VERIFICATION = "verification.json"


def check_name(name: str) -> None:
    """Letters, digits, '.', '_' and '-', no leading dot, at most 64 characters (a folder and a
    markdown link; a newline or a slash in it would hide or misplace the row)."""
    if not NAME.fullmatch(name):
        raise DataError(f"bad submission name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")


@contextlib.contextmanager
def locked(submissions: Path) -> Iterator[None]:
    """Hold the submissions folder's lock (blocking); released by the kernel if the process dies."""
    try:
        submissions.mkdir(parents=True, exist_ok=True)
        (submissions / LOCK).touch()
    except OSError as exc:
        raise HarnessError(f"{submissions}: cannot create the submissions lock ({exc.strerror or exc})") from None
    with exclusive_lock(submissions / LOCK):
        yield


def clean_debris(submissions: Path, page: Path) -> list[str]:
    """Remove what interrupted runs left; call with the lock held (then no run is writing).

    `.NAME.xxxx.tmp`: a folder being built (removed); `.NAME.old`: the previous version during a
    replace (restored when NAME is missing, else removed); `.PAGE.xxxx.tmp`: a page being written.
    """
    removed = []
    for path in sorted(submissions.iterdir()):
        if path.name.endswith(".tmp") and path.name.startswith("."):
            _remove(path)
            removed.append(path.name)
        elif path.name.startswith(".") and path.name.endswith(".old") and path.is_dir():
            live = submissions / path.name[1:-len(".old")]
            if live.exists():
                _remove(path)
            else:
                os.replace(path, live)
            removed.append(path.name)
    if page.parent.is_dir():
        for path in page.parent.glob(f".{page.name}.*.tmp"):
            _remove(path)
            removed.append(path.name)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def regenerate(submissions: Path, page: Path, benchmarks: list[Path] | None = None) -> str:
    """Rebuild the page from the published folders, under the lock (a consistent set).

    `benchmarks`: benchmark folders to check the stored gold labels of their records against."""
    from leaderboard.verify import open_benchmarks

    opened = open_benchmarks(benchmarks or [])
    with locked(submissions):
        return _regenerate_locked(submissions, page, opened)


def _regenerate_locked(submissions: Path, page: Path, benchmarks: dict | None = None) -> str:
    clean_debris(submissions, page)
    listed, excluded = load_submissions(submissions, benchmarks)
    text = render(listed, excluded, recipe_identities(submissions, listed))
    try:
        atomic_write_text(page, text)
    except OSError as exc:
        raise HarnessError(f"{page}: cannot write the leaderboard page ({exc.strerror or exc})") from None
    return text


def submit(result: Path, name: str, submissions: Path, page: Path, replace: bool = False, *,
           benchmark: Path | None = None, data_dir: str | None = None, allow_unpinned: bool = False) -> Path:
    """Verify `result` against its data, copy it (and its predictions and extra files) into
    `submissions/name/`, and regenerate the page."""
    from leaderboard.verify import verify_against_data

    check_name(name)
    result = result / "result.json" if result.is_dir() else result
    record = load_record(result)
    verification = verify_against_data(result.parent, record, benchmark=benchmark, data_dir=data_dir,
                                       allow_unpinned=allow_unpinned)
    target = submissions / name
    with locked(submissions):
        clean_debris(submissions, page)
        if target.exists() and not replace:
            raise HarnessError(f"submission {name!r} already exists in {submissions}; pass --replace to overwrite it")
        with atomic_dir(target, replace=replace) as tmp:
            for path, relative in _files_to_copy(result, record):
                (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, tmp / relative)
            if result.name != "result.json":
                (tmp / result.name).rename(tmp / "result.json")
            (tmp / VERIFICATION).write_text(json.dumps(verification.as_dict(), indent=2) + "\n", "utf-8")
            _keep_extra(target, tmp)
        _regenerate_locked(submissions, page)
    return target


def _files_to_copy(result: Path, record: dict) -> list[tuple[Path, str]]:
    """(source, path inside the submission): the record, its predictions, its heatmap and the
    attack outcome files its `under_attack` entries name (verified, so they exist)."""
    folder = result.parent
    names = {result.name, record["predictions"]["file"], "heatmap.png"}
    names |= {entry["outcomes"]["file"] for entry in (record.get("under_attack") or {}).values()
              if entry.get("outcomes")}
    return [(folder / n, n) for n in sorted(names) if (folder / n).is_file()]


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
