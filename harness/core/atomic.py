"""Atomic writes: a reader (or a crash) never sees a half-written file or folder.

Write to a temporary sibling, flush and fsync, then `os.replace`, which is atomic on POSIX
within one file system.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it owner-only; the result is ordinary data
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Pretty JSON for humans (records, manifests); hashing uses `canonical_json` instead."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_dirs(path: Path) -> list[Path]:
    """What killed runs left beside `path`: temporary folders of dead processes, and a previous
    version a replace moved aside (restored if `path` is missing, so a kill leaves the old state).

    Why the pid is in the name: a kill (SIGKILL, power loss) runs no cleanup, and only the
    owner's pid tells a dead run's folder from one a live run is still building."""
    removed = []
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if tmp.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    old = path.with_name(f".{path.name}.old")
    if old.is_dir() and not path.exists():
        os.replace(old, path)
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


@contextlib.contextmanager
def atomic_dir(path: Path, *, replace: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary sibling (`.NAME.<pid>.xxxx.tmp`) and publish it whole at the end.

    On any exception the temporary folder is removed and `path` is untouched; what a killed run
    left is removed by the next one (`remove_stale_dirs`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_dirs(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it owner-only; a published folder is ordinary data
    try:
        yield tmp
        if path.exists():
            if not replace:
                raise FileExistsError(f"{path} already exists")
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (blocking): a folder is locked as itself, any other
    path as a lock file created if missing.  The kernel releases it if the process dies, so a
    crash never leaves a stale lock.  For read-modify-replace steps that atomic writes alone do
    not serialise (two writers would each replace the file with what they read)."""
    import fcntl

    path = Path(path)
    fd = os.open(path, os.O_RDONLY) if path.is_dir() else os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
