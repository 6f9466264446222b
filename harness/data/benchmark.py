"""A generated benchmark folder: its format, reading it, and verifying it against its pins.

A benchmark is a folder written once by `xnli-robust generate` (`harness.generate`) and then only read:

    clean/<language>.jsonl                       the items the benchmark scores, unperturbed
    <family>/<severity>/<language>.jsonl         the kept perturbed items of one unit
    similarity/<family>/<severity>/<language>.jsonl   encoder similarity of every candidate
    manifest.json                                sha256 of every file, stats, resources, hash

Every file is serialised canonically and the manifest holds no timings or absolute paths, so
`benchmark_hash` (the hash of the sorted file -> sha256 map of the item files) is the same for
everyone who holds the same benchmark; the spec carries the expected value.  The similarity
sidecars are verified like every file but left out of that hash: encoder floats differ in the
last bits between CPU kernels, and an item file must not.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from harness import LABELS
from harness.core.errors import DataError, IntegrityError
from harness.core.examples import NLIExample, parse_label
from harness.core.hashing import sha256_bytes, sha256_file, sha256_json
from harness.data import hf_dataset
from harness.data.spec import (
    SIMILARITY_DIR,
    BenchmarkSpec,
    Unit,
    is_user_manifest,
    pinned_files_path,
    read_pinned_files,
    spec_for,
)

MANIFEST = "manifest.json"
PROGRESS = ".progress"
PARTIAL_SUFFIX = ".partial"
MANIFEST_FORMAT = 1
SIMILARITY_DECIMALS = 4
"""Similarities are rounded before the threshold is applied, so the stored value explains the
decision; values near the threshold are recomputed in float64 (`_exact_near_threshold`), so no
machine flips a keep/drop."""


def json_line(obj: Mapping[str, Any]) -> str:
    """One JSONL record: sorted keys, compact, UTF-8 text kept exactly as produced.

    Unlike `canonical_json` the texts are not NFC-normalised: a perturbation's output is
    written byte for byte, so the benchmark scores exactly what the perturbation made.
    """
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def clean_record(ex: NLIExample) -> dict[str, Any]:
    return {"id": ex.id, "language": ex.language, "label": LABELS[ex.label], "genre": ex.genre,
            "premise": ex.premise, "hypothesis": ex.hypothesis}


def perturbed_record(orig: NLIExample, new: NLIExample) -> dict[str, Any]:
    record = clean_record(new)
    record.update(orig_premise=orig.premise, orig_hypothesis=orig.hypothesis)
    return record


def _encode_lines(records: Iterable[Mapping[str, Any]]) -> bytes:
    return "".join(json_line(r) + "\n" for r in records).encode("utf-8")


def examples_sha256(examples: Sequence[NLIExample]) -> str:
    """Content hash of the items (layout-independent: the same for .tsv, .tsv.gz or XNLI-1.0)."""
    rows = [[ex.id, ex.premise, ex.hypothesis, ex.label, ex.genre] for ex in examples]
    return sha256_bytes(json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------

def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under `folder` except the manifest, by posix relative path."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != MANIFEST:
            out[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Pretty for humans, but with sorted keys: resumed and fresh runs give identical bytes."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def benchmark_hash(files: Mapping[str, Mapping[str, Any]]) -> str:
    """The benchmark's identity: canonical JSON of the sorted path -> sha256 map of item files.

    Similarity sidecars are excluded (machine-sensitive floats); `verify` still checks them.
    """
    return sha256_json({rel: entry["sha256"] for rel, entry in files.items()
                        if not rel.startswith(SIMILARITY_DIR + "/")})


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------

@dataclass
class VerifyReport:
    """Outcome of a successful verification (a failed one raises IntegrityError)."""

    root: Path
    benchmark_hash: str
    size: str
    n_files: int
    expected_hash: str | None
    matches_spec: bool | None
    """True: the spec's expected hash matches; None: the spec pins no hash for this benchmark."""
    notes: list[str]
    manifest: dict[str, Any] = field(repr=False)
    form: str = "folder"
    """"folder" as generated, or "hf-datasets" (exported, with a data card)."""


