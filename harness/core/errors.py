"""User-facing errors: the CLI prints their message (no traceback) and exits non-zero."""

from __future__ import annotations

import sys


class HarnessError(Exception):
    """Base class for errors caused by input the user can fix (bad file, bad option)."""

    exit_code = 2


class DataError(HarnessError):
    """Malformed or missing data; the message names the file and, where known, the line."""


class ModelError(HarnessError):
    """A checkpoint that cannot be loaded or whose labels cannot be mapped safely."""


class IntegrityError(HarnessError):
    """A hash does not match: a download, a benchmark file or a record was altered."""

    exit_code = 3


def warn(message: str) -> None:
    """A real problem the run survives, said the one way the harness says it (stderr, `warning: `)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
