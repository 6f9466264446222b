"""Back-translation paraphrases: translate a text to a pivot language and back.

A round trip L -> pivot -> L keeps the meaning (hence the NLI label) while changing words,
word order and syntax the way a different translator would.  Which engines exist decides
which languages get this family; here (v1) that is English, Spanish and French:

    language  low                   medium                     high
    en        en>pt>en (Bergamot)   en>es>en (Apertium)        en>pt>en>es>en (both)
    es        es>fr>es (Apertium)   es>en>es (Apertium)        es>fr>es>en>es (Apertium)
    fr        fr>es>fr (Apertium)   fr>es>en>es>fr (Apertium)  fr>es>en>pt>en>es>fr (both)

Severity orders the routes by how much they change the text, measured on 201 XNLI test
items per language (every 25th row, premise and hypothesis) as the mean word-level edit
ratio (1 - difflib ratio over words): en 0.20 / 0.29 / 0.38, es 0.17 / 0.28 / 0.34,
fr 0.15 / 0.34 / 0.49 (en>sw>en 0.36, en>ur>en 0.43).  Low is one round
trip through the pivot that changes least (the best engine or the closest language); medium
a single round trip through a more distant pivot; high chains two round trips (en, es) or
goes through a pivot two or three hops away (fr, which has only Spanish as a direct pivot).

Apertium also has pairs between close languages (en<>ca, es<>pt, es<>ca, es<>gl, fr<>ca, fr<>oc,
bg<>mk, ru<>be, ru<>uk, hi<>ur); no default route uses them, so v1.1 is what it was.  A spec
names such routes per language and severity (`params: {routes: {bg: {low: "bg>mk>bg"}}}`, read
by `unit_params`), which is how a benchmark can cover bg, ru, hi and ur; any path over known
hops is a route (`route()`).

English also has the *precomputed* routes en>sw>en and en>ur>en (XNLI's human Swahili/Urdu
test sets machine-translated back to English, shipped with the data), selectable with
`build(..., route="en>sw>en")`.  They are looked up by item (pairID -> test row) and apply
only to unmodified English XNLI test items; `severity` is recorded but does not change them.

Machine translation is deterministic (greedy decoding), so `rng` is unused; `perturb_batch`
translates many items at once (each distinct text once) and every hop goes through an
on-disk cache (`attacks.translation.CachedEngine`).  An item is NOT_APPLICABLE when the
round trip returned nothing for either text or changed neither text (whitespace aside).
"""

from __future__ import annotations

import functools
import gzip
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from attacks.base import NOT_APPLICABLE, SEVERITIES, _NotApplicable
from attacks.translation import (
    APERTIUM_MODES,
    BERGAMOT_INSTALL,
    PRECOMPUTED_PIVOTS,
    ApertiumEngine,
    CachedEngine,
    EngineUnavailable,
    PrecomputedTranslations,
    Pair,
    TranslationEngine,
    _apertium_modes_installed,
    apertium_install,
    bergamot_available,
    create_engine,
    normalize_space,
    precomputed_path,
)
from harness.core.errors import DataError, HarnessError
from harness.core.examples import NLIExample

FAMILY = "back_translation"
VERSION = "1.1.0"
"""1.1.0: Apertium translates every segment alone (null flush); cache entries carry this version."""

HOP_ENGINES: dict[tuple[str, str], str] = {
    **{pair: "apertium" for pair in APERTIUM_MODES},
    ("en", "pt"): "bergamot",
    ("pt", "en"): "bergamot",
}
"""Which engine translates each language pair in the default routes (one engine per pair)."""


class NoRoute(HarnessError):
    """No back-translation route exists for this language (or the named route is unknown)."""


@dataclass(frozen=True)
class Route:
    """A path of languages starting and ending in the item's language, one engine per hop."""

    languages: tuple[str, ...]
    engines: tuple[str, ...]

    @property
    def id(self) -> str:
        return ">".join(self.languages)

    @property
    def hops(self) -> list[tuple[str, str, str]]:
        """(src, tgt, engine) per hop."""
        return [(s, t, e) for s, t, e in zip(self.languages, self.languages[1:], self.engines)]

    @property
    def precomputed(self) -> bool:
        return "precomputed" in self.engines


def route(path: str) -> Route:
    """A route from 'en>pt>en' with each hop's engine taken from HOP_ENGINES."""
    langs = tuple(path.split(">"))
    if len(langs) < 3 or langs[0] != langs[-1]:
        raise NoRoute(f"route {path!r} must leave a language and come back to it")
    missing = [f"{s}>{t}" for s, t in zip(langs, langs[1:]) if (s, t) not in HOP_ENGINES]
    if missing:
        raise NoRoute(f"route {path!r}: no engine for {', '.join(missing)}")
    return Route(langs, tuple(HOP_ENGINES[(s, t)] for s, t in zip(langs, langs[1:])))


