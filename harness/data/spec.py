"""The benchmark spec (`harness/specs/*.yaml`): what a benchmark is made of, validated before work starts.

A spec fixes the items, the seed, the families x severities x languages, the similarity
thresholds and every resource's identity; `expected_hashes` holds the benchmark hash each size
must produce.  A family may carry `params` (e.g. back-translation routes per language and
severity); the family validates them (`attacks.registry.FAMILY_PARAMS`) and they may leave some
severity x language cells out.  Params enter the spec hash and the unit records only when
present, so a spec without them (v1.1) hashes and generates as before.  Reading a spec needs no generator: scoring and the leaderboard import this module
only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

from harness import LANGUAGES
from harness.core.errors import DataError, HarnessError
from harness.core.hashing import sha256_json
from harness.core.registry import unknown_name_message

SPEC_DIR = Path(__file__).resolve().parents[1] / "specs"
DEFAULT_SPEC = SPEC_DIR / "xnli-robust-v1.2.yaml"
"""The current benchmark: v1.2 (v1.1 and v1 are kept, marked superseded, to verify old records)."""
DEFAULT_SPEC_ID = DEFAULT_SPEC.stem


# --------------------------------------------------------------------------------------------
# Spec
# --------------------------------------------------------------------------------------------

SIMILARITY_DIR = "similarity"
"""Where a unit's similarity sidecar lives, outside the item files (and the benchmark hash)."""


