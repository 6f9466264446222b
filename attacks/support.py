"""What each perturbation family can do in a language, and, where it cannot, what is missing.

Why: `xnli-robust perturb` takes any NLI file in any ISO 639 language.  A family without the
resources for a language must be refused before any work starts, naming what it lacks (a
wordnet, a dictionary, word lists, an MT route), never left to write a silently empty unit;
and where it does run, the manifest says what its edits came from (a keyboard layout or the
text's own letters, which wordnets, which route).  Each family answers through one function
named in `attacks.registry.FAMILY_SUPPORT`; this module asks no engine to translate and loads
no dictionary, it only looks at what is installed and on disk.

For the 15 XNLI languages the answers are the families' ordinary units (no build arguments),
so a user file in those languages is perturbed exactly as XNLI is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from attacks.registry import FAMILIES, FAMILY_SUPPORT
from harness import LANGUAGES
from harness.core.errors import DataError


@dataclass(frozen=True)
class Support:
    """One family in one language: the severities it can run and what the others lack."""

    family: str
    language: str
    units: Mapping[str, Mapping[str, Any]]
    """severity -> keyword arguments for `attacks.registry.build` (none for the usual units)."""
    source: str
    """What the edits are made from, in words (recorded per unit in a user-file manifest)."""
    missing: Mapping[str, str] = field(default_factory=dict)
    """severity -> what is missing for it (empty when every requested severity runs)."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """severity -> its own source where severities differ (back-translation routes)."""

    def source_of(self, severity: str) -> str:
        return self.sources.get(severity, self.source)


SupportFn = Callable[[str, Sequence[str], Path, bool], Support]


def family_support(family: str, language: str, severities: Sequence[str], data_root: Path,
                   parallel_rows: bool = False) -> Support:
    """What `family` can do for `language` at `severities` with this data root.

    `parallel_rows`: the items are XNLI test rows (their pairIDs index human translations),
    which sentence-level code-switching needs; a user file has none."""
    FAMILIES.check(family)
    fn = FAMILY_SUPPORT.load(family)
    return fn(language, tuple(severities), Path(data_root), parallel_rows)  # type: ignore[operator]


def _all(language: str, severities: Sequence[str], family: str, source: str) -> Support:
    return Support(family, language, {s: {} for s in severities}, source)


def _none(language: str, severities: Sequence[str], family: str, why: str) -> Support:
    return Support(family, language, {}, "", {s: why for s in severities})


def _xnli_only(language: str, what: str) -> str:
    return (f"no {what} and no protected-word lists (negations, quantifiers, numbers) for {language!r}; "
            "this family has both for the 15 XNLI languages only")


# ---- the families ------------------------------------------------------------------------------

def char_noise(language: str, severities: Sequence[str], data_root: Path, parallel_rows: bool) -> Support:
    """Any script: the language's keyboard where one is known, else the text's own letters."""
    from attacks.charnoise import char_source

    return _all(language, severities, "char_noise", char_source(language))


def synonym(language: str, severities: Sequence[str], data_root: Path, parallel_rows: bool) -> Support:
    """A wordnet of the language and its protected-word lists (a swapped "not" flips a label)."""
    from attacks import protected, synonyms

    if language not in synonyms.LANGUAGES or language not in protected.LANGUAGES:
        why = _xnli_only(language, "wordnet")
        return _none(language, severities, "synonym", why)
    try:
        found = synonyms.resource_paths(language, data_root)
    except DataError as exc:
        return _none(language, severities, "synonym", str(exc))
    return _all(language, severities, "synonym", "wordnets: " + "+".join(sorted(found)))


def code_switch(language: str, severities: Sequence[str], data_root: Path, parallel_rows: bool) -> Support:
    """An English dictionary of the language (the pivot), the targets' ones, and protected lists."""
    from attacks import codeswitch, protected

    if language not in codeswitch.SCRIPTS or language not in protected.LANGUAGES:
        why = _xnli_only(language, f"English-{language} dictionary ({codeswitch.muse_path(data_root, language)})")
        return _none(language, severities, "code_switch", why)
    files = codeswitch.build("low", language, data_root).resource_files()
    absent = [f"{name} ({path})" for name, path in files.items() if not Path(path).exists()]
    if absent:
        return _none(language, severities, "code_switch", "missing dictionary files: " + ", ".join(absent))
    return _all(language, severities, "code_switch",
                "MUSE en-X dictionaries" + ("" if language == "en" else f" through English (pivot) from {language}"))


