"""Hermetic test runs: every home and cache folder points into a temporary folder.

Why: a clean checkout is not a clean machine.  A test that reads a warm cache in the real home
(translations, converted models, predictions) can pass where a newcomer's first run fails, and
a test that writes there changes what the next run sees.  `conftest.py` calls `redirect()`
before any project module is imported, and compares a snapshot of the real home at the end of
the session: any file created, changed or removed there fails the run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SKIP = frozenset({".pyenv", ".rustup", ".cargo", ".m2", ".npm", ".claude"})
"""Top-level folders of other tools (toolchains, editors), large and never ours to write: the
top-level listing itself is still compared, so a new folder in the home is caught."""

Snapshot = dict[str, tuple[int, int]]


def redirect(root: Path | None = None) -> tuple[Path, Path]:
    """Point HOME, the XDG folders and every library cache we know into `root`; returns
    (real home, temporary home)."""
    real_home = Path(os.path.expanduser("~")).resolve()
    base = root or Path(tempfile.mkdtemp(prefix="xnli-robust-tests-"))
    home = base / "home"
    paths = {
        "HOME": home, "XDG_CACHE_HOME": home / ".cache", "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share", "XNLI_ROBUST_CACHE": base / "xnli-robust-cache",
        "HF_HOME": home / ".cache" / "huggingface", "TORCH_HOME": home / ".cache" / "torch",
        "MPLCONFIGDIR": home / ".config" / "matplotlib", "PYTHAINLP_DATA": home / "pythainlp-data",
        "TA_CACHE_DIR": home / ".cache" / "textattack",
    }
    for var, path in paths.items():
        path.mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(path)
    return real_home, home


def snapshot(home: Path) -> Snapshot:
    """relative path -> (size, mtime_ns) of every entry under `home` except `SKIP` folders."""
    out: Snapshot = {}
    stack = [home]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            rel = os.path.relpath(entry.path, home)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            out[rel] = (0 if is_dir else info.st_size, 0 if is_dir else info.st_mtime_ns)
            if is_dir and not (folder == home and entry.name in SKIP):
                stack.append(Path(entry.path))
    return out


def changes(before: Snapshot, after: Snapshot, limit: int = 20) -> list[str]:
    """Human-readable differences (created, removed, modified), at most `limit`."""
    out = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    out += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    out += [f"modified {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return out[:limit]
