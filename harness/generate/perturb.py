"""`xnli-robust perturb`: a user's NLI file (or hub dataset) as a benchmark folder.

There is one generator: this module turns the command's arguments and the loaded items into a
spec (`harness.data.spec.parse_user_spec`) and hands both to `harness.generate.run.generate`,
so the folder has the XNLI benchmark's layout, manifest, content hashes and resumability, and
`verify` and `bench --benchmark` read it the same way.  What differs:

- no committed spec can pin user data, so the manifest records the input's identity (the file's
  sha256, or the hub dataset's name and fingerprint, and the items' content hash) and the
  generation parameters, and `verify` checks the folder against its own manifest;
- languages are whatever the data holds (any ISO 639 code, or PREMISE+HYPOTHESIS for pairs whose
  sides differ), so each family is first asked what it can do in each (`attacks.support`); a
  family that cannot run somewhere is refused with what it lacks (`--skip-unsupported` perturbs
  the rest and lists what was left out in the manifest), never turned into an empty unit;
- the manifest's `coverage` says, per unit, the share of items actually changed and kept, and
  what the edits came from (a keyboard layout or the text's letters, which wordnets, which route).

Every item's randomness is `derive_rng(seed, family, severity, language, id)`, as in XNLI
generation: the same data and arguments give the same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import regex

from attacks.base import SEVERITIES
from harness.core.errors import DataError
from harness.data.benchmark import MANIFEST, read_manifest
from harness.data.spec import USER_KIND, BenchmarkSpec, parse_user_spec
from harness.data.userdata import UserData, check_for_perturbation, check_language_code, load_user_data, ordered_languages
from harness.generate.run import GenerateReport, generate
from harness.generate.task import ScorerFactory

SPEC_VERSION = "1"
SIZE = "all"
DEFAULT_SIMILARITY = 0.90
"""The e5 filter threshold of every v1.1 family, applied to user data unless told otherwise."""


@dataclass(frozen=True)
class PerturbRequest:
    """The command's arguments: everything the folder's bytes depend on besides the data."""

    source: str
    """A JSONL/TSV path or `hub:OWNER/NAME[:CONFIG]:SPLIT`."""
    families: tuple[str, ...]
    severities: tuple[str, ...] = SEVERITIES
    language: str = "en"
    """The code of rows that name none (`--language`)."""
    seed: int = 0
    similarity: float | None = DEFAULT_SIMILARITY
    skip_unsupported: bool = False

    def check(self) -> None:
        from attacks.registry import FAMILIES

        if not self.families:
            raise DataError("--families: name at least one family")
        for family in self.families:
            FAMILIES.check(family)
        bad = [s for s in self.severities if s not in SEVERITIES]
        if bad or not self.severities:
            raise DataError(f"--severities: unknown {bad} (choose from {', '.join(SEVERITIES)})")
        if self.similarity is not None and not 0.0 <= self.similarity <= 1.0:
            raise DataError("--similarity must be a cosine in [0, 1], or none")
        check_language_code(self.language, "--language")


@dataclass
class Plan:
    """Which units run (family -> language -> severity -> build arguments and source), and which
    family x language cells were refused, with what they lack."""

    cells: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    refused: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PerturbReport:
    generated: GenerateReport
    plan: Plan
    data: UserData


# ---- planning -----------------------------------------------------------------------------------

def plan_units(request: PerturbRequest, languages: Sequence[str], data_root: Path) -> Plan:
    """Ask every family about every language (each side of a mixed pair); refuse what cannot run."""
    plan = Plan()
    for family in request.families:
        for language in languages:
            cells, missing = _cells(family, language, request.severities, data_root)
            if cells:
                plan.cells.setdefault(family, {})[language] = cells
            plan.refused.extend(_refusals(family, language, missing))
    if plan.refused and not request.skip_unsupported:
        raise DataError("cannot perturb " + "; ".join(_refusal_line(r) for r in plan.refused)
                        + ". Drop those families, or pass --skip-unsupported to perturb the rest "
                          "(the manifest lists what was left out)")
    if not plan.cells:
        raise DataError("nothing to perturb: no family can run in any language of the data ("
                        + "; ".join(_refusal_line(r) for r in plan.refused) + ")")
    return plan


def _cells(family: str, language: str, severities: Sequence[str], data_root: Path
           ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """severity -> {build, source} of the units that can run, and severity -> what the rest lack."""
    from attacks.mixed import split_language
    from attacks.support import family_support

    sides = split_language(language)
    if sides is None:
        s = family_support(family, language, severities, data_root)
        return ({sev: {"build": dict(s.units[sev]), "source": s.source_of(sev)} for sev in severities if sev in s.units},
                dict(s.missing))
    premise, hypothesis = (family_support(family, side, severities, data_root) for side in sides)
    cells, missing = {}, {}
    for sev in severities:
        if sev in premise.units and sev in hypothesis.units:
            cells[sev] = {"build": {"premise": dict(premise.units[sev]), "hypothesis": dict(hypothesis.units[sev])},
                          "source": f"premise ({sides[0]}): {premise.source_of(sev)}; "
                                    f"hypothesis ({sides[1]}): {hypothesis.source_of(sev)}"}
            continue
        why = [f"{name} side ({lang}): {s.missing[sev]}"
               for name, lang, s in (("premise", sides[0], premise), ("hypothesis", sides[1], hypothesis))
               if sev in s.missing]
        missing[sev] = "; ".join(dict.fromkeys(why))
    return cells, missing


def _refusals(family: str, language: str, missing: dict[str, str]) -> list[dict[str, Any]]:
    """One entry per distinct reason (most families lack a language for every severity alike)."""
    by_reason: dict[str, list[str]] = {}
    for severity in SEVERITIES:
        if severity in missing:
            by_reason.setdefault(missing[severity], []).append(severity)
    return [{"family": family, "language": language, "severities": sevs, "missing": reason}
            for reason, sevs in by_reason.items()]


def _refusal_line(r: dict[str, Any]) -> str:
    return f"{r['family']} for {r['language']} ({', '.join(r['severities'])}): {r['missing']}"


# ---- the spec -----------------------------------------------------------------------------------

def user_spec(request: PerturbRequest, data: UserData, plan: Plan, languages: Sequence[str]) -> BenchmarkSpec:
    """The spec of this run: the arguments, the data's identity and the plan, hashed like any spec."""
    families = {}
    for family, by_language in plan.cells.items():
        planned = {sev for cells in by_language.values() for sev in cells}
        families[family] = {"severities": [s for s in SEVERITIES if s in planned],
                            "languages": [lang for lang in languages if lang in by_language],
                            "similarity": request.similarity}
    raw = {"name": _name(data), "version": SPEC_VERSION, "kind": USER_KIND, "seed": request.seed,
           "split": "user", "languages": list(languages), "sizes": {SIZE: {"per_language": None}},
           "families": families, "input": data.identity, "plan": plan.cells, "unsupported": plan.refused}
    return parse_user_spec(raw, where=f"perturb {request.source}")