def precomputed_route(pivot: str) -> Route:
    return Route(("en", pivot, "en"), ("precomputed", "precomputed"))


DEFAULT_ROUTES: dict[str, dict[str, Route]] = {
    "en": {"low": route("en>pt>en"), "medium": route("en>es>en"), "high": route("en>pt>en>es>en")},
    "es": {"low": route("es>fr>es"), "medium": route("es>en>es"), "high": route("es>fr>es>en>es")},
    "fr": {"low": route("fr>es>fr"), "medium": route("fr>es>en>es>fr"), "high": route("fr>es>en>pt>en>es>fr")},
}
"""The v1 benchmark's route per (language, severity); see the module docstring for why."""

EXTRA_ROUTES: dict[str, list[Route]] = {"en": [precomputed_route(p) for p in PRECOMPUTED_PIVOTS]}
"""Further routes, selectable by id with `build(..., route=...)`."""


def _engine_available(name: str, src: str, tgt: str, data_root: Path) -> bool:
    if name == "apertium":
        return APERTIUM_MODES.get((src, tgt)) in _apertium_modes_installed()
    if name == "bergamot":
        return bergamot_available()
    if name == "precomputed":
        pivot = tgt if src == "en" else src
        return precomputed_path(data_root, pivot).is_file() and (Path(data_root) / "xnli" / "test-en.tsv.gz").is_file()
    return False


def route_available(r: Route, data_root: Path) -> bool:
    """True if every hop's engine (software, language data, files) is installed."""
    return all(_engine_available(e, s, t, data_root) for s, t, e in r.hops)


def available_languages(data_root: Path) -> dict[str, list[str]]:
    """{language: available route ids} for languages whose three severities all have a route.

    The default routes come first, in severity order, then any extra routes.  This is what
    the benchmark manifest records as the languages covered by back-translation.
    """
    result: dict[str, list[str]] = {}
    for lang, by_severity in DEFAULT_ROUTES.items():
        if not all(route_available(by_severity[s], data_root) for s in SEVERITIES):
            continue
        extras = [r for r in EXTRA_ROUTES.get(lang, []) if route_available(r, data_root)]
        result[lang] = [by_severity[s].id for s in SEVERITIES] + [r.id for r in extras]
    return result


def _route_pairs(r: Route, engine: str) -> frozenset[Pair]:
    """The (src, tgt) hops of `r` that `engine` translates."""
    return frozenset((s, t) for s, t, e in r.hops if e == engine)


def _install_hint(r: Route) -> str:
    hints = {"apertium": apertium_install(_route_pairs(r, "apertium")) if "apertium" in r.engines else "",
             "bergamot": BERGAMOT_INSTALL}
    return "; ".join(sorted({hints[e] for e in r.engines if e in hints})) or "put the translation files under the data root"


@functools.lru_cache(maxsize=None)
def _shared_engine(name: str, data_root: Path, pairs: frozenset[Pair],
                   apertium_protocol: str | None = None) -> TranslationEngine:
    """One engine instance per process and pair set: Bergamot models and file indexes load once.

    Apertium gets the route's pairs (its identity names the packages of those modes only) and
    the spec's protocol; without one it keeps v1.1's, so v1.1's engine identity is unchanged.
    """
    if name == "precomputed":
        return create_engine(name, data_root=data_root)
    if name == "apertium":
        if apertium_protocol is None:
            return create_engine(name, pairs=pairs)
        return create_engine(name, pairs=pairs, protocol=apertium_protocol)
    return create_engine(name)