@dataclass(frozen=True)
class FamilySpec:
    """One perturbation family as the benchmark fixes it."""

    name: str
    severities: tuple[str, ...]
    languages: tuple[str, ...]
    similarity: float | None
    """Threshold of the semantic-similarity filter; None disables the filter for the family."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """`params` as the spec gives them (v1.1 has none; v1.2 sets the Apertium protocol); the family says what they mean."""
    unit_kwargs: Mapping[tuple[str, str], Mapping[str, Any]] | None = None
    """(severity, language) -> builder keyword arguments for the units the params select;
    None (no params): every severity x language is a unit, built with no arguments."""

    def has_unit(self, severity: str, language: str) -> bool:
        return self.unit_kwargs is None or (severity, language) in self.unit_kwargs

    def build_params(self, severity: str, language: str) -> dict[str, Any]:
        """What the builder receives for this unit besides (family, severity, language, data root)."""
        return dict((self.unit_kwargs or {}).get((severity, language), {}))


@dataclass(frozen=True)
class SizeSpec:
    """`lite` (a stratified subset) or `full` (every test item)."""

    name: str
    per_language: int | None
    stratify: tuple[str, ...]


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    version: str
    seed: int
    split: str
    languages: tuple[str, ...]
    families: dict[str, FamilySpec]
    sizes: dict[str, SizeSpec]
    resources: dict[str, dict[str, Any]]
    """Keyed by path relative to the data root: sha256 (or content_sha256), source, licence."""
    expected_hashes: dict[str, str | None]
    sha256: str
    """Hash of the spec without `expected_hashes` (which is filled in after generation)."""
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.name}-v{self.version}"

    def size(self, name: str) -> SizeSpec:
        if name not in self.sizes:
            raise DataError(f"benchmark {self.id} has no size {name!r} (sizes: {', '.join(self.sizes)})")
        return self.sizes[name]


def load_spec(path: str | os.PathLike[str] | None = None) -> BenchmarkSpec:
    """Read a spec YAML file (the committed v1 spec by default)."""
    import yaml  # lazy: keeps `--help` fast

    path = Path(path) if path else DEFAULT_SPEC
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read spec ({exc})") from None
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: invalid YAML ({exc})") from None
    return check_families(parse_spec(raw, where=str(path)), where=str(path))


def check_families(spec: BenchmarkSpec, where: str = "spec") -> BenchmarkSpec:
    """Every family of `spec` is a registered one: caught before any worker starts, with "did
    you mean" (a misspelled family used to fail inside a worker, as a traceback).  Separate from
    `parse_spec` because library users may generate with their own families and builder."""
    from attacks.registry import FAMILIES

    for name in spec.families:
        if name not in FAMILIES:
            raise DataError(f"{where}: {unknown_name_message('perturbation family', name, list(FAMILIES))}")
    return spec


def parse_spec(raw: Any, where: str = "spec", known_languages: Sequence[str] = LANGUAGES) -> BenchmarkSpec:
    """Validate a spec mapping; every problem names the field, so a typo never runs silently.

    `known_languages`: the codes `languages` may name (XNLI's; a user-file spec passes its data's,
    `parse_user_spec`)."""
    from attacks.base import SEVERITIES

    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a mapping at the top level")
    for key in ("name", "version", "seed", "families", "sizes"):
        if key not in raw:
            raise DataError(f"{where}: missing field {key!r}")
    languages = _languages(raw.get("languages", "all"), tuple(known_languages), f"{where}: languages")
    families = {}
    for name, body in (raw["families"] or {}).items():
        body = body or {}
        unknown = sorted(set(body) - set(FAMILY_FIELDS))
        if unknown:
            raise DataError(f"{where}: family {name!r}: unknown fields {unknown} (known: {list(FAMILY_FIELDS)})")
        severities = tuple(body.get("severities", SEVERITIES))
        bad = [s for s in severities if s not in SEVERITIES]
        if bad:
            raise DataError(f"{where}: family {name!r}: unknown severities {bad} (known: {list(SEVERITIES)})")
        threshold = body.get("similarity")
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
            raise DataError(f"{where}: family {name!r}: similarity must be null or a number in [0, 1]")
        fam_langs = _languages(body.get("languages", "all"), languages, f"{where}: family {name!r} languages")
        params = body.get("params")
        families[name] = FamilySpec(name, severities, fam_langs, None if threshold is None else float(threshold),
                                    **_family_params(name, params, severities, fam_langs, where))
    sizes = {}
    for name, body in (raw["sizes"] or {}).items():
        body = body or {}
        per = body.get("per_language")
        if per is not None and (not isinstance(per, int) or per <= 0):
            raise DataError(f"{where}: size {name!r}: per_language must be a positive integer or null")
        stratify = tuple(body.get("stratify", ()))
        bad = [s for s in stratify if s not in ("label", "genre")]
        if bad:
            raise DataError(f"{where}: size {name!r}: cannot stratify by {bad} (only label, genre)")
        sizes[name] = SizeSpec(name, per, stratify)
    resources = {}
    for entry in raw.get("resources") or []:
        if not isinstance(entry, dict) or "path" not in entry:
            raise DataError(f"{where}: every resource needs a 'path' (relative to the data root)")
        resources[str(entry["path"])] = dict(entry)
    expected = dict(raw.get("expected_hashes") or {})
    hashed = {k: v for k, v in raw.items() if k != "expected_hashes"}
    return BenchmarkSpec(
        name=str(raw["name"]), version=str(raw["version"]), seed=int(raw["seed"]),
        split=str(raw.get("split", "test")), languages=languages, families=families,
        sizes=sizes, resources=resources, expected_hashes=expected,
        sha256=sha256_json(hashed), raw=raw,
    )


FAMILY_FIELDS = ("severities", "languages", "similarity", "params")


def _family_params(family: str, params: Any, severities: Sequence[str], languages: Sequence[str],
                   where: str) -> dict[str, Any]:
    """FamilySpec's `params` and `unit_kwargs`, validated by the family (`attacks.registry.FAMILY_PARAMS`)."""
    from attacks.registry import FAMILY_PARAMS

    if params is None:
        return {}
    if not isinstance(params, dict) or not params:
        raise DataError(f"{where}: family {family!r}: params must be a non-empty mapping")
    if family not in FAMILY_PARAMS:
        raise DataError(f"{where}: family {family!r} takes no params "
                        f"(configurable families: {', '.join(FAMILY_PARAMS)})")
    try:
        cells = FAMILY_PARAMS.load(family)(params, severities, languages)  # type: ignore[operator]
    except (ValueError, TypeError, HarnessError) as exc:
        raise DataError(f"{where}: family {family!r} params: {exc}") from None
    return {"params": dict(params), "unit_kwargs": {cell: dict(kwargs) for cell, kwargs in cells.items()}}