def _name(data: UserData) -> str:
    """perturb-<input name>: what records show as the benchmark id (the hash is its identity)."""
    stem = Path(str(data.identity.get("name", "data"))).name.split(".")[0]
    return "perturb-" + (regex.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "data")


# ---- building a unit ----------------------------------------------------------------------------

def build_unit(family: str, severity: str, language: str, data_root: Path, **params: Any) -> Any:
    """The registry's perturbation for a unit; for PREMISE+HYPOTHESIS, one per side (`attacks.mixed`).

    Module level (picklable): `generate` may run units in spawned worker processes."""
    from attacks.mixed import MixedPair, split_language
    from attacks.registry import build

    sides = split_language(language)
    if sides is None:
        return build(family, severity, language, data_root, **params)
    premise = build(family, severity, sides[0], data_root, **params.get("premise", {}))
    hypothesis = build(family, severity, sides[1], data_root, **params.get("hypothesis", {}))
    return MixedPair(family, severity, language, premise, hypothesis)


# ---- the run --------------------------------------------------------------------------------------

def perturb(out: str | os.PathLike[str], request: PerturbRequest, *, data_root: str | os.PathLike[str] | None = None,
            processes: int = 1, scorer_factory: ScorerFactory | None = None, progress: bool = True,
            device: str = "cpu", log: Callable[[str], None] = lambda _: None) -> PerturbReport:
    """Perturb the request's data into `out` (resumable; published whole at the end, like `generate`)."""
    from harness.core.paths import data_root as resolve_root

    request.check()
    root = resolve_root(data_root)
    data = load_user_data(request.source, request.language)
    check_for_perturbation(data, request.source)
    languages = ordered_languages(list(data.examples))
    plan = plan_units(request, languages, root)
    for r in plan.refused:
        log(f"skipped {_refusal_line(r)}")
    spec = user_spec(request, data, plan, languages)
    _refuse_another_benchmark(Path(out), spec)
    report = generate(out, size=SIZE, spec=spec, data_root=root, processes=processes, builder=build_unit,
                      scorer_factory=scorer_factory, progress=progress, device=device, items=data.examples)
    return PerturbReport(report, plan, data)


def _refuse_another_benchmark(out: Path, spec: BenchmarkSpec) -> None:
    """A finished folder is reused only when it holds this very run (same data, same arguments)."""
    if (out / MANIFEST).is_file() and read_manifest(out).get("spec_sha256") != spec.sha256:
        raise DataError(f"{out} already holds another benchmark (other data or arguments); choose a new --out")


def empty_units(manifest: dict[str, Any]) -> list[str]:
    """Units in which no item changed: reported, since a family can run and still find no edit."""
    return sorted(f"{family}/{sev}/{lang}" for family, by_lang in (manifest.get("coverage") or {}).items()
                  for lang, by_sev in by_lang.items() for sev, row in by_sev.items() if row["n_changed"] == 0)