@functools.lru_cache(maxsize=4)
def english_test_index(data_root: Path) -> dict[str, tuple[int, str, str]]:
    """pairID -> (row, premise, hypothesis) of the English XNLI test set.

    The precomputed files are row-aligned with it; pairIDs are checked to be unique so a row
    lookup can never pick another item's paraphrase.
    """
    path = Path(data_root) / "xnli" / "test-en.tsv.gz"
    index: dict[str, tuple[int, str, str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for row, line in enumerate(handle):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                raise DataError(f"{path}:{row + 1}: expected premise, hypothesis, label, pairID")
            if fields[3] in index:
                raise DataError(f"{path}:{row + 1}: duplicate pairID {fields[3]!r}")
            index[fields[3]] = (row, fields[0], fields[1])
    return index


class BackTranslation:
    """Round-trip paraphrase of premise and hypothesis along one route."""

    name = FAMILY
    family = FAMILY
    version = VERSION

    def __init__(
        self,
        language: str,
        severity: str,
        route: Route,
        engines: dict[str, TranslationEngine],
        data_root: Path,
        cache_dir: Path | None = None,
        use_cache: bool = True,
    ) -> None:
        if route.languages[0] != language:
            raise NoRoute(f"route {route.id} does not start from {language}")
        self.language = language
        self.severity = severity
        self.route = route
        self.data_root = Path(data_root)
        self.languages = frozenset(available_languages(self.data_root)) | {language}
        self.engines: dict[str, TranslationEngine] = {
            name: engine if (not use_cache or name == "precomputed") else CachedEngine(engine, cache_dir, context=f"{FAMILY}=={VERSION}")
            for name, engine in engines.items()
        }

    def params(self) -> dict[str, Any]:
        hops = [
            {"src": s, "tgt": t, "engine": e, "engine_version": self.engines[e].version}
            for s, t, e in self.route.hops
        ]
        return {
            "version": self.version, "severity": self.severity, "language": self.language,
            "route": self.route.id, "hops": hops, "whitespace": "collapsed",
        }

    def resource_files(self) -> dict[str, str]:
        if not self.route.precomputed:
            return {}
        pivot = self.route.languages[1]
        return {
            f"xnli-test-{pivot}-to-en": str(precomputed_path(self.data_root, pivot)),
            "xnli-test-en": str(self.data_root / "xnli" / "test-en.tsv.gz"),
        }

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        """One item; deterministic MT makes `rng` irrelevant (kept for the protocol)."""
        return self.perturb_batch([example], [rng])[0]

    def perturb_batch(
        self, examples: Sequence[NLIExample], rngs: Sequence[random.Random] | None = None
    ) -> list[NLIExample | _NotApplicable]:
        """Many items at once: each distinct text is translated once per hop, in batches."""
        if rngs is not None and len(rngs) != len(examples):
            raise ValueError("perturb_batch needs one rng per example")
        for ex in examples:
            if ex.language != self.language:
                raise ValueError(f"{self.route.id} paraphrases {self.language} items, got {ex.language} ({ex.id})")
        if self.route.precomputed:
            pairs = [self._precomputed_pair(ex) for ex in examples]
        else:
            pairs = self._translated_pairs(examples)
        return [_result(ex, pair) for ex, pair in zip(examples, pairs)]

    def _translated_pairs(self, examples: Sequence[NLIExample]) -> list[tuple[str, str]]:
        texts = sorted({normalize_space(t) for ex in examples for t in (ex.premise, ex.hypothesis)})
        current = dict(zip(texts, texts))
        for src, tgt, engine in self.route.hops:
            todo = sorted({v for v in current.values() if v})
            out = dict(zip(todo, self.engines[engine].translate(todo, src, tgt))) if todo else {}
            current = {k: out.get(v, "") for k, v in current.items()}
        return [(current[normalize_space(ex.premise)], current[normalize_space(ex.hypothesis)]) for ex in examples]

    def _precomputed_pair(self, example: NLIExample) -> tuple[str, str]:
        """The file's round trip for this item, or ("", "") if it is not an unmodified test item."""
        entry = english_test_index(self.data_root).get(example.id)
        if entry is None or (entry[1], entry[2]) != (example.premise, example.hypothesis):
            return "", ""
        engine = self.engines["precomputed"]
        assert isinstance(engine, PrecomputedTranslations)
        pivot = self.route.languages[1]
        return engine.round_trip(pivot, entry[0], "premise"), engine.round_trip(pivot, entry[0], "hypothesis")


def _result(example: NLIExample, pair: tuple[str, str]) -> NLIExample | _NotApplicable:
    """NOT_APPLICABLE for a failed or identical round trip; unchanged sides keep their text."""
    premise, hypothesis = (normalize_space(t) for t in pair)
    if not premise or not hypothesis:
        return NOT_APPLICABLE
    same_p = premise == normalize_space(example.premise)
    same_h = hypothesis == normalize_space(example.hypothesis)
    if same_p and same_h:
        return NOT_APPLICABLE
    return example.with_texts(
        example.premise if same_p else premise, example.hypothesis if same_h else hypothesis
    )


def _select_route(language: str, severity: str, route_id: str | None) -> Route:
    if severity not in SEVERITIES:
        raise NoRoute(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    if route_id is not None:
        return route_for(language, route_id)
    if language not in DEFAULT_ROUTES:
        raise NoRoute(
            f"back-translation has no route for {language!r}: the engines available reach "
            f"{', '.join(sorted(DEFAULT_ROUTES))}"
        )
    return DEFAULT_ROUTES[language][severity]


def route_for(language: str, route_id: str) -> Route:
    """The route `route_id` for `language` items: a default or extra one, or any path over known hops."""
    known = list(DEFAULT_ROUTES.get(language, {}).values()) + EXTRA_ROUTES.get(language, [])
    for candidate in known:
        if candidate.id == route_id:
            return candidate
    try:
        chosen = route(str(route_id))
    except NoRoute as exc:
        listed = f"; known for {language}: {', '.join(r.id for r in known)}" if known else ""
        raise NoRoute(f"unknown route {route_id!r} for {language} ({exc}){listed}") from None
    if chosen.languages[0] != language:
        raise NoRoute(f"route {route_id!r} does not start from {language}")
    return chosen


PARAMS = ("routes", "apertium_protocol")
"""What a spec may set for this family (`families.back_translation.params`): the routes per
language and severity, and the Apertium protocol (`fresh-tagger` from v1.2: history-free)."""


def unit_params(params: Mapping[str, Any], severities: Sequence[str], languages: Sequence[str]
                ) -> dict[tuple[str, str], dict[str, Any]]:
    """The units a spec's `params` asks for, as (severity, language) -> `build` keyword arguments.

    `routes` maps each language to {severity: route id}: exactly the (severity, language) with a
    route become units, so a language with one route has one unit.  Every language of the family
    needs at least one route, and every route must exist and start from its language; anything
    else is an error here, before any work starts.  Raises ValueError (the spec reader names
    the file).
    """
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; {FAMILY} takes {list(PARAMS)}")
    protocol = params.get("apertium_protocol")
    if protocol is not None and protocol not in ApertiumEngine.PROTOCOLS:
        raise ValueError(f"apertium_protocol {protocol!r} is not one of {list(ApertiumEngine.PROTOCOLS)}")
    extra_kwargs = {} if protocol is None else {"apertium_protocol": protocol}
    cells = _route_cells(params.get("routes"), severities, languages)
    return {cell: {**kwargs, **extra_kwargs} for cell, kwargs in cells.items()}


def _route_cells(routes: Any, severities: Sequence[str], languages: Sequence[str]
                 ) -> dict[tuple[str, str], dict[str, Any]]:
    """(severity, language) -> {"route": id} for the spec's `routes` (every cell when None)."""
    if routes is None:
        return {(sev, lang): {} for sev in severities for lang in languages}
    if not isinstance(routes, Mapping):
        raise ValueError("routes must map each language to {severity: route}")
    extra = sorted(set(routes) - set(languages))
    missing = [lang for lang in languages if lang not in routes]
    if extra or missing:
        raise ValueError(f"routes must name exactly the family's languages {list(languages)}"
                         + (f"; not in it: {extra}" if extra else "") + (f"; no route: {missing}" if missing else ""))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for lang in languages:
        by_severity = routes[lang]
        if not isinstance(by_severity, Mapping) or not by_severity:
            raise ValueError(f"routes.{lang} must map severities to route ids")
        bad = sorted(set(by_severity) - set(severities))
        if bad:
            raise ValueError(f"routes.{lang}: severities {bad} are not the family's {list(severities)}")
        for sev in severities:
            if sev in by_severity:
                try:
                    chosen = route_for(lang, by_severity[sev])
                except NoRoute as exc:
                    raise ValueError(f"routes.{lang}.{sev}: {exc}") from None
                out[(sev, lang)] = {"route": chosen.id}
    return out


def build(
    severity: str,
    language: str,
    data_root: Path,
    route: str | None = None,
    cache_dir: Path | None = None,
    apertium_protocol: str | None = None,
) -> BackTranslation:
    """The registry's factory: the default route of (language, severity), or `route` by id.

    Raises EngineUnavailable (with the install command) when an engine of the route is
    missing, rather than producing a benchmark that is silently NOT_APPLICABLE everywhere.
    """
    chosen = _select_route(language, severity, route)
    data_root = Path(data_root)
    if not route_available(chosen, data_root):
        raise EngineUnavailable(f"back-translation route {chosen.id} needs missing engines; {_install_hint(chosen)}")
    engines = {name: _shared_engine(name, data_root, _route_pairs(chosen, name), apertium_protocol)
               for name in set(chosen.engines)}
    return BackTranslation(language, severity, chosen, engines, data_root, cache_dir=cache_dir)
