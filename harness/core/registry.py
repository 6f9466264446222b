"""One registry class for every named thing a user can ask for: families, adapters, engines,
attack recipes, training tasks and data sources.

Why one class: a mistyped name must get the same answer everywhere, a clear error with "did you
mean" (exit 2) instead of a bare `KeyError` deep inside a worker.  Entries may be lazy
`"module:attribute"` strings, so that listing names (`--help`, validation) never imports torch,
jieba or an MT engine; `load(name)` imports on demand.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Generic, Iterator, Mapping, TypeVar

from harness.core.errors import DataError

T = TypeVar("T")


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """'did you mean' help for a mistyped registry name."""
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}."


class UnknownName(DataError, KeyError):
    """A name no registry entry has.  A `DataError` (exit 2, message printed without traceback)
    and a `KeyError` (what a mapping miss has always been, for callers that catch that)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Mapping[str, T], Generic[T]):
    """An ordered, read-mostly name -> entry mapping whose misses say "did you mean"."""

    def __init__(self, kind: str, entries: Mapping[str, T] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = dict(entries or {})

    def register(self, name: str, entry: T) -> None:
        """Add an entry; a name is registered once (a silent override would hide a clash)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownName(unknown_name_message(self.kind, str(name), list(self._entries))) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, name: str) -> str:
        """`name` if registered, else the "did you mean" error; for validating before work starts."""
        self[name]
        return name

    def load(self, name: str) -> object:
        """The entry, with a lazy `"module:attribute"` string imported."""
        entry = self[name]
        if not isinstance(entry, str):
            return entry
        module, _, attribute = entry.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._entries)})"