def read_manifest(root: Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        partial = Path(root).with_name(Path(root).name + PARTIAL_SUFFIX)
        hint = f" ({partial} holds an unfinished generation: rerun generate)" if partial.exists() else ""
        raise IntegrityError(f"{root}: no {MANIFEST}; not a finished benchmark{hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise IntegrityError(f"{path}: not a manifest of format {MANIFEST_FORMAT}")
    return manifest


def verify(root: str | os.PathLike[str], spec: BenchmarkSpec | None = None) -> VerifyReport:
    """Recompute every hash; raise IntegrityError listing every mismatch, extra or missing file.

    Also compares the benchmark hash with the one the spec expects for this size, which is what
    proves two people hold the same benchmark (a consistent but altered folder fails here).
    An exported folder is checked the same way, and its data card against the manifest.
    """
    root = Path(root)
    manifest = read_manifest(root)
    exported = hf_dataset.is_export(root)
    problems = _file_problems(root, manifest.get("files") or {}, exported)
    if exported:
        problems.extend(hf_dataset.card_problems(root, manifest))
    recorded = manifest.get("benchmark_hash")
    actual = benchmark_hash(manifest.get("files") or {})
    if recorded != actual:
        problems.append(f"benchmark_hash in the manifest is {recorded}, but its file table hashes to {actual}")
    spec = spec or spec_for(manifest)
    expected, matches, notes = _spec_expectation(manifest, spec, actual)
    if matches is False:
        problems.append(f"benchmark hash {actual} differs from the hash spec {spec.id} expects "
                        f"for {manifest['benchmark'].get('size')}: {expected}")
        problems.extend(_pin_diagnosis(manifest, spec))
    if problems:
        listing = "\n  ".join(problems[:50]) + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
        raise IntegrityError(f"{root}: benchmark verification failed ({len(problems)} problems):\n  {listing}")
    return VerifyReport(root, actual, manifest["benchmark"].get("size", "?"), len(manifest["files"]),
                        expected, matches, notes, manifest, "hf-datasets" if exported else "folder")


def _unit_engines(unit: Mapping[str, Any]) -> dict[str, str]:
    """engine name -> version, for the engines a unit's perturbation ran (MT hops)."""
    hops = ((unit.get("perturbation") or {}).get("params") or {}).get("hops") or []
    return {h["engine"]: h["engine_version"] for h in hops if "engine" in h and "engine_version" in h}


def _pin_diagnosis(manifest: Mapping[str, Any], spec: BenchmarkSpec, limit: int = 5) -> list[str]:
    """Which files differ from the pin, the likely causes, and what to do."""
    size = str((manifest.get("benchmark") or {}).get("size"))
    pin = read_pinned_files(spec, size)
    lines = []
    if pin is not None:
        ours = {rel: e.get("sha256") for rel, e in (manifest.get("files") or {}).items()
                if not rel.startswith(SIMILARITY_DIR + "/")}
        differ = sorted(rel for rel in set(ours) | set(pin["files"]) if ours.get(rel) != pin["files"].get(rel))
        shown = ", ".join(differ[:limit]) + (f" and {len(differ) - limit} more" if len(differ) > limit else "")
        lines.append(f"{len(differ)} of {len(pin['files'])} files differ from the pin "
                     f"({pinned_files_path(spec, size).name}): {shown}")
        lines.extend(_engine_causes(manifest, pin, differ))
        if pin.get("similarity_encoder") and manifest.get("similarity_encoder") != pin.get("similarity_encoder"):
            lines.append("likely cause: the similarity encoder's identity differs from the pin's "
                         f"(here {json.dumps(manifest.get('similarity_encoder'), sort_keys=True)})")
    lines.append("what to do: regenerate on this machine after `make system-deps` (the pinned engine "
                 "versions), with a cold translation cache if in doubt; or score it anyway with "
                 "`xnli-robust bench --unverified` (the record then says it is unverified)")
    return lines


def _engine_causes(manifest: Mapping[str, Any], pin: Mapping[str, Any], differ: Sequence[str]) -> list[str]:
    units = manifest.get("units") or {}
    causes = []
    for rel in differ:
        key = rel[:-len(".jsonl")] if rel.endswith(".jsonl") else rel
        here, pinned = _unit_engines(units.get(key) or {}), (pin.get("engines") or {}).get(key) or {}
        for engine in sorted(set(here) | set(pinned)):
            if here.get(engine) != pinned.get(engine):
                causes.append(f"likely cause for {rel}: engine {engine} is {here.get(engine)!r} here, "
                              f"the pin was made with {pinned.get(engine)!r}")
    for engine, version in sorted(_machine_engines(pin).items()):
        pinned_versions = {v.get(engine) for v in (pin.get("engines") or {}).values() if engine in v}
        if version not in pinned_versions:
            causes.append(f"likely cause: this machine's {engine} is {version!r}; the pin used "
                          f"{', '.join(sorted(map(repr, pinned_versions)))}")
    return sorted(set(causes))[:5]


def _machine_engines(pin: Mapping[str, Any]) -> dict[str, str]:
    """The version of each engine the pin used, as installed on this machine (where loadable)."""
    from attacks.translation import create_engine

    names = sorted({e for v in (pin.get("engines") or {}).values() for e in v} - {"precomputed"})
    out = {}
    for name in names:
        try:
            out[name] = create_engine(name).version
        except Exception as exc:  # noqa: BLE001 - a missing engine is itself the likely cause
            out[name] = f"unavailable ({exc})"
    return out


def _file_problems(root: Path, files: Mapping[str, Mapping[str, Any]], exported: bool = False) -> list[str]:
    """Files missing, altered or unlisted; an export may also hold its card (and what the hub adds)."""
    problems = []
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    if exported:
        present = {rel for rel in present if not hf_dataset.export_extra(rel)}
    for rel in sorted(present - set(files)):
        problems.append(f"{rel}: present but not in the manifest")
    for rel, entry in sorted(files.items()):
        if rel not in present:
            problems.append(f"{rel}: listed in the manifest but missing")
            continue
        digest = sha256_file(root / rel)
        if digest != entry.get("sha256"):
            problems.append(f"{rel}: sha256 {digest} != manifest {entry.get('sha256')}")
        elif (root / rel).stat().st_size != entry.get("bytes"):
            problems.append(f"{rel}: size differs from the manifest")
    return problems


def _spec_expectation(manifest: Mapping[str, Any], spec: BenchmarkSpec, actual: str
                      ) -> tuple[str | None, bool | None, list[str]]:
    bench = manifest.get("benchmark") or {}
    notes = []
    if is_user_manifest(manifest):  # made by `perturb` from user data: nothing committed can pin it
        from harness.data.userdata import user_note

        notes.append(user_note(manifest))
        if manifest.get("spec_sha256") != spec.sha256:
            notes.append("generated from a spec that differs from the one given (spec_sha256)")
        return None, None, notes
    if (bench.get("name"), bench.get("version")) != (spec.name, spec.version):
        return None, None, [f"benchmark {bench.get('id')} is not {spec.id}: no expected hash to compare"]
    if manifest.get("spec_sha256") != spec.sha256:
        notes.append("generated from a spec that differs from the committed one (spec_sha256)")
    expected = spec.expected_hashes.get(bench.get("size"))
    if not expected:
        notes.append(f"spec {spec.id} pins no hash for size {bench.get('size')!r}: checked internal consistency only")
        return None, None, notes
    return expected, expected == actual, notes


# --------------------------------------------------------------------------------------------
# Reading a benchmark (for `bench` and `audit`)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PerturbedItem:
    """A perturbed example with the original it came from."""

    example: NLIExample
    original: NLIExample
    similarity: float | None


@dataclass
class Benchmark:
    """A verified (or knowingly unverified) benchmark folder; files are read on demand."""

    root: Path
    manifest: dict[str, Any]
    verified: bool
    report: VerifyReport | None = None

    @property
    def benchmark_hash(self) -> str:
        return self.manifest["benchmark_hash"]

    @property
    def id(self) -> str:
        return f"{self.manifest['benchmark']['id']}-{self.manifest['benchmark']['size']}"

    @property
    def languages(self) -> list[str]:
        return list(self.manifest["data"])

    def units(self) -> list[Unit]:
        return [Unit(*key.split("/")) for key in self.manifest["units"]]

    def clean(self, language: str) -> list[NLIExample]:
        return [_example(r) for r in self._records(f"clean/{language}.jsonl")]

    def perturbed(self, family: str, severity: str, language: str) -> list[PerturbedItem]:
        unit = Unit(family, severity, language)
        sims = self.similarities(family, severity, language)
        return [_perturbed_item(r, sims.get(r["id"])) for r in self._records(unit.relpath)]

    def similarities(self, family: str, severity: str, language: str) -> dict[str, float]:
        """The filter's similarity of every candidate of a unit, kept or dropped, from its
        sidecar file; empty when the unit has none (a family without a filter)."""
        rel = Unit(family, severity, language).similarity_relpath
        if rel not in self.manifest["files"]:
            return {}
        return {r["id"]: r["similarity"] for r in self._records(rel)}

    def _records(self, rel: str) -> list[dict[str, Any]]:
        if rel not in self.manifest["files"]:
            raise DataError(f"{self.root}: benchmark has no file {rel}")
        with open(self.root / rel, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def _example(r: Mapping[str, Any], prefix: str = "") -> NLIExample:
    label = parse_label(str(r["label"]))
    if label is None:
        raise DataError(f"benchmark item {r.get('id')}: unknown label {r['label']!r}")
    return NLIExample(r["id"], r["language"], r[prefix + "premise"], r[prefix + "hypothesis"], label, r.get("genre"))


def _perturbed_item(r: Mapping[str, Any], similarity: float | None) -> PerturbedItem:
    return PerturbedItem(_example(r), _example(r, "orig_"), similarity)


def load_benchmark(root: str | os.PathLike[str], verify_files: bool = True,
                   spec: BenchmarkSpec | None = None) -> Benchmark:
    """Open a benchmark; verification (every hash) is on unless the caller opts out explicitly."""
    root = Path(root)
    if verify_files:
        report = verify(root, spec=spec)
        return Benchmark(root, report.manifest, True, report)
    return Benchmark(root, read_manifest(root), False)
