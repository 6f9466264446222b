"""Content hashes for everything a number depends on.

JSON is hashed in one canonical form (sorted keys, NFC strings, compact separators, UTF-8), so
the same content gives the same hash on every machine and Python version.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(unicodedata.normalize("NFC", text).encode("utf-8"))


def _normalise(obj: Any) -> Any:
    if isinstance(obj, str):
        return unicodedata.normalize("NFC", obj)
    if isinstance(obj, dict):
        return {_normalise(str(k)): _normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalise(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError("canonical JSON cannot hold NaN or infinity")
    return obj


def canonical_json(obj: Any) -> bytes:
    """The canonical serialisation hashed everywhere in the project."""
    return json.dumps(_normalise(obj), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), allow_nan=False).encode("utf-8")


def sha256_json(obj: Any) -> str:
    return sha256_bytes(canonical_json(obj))


def sha256_dir(folder: Path, pattern: str = "*") -> str:
    """Hash of a folder's files (relative name -> file hash), for checkpoints made of several files."""
    files = sorted(p for p in folder.rglob(pattern) if p.is_file())
    return sha256_json({str(p.relative_to(folder)): sha256_file(p) for p in files})
