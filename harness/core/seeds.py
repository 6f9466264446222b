"""Every seed the harness derives, in one place.

Why: a per-item random choice must depend only on what it is about (seed, purpose, item), never
on global random state, process, order or Python's salted `hash()`.  All derivations hash their
parts with sha256.  Two formulas exist, and both stay because committed outputs depend on them:

- `digest(*parts)`: sha256 of the parts joined by U+001F.  Perturbations, benchmark item
  selection, attack item order and attack transformations use it (as an RNG, an int or a sort
  key).
- `derive_seed(seed, *parts)`: sha256 of the JSON list `[seed, *parts]`, 63 bits.  Training uses
  it for data order and head initialisation; the reference checkpoints were trained with it.

Bootstrap intervals take the user's `--seed` directly (numpy's `default_rng(seed)`).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from harness.core.hashing import sha256_json

SEPARATOR = "\x1f"


def digest(*parts: object) -> bytes:
    """sha256 of the parts' text joined by U+001F (a character no id or language code holds)."""
    return hashlib.sha256(SEPARATOR.join(str(p) for p in parts).encode("utf-8")).digest()


def rng(*parts: object) -> random.Random:
    """A private `random.Random` for one purpose, seeded from the first 8 bytes of `digest`."""
    return random.Random(int.from_bytes(digest(*parts)[:8], "big"))


def int32(*parts: object) -> int:
    """A 32-bit seed from the first 4 bytes of `digest` (e.g. one adaptive attack's seed)."""
    return int.from_bytes(digest(*parts)[:4], "big")


def derive_seed(seed: int, *parts: Any) -> int:
    """An independent 63-bit seed per training purpose (data order, head init, ...)."""
    return int.from_bytes(bytes.fromhex(sha256_json([seed, *parts])[:16]), "big") & (2**63 - 1)
