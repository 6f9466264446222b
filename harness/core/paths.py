"""Where data and caches live.

The data root is configured, never hard-coded: a CLI option wins, then the environment
variable `XNLI_ROBUST_DATA`, then a per-user cache folder where downloads land.  A local mirror
such as `../shared/data` is just a data root that already holds the files.  Outputs written by
default (`runs/`, the submissions and the leaderboard page) go under `work_home()`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.core.errors import DataError

DATA_ENV = "XNLI_ROBUST_DATA"
CACHE_ENV = "XNLI_ROBUST_CACHE"
HOME_ENV = "XNLI_ROBUST_HOME"


def checkout_root() -> Path | None:
    """The source checkout the harness runs from, or None when it runs as an installed package.

    Why: a checkout is recognised by `pyproject.toml` and `.git` beside the top-level package
    (a worktree's `.git` is a file); an installed package sits in site-packages, which has
    neither, and where nothing may be written."""
    import harness

    root = Path(harness.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / ".git").exists() else None


def recorded_path(path: str | os.PathLike[str]) -> str:
    """A local path as a committed record or summary stores it: relative to the current
    directory when it lies under it, else unchanged.  Why: an absolute path names one machine's
    folders (`/work/main/submissions/...`), which a record read elsewhere cannot use and a
    reader should not see; a hub id (`org/name`) is relative and passes through."""
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def work_home() -> Path:
    """Where outputs land by default: $XNLI_ROBUST_HOME, else the checkout, else the current directory.

    Why: `make bench` and the README's commands keep writing into the checkout's `runs/`, while
    an installed harness writes where it is run (or where it is told), never into site-packages."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().absolute()
    return checkout_root() or Path.cwd()


def cache_root() -> Path:
    """Folder for downloads, converted models and the prediction cache."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "xnli-robust"


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data root: explicit argument, then $XNLI_ROBUST_DATA, then the cache."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return cache_root() / "data"


def explicit_data_root(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The data root the user named (option or environment), or None when none was given.

    Why: only an unconfigured run may fall back to downloading; a named folder that does not
    hold XNLI is a mistake to report, not a reason to fetch XNLI-1.0 somewhere else."""
    named = explicit or os.environ.get(DATA_ENV)
    return Path(named).expanduser() if named else None


def check_output_folder(path: Path, option: str = "--out") -> None:
    """Refuse an output folder that cannot be created, before any work is done.

    Catches what used to end in a traceback at the end of a run: `path` is an existing file, a
    component of its parent is a file, or the parent is not writable (probed by creating and
    removing a temporary file there, which is what publishing the folder needs)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"{option} {path} is an existing file, not an output folder; choose another path")
    for ancestor in path.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise DataError(f"{option} {path}: {ancestor} is a file, not a folder")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe.tmp", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataError(f"{option} {path}: cannot write in {path.parent} ({exc.strerror or exc})") from None