def code_switch_sentence(language: str, severities: Sequence[str], data_root: Path, parallel_rows: bool) -> Support:
    """Human translations of the same item: only XNLI test rows (keyed by pairID) have them."""
    if not parallel_rows:
        return _none(language, severities, "code_switch_sentence",
                     "it swaps in each item's human translations from the parallel XNLI test rows (by pairID), "
                     "which a user file does not have")
    from attacks.codeswitch import xnli_test_path

    absent = [str(xnli_test_path(data_root, t)) for t in LANGUAGES if not xnli_test_path(data_root, t).is_file()]
    if absent:
        return _none(language, severities, "code_switch_sentence", "missing XNLI test files: " + ", ".join(absent))
    return _all(language, severities, "code_switch_sentence", "parallel XNLI test rows")


def back_translation(language: str, severities: Sequence[str], data_root: Path, parallel_rows: bool) -> Support:
    """A round trip whose every hop has an installed engine.

    en, es and fr use v1.1's routes.  Any other language gets the round trips its installed
    engines allow, pivots in alphabetical order: low through the first pivot, medium through the
    second, high both chained (L>P1>L>P2>L, as v1.1's en and es high routes chain two trips).
    A severity with no such route is reported missing, naming the round trips that exist."""
    from attacks import backtranslation as bt

    routes = _default_routes(language) if language in bt.DEFAULT_ROUTES else _auto_routes(language, data_root)
    units: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    sources: dict[str, str] = {}
    for severity in severities:
        chosen, kwargs = routes.get(severity, (None, {}))
        if chosen is None:
            missing[severity] = _no_route(language, severity, routes)
        elif not bt.route_available(chosen, data_root):
            missing[severity] = f"route {chosen.id} needs missing engines ({bt._install_hint(chosen)})"
        else:
            units[severity] = kwargs
            sources[severity] = f"route {chosen.id} ({'+'.join(dict.fromkeys(chosen.engines))})"
    return Support("back_translation", language, units, "round-trip machine translation", missing, sources)


RouteChoice = dict[str, tuple[Any, dict[str, Any]]]


def _default_routes(language: str) -> RouteChoice:
    from attacks.backtranslation import DEFAULT_ROUTES

    return {sev: (r, {}) for sev, r in DEFAULT_ROUTES[language].items()}


def _auto_routes(language: str, data_root: Path) -> RouteChoice:
    """low/medium: round trips through the installed pivots in code order; high: both chained."""
    from attacks.backtranslation import HOP_ENGINES, route, route_available

    pivots = sorted(t for s, t in HOP_ENGINES if s == language and (t, language) in HOP_ENGINES)
    trips = [r for r in (route(f"{language}>{p}>{language}") for p in pivots) if route_available(r, data_root)]
    paths = {}
    if trips:
        paths["low"] = trips[0].id
    if len(trips) > 1:
        paths["medium"] = trips[1].id
        paths["high"] = ">".join(trips[0].languages + trips[1].languages[1:])
    return {sev: (route(path), {"route": path}) for sev, path in paths.items()}


def _no_route(language: str, severity: str, routes: RouteChoice) -> str:
    have = ", ".join(f"{sev} {r.id}" for sev, (r, _) in routes.items())
    if not routes:
        return f"no installed MT engine translates {language!r} both ways (Apertium pairs, Bergamot en<>pt)"
    return f"no {severity} route for {language!r}: it needs a second installed pivot language (routes here: {have})"
