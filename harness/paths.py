"""Where data and caches live.

The data root is configured, never hard-coded: a CLI option wins, then the environment
variable `XNLI_ROBUST_DATA`, then a per-user cache folder where downloads land.  A local mirror
such as `../shared/data` is just a data root that already holds the files.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "XNLI_ROBUST_DATA"
CACHE_ENV = "XNLI_ROBUST_CACHE"


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