def _languages(value: Any, allowed: Sequence[str], where: str) -> tuple[str, ...]:
    if value == "all":
        return tuple(allowed)
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: expected 'all' or a non-empty list of language codes")
    bad = [lang for lang in value if lang not in allowed]
    if bad:
        raise DataError(f"{where}: languages {bad} are not in {list(allowed)}")
    return tuple(lang for lang in allowed if lang in value)  # canonical XNLI order


# --------------------------------------------------------------------------------------------
# Units and their files
# --------------------------------------------------------------------------------------------

class Unit(NamedTuple):
    """One (family, severity, language): one file, one journal entry, one task."""

    family: str
    severity: str
    language: str

    @property
    def key(self) -> str:
        return f"{self.family}/{self.severity}/{self.language}"

    @property
    def relpath(self) -> str:
        return f"{self.family}/{self.severity}/{self.language}.jsonl"

    @property
    def similarity_relpath(self) -> str:
        return f"{SIMILARITY_DIR}/{self.relpath}"

    @property
    def journal_name(self) -> str:
        return f"{self.family}__{self.severity}__{self.language}.json"


def spec_units(spec: BenchmarkSpec) -> list[Unit]:
    """Every unit of a spec, in a fixed order (a family's params may leave some cells out)."""
    return [Unit(f.name, sev, lang) for f in spec.families.values()
            for sev in f.severities for lang in f.languages if f.has_unit(sev, lang)]


def committed_specs() -> dict[tuple[str, str], Path]:
    """(name, version) -> path of every spec committed under `harness/specs`."""
    import yaml

    out = {}
    for path in sorted(SPEC_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and "name" in raw and "version" in raw:
            out[(str(raw["name"]), str(raw["version"]))] = path
    return out


# --------------------------------------------------------------------------------------------
# User-file benchmarks (`xnli-robust perturb`)
# --------------------------------------------------------------------------------------------

USER_KIND = "user-file"
"""`benchmark.kind` of a manifest made from user data (`perturb`): no committed spec can pin it."""


def is_user_manifest(manifest: Mapping[str, Any]) -> bool:
    return (manifest.get("benchmark") or {}).get("kind") == USER_KIND


def parse_user_spec(raw: Mapping[str, Any], where: str = "user-file spec") -> BenchmarkSpec:
    """The spec of a user-file benchmark, from the mapping `perturb` writes (and its manifest keeps).

    Like a committed spec, plus `input` (the data's identity) and `plan`: family -> language ->
    severity -> {build: registry keyword arguments, source: what the edits come from}; exactly
    the planned cells are units.  Its languages are the data's, not XNLI's."""
    plan = raw.get("plan")
    if not isinstance(plan, Mapping) or not isinstance(raw.get("input"), Mapping):
        raise DataError(f"{where}: a user-file spec needs 'input' and 'plan'")
    spec = parse_spec(dict(raw), where=where, known_languages=list(raw.get("languages") or []))
    families = {}
    for name, family in spec.families.items():
        cells = {(sev, lang): dict(entry.get("build") or {})
                 for lang, by_sev in (plan.get(name) or {}).items() for sev, entry in by_sev.items()}
        if not cells:
            raise DataError(f"{where}: family {name!r} has no planned unit")
        families[name] = replace(family, unit_kwargs=cells)
    return replace(spec, families=families)


def spec_for(manifest: Mapping[str, Any]) -> BenchmarkSpec:
    """The committed spec a manifest names (a v1 folder verifies against v1), else the default;
    a user-file benchmark's own spec, from its manifest (no committed spec describes user data)."""
    if is_user_manifest(manifest):
        return parse_user_spec(manifest.get("spec") or {}, where="the manifest's spec")
    bench = manifest.get("benchmark") or {}
    path = committed_specs().get((str(bench.get("name")), str(bench.get("version"))))
    return load_spec(path)


def pinned_files_path(spec: BenchmarkSpec, size: str) -> Path:
    """`harness/specs/<spec id>-<size>.files.json`: the sha256 of every item file of a pin."""
    return SPEC_DIR / f"{spec.id}-{size}.files.json"


def read_pinned_files(spec: BenchmarkSpec, size: str) -> dict[str, Any] | None:
    path = pinned_files_path(spec, size)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
