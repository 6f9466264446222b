"""The manifest a generation writes: file table, counts, engines, and the per-file pins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from harness import LABELS
from harness.core.atomic import atomic_write_bytes
from harness.core.errors import IntegrityError
from harness.core.examples import NLIExample
from harness.core.hashing import sha256_json
from harness.data.benchmark import (
    MANIFEST_FORMAT,
    PROGRESS,
    _unit_engines,
    benchmark_hash,
    examples_sha256,
    file_table,
    json_line,
)
from harness.data.spec import SIMILARITY_DIR, USER_KIND, BenchmarkSpec, SizeSpec


def build_manifest(spec: BenchmarkSpec, size: SizeSpec, work: Path, data: Mapping[str, list[NLIExample]],
                   ids: list[str], journals: Mapping[str, dict[str, Any]], run_id: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """Everything the numbers depend on, and nothing machine-specific (no times, no paths)."""
    public = {k: v for k, v in spec.raw.items() if k != "expected_hashes"}
    files = {rel: e for rel, e in file_table(work).items() if not rel.startswith(PROGRESS + "/")}
    units = {key: journals[key] for key in sorted(journals)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "benchmark": {"name": spec.name, "version": spec.version, "id": spec.id, "size": size.name},
        "spec_sha256": spec.sha256,
        "harness_version": run_id["harness_version"],
        "seed": spec.seed,
        "selection": {"per_language": size.per_language, "stratify": list(size.stratify),
                      "n_items": len(ids), "ids_sha256": sha256_json(ids),
                      "label_counts": _counts(data, "label"), "genre_counts": _counts(data, "genre")},
        "data": {lang: {"n_items": len(exs), "content_sha256": examples_sha256(exs)}
                 for lang, exs in data.items()},
        "families": _family_summary(spec, units),
        "similarity_encoder": _one_encoder(units),
        "units": units,
        "spec": public,
        "files": files,
        "benchmark_hash": benchmark_hash(files),
    }
    if spec.raw.get("kind") == USER_KIND:  # only `perturb`'s manifests: XNLI ones keep their bytes
        manifest["benchmark"]["kind"] = USER_KIND
        manifest.update(_user_sections(spec, units))
    return manifest


def _user_sections(spec: BenchmarkSpec, units: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """What a user-file benchmark records in place of a pin: the input's identity, per unit the
    share of items actually changed and kept and what the edits came from, and the family x
    language cells left out (`perturb --skip-unsupported`) with the reason."""
    plan = spec.raw.get("plan") or {}
    coverage: dict[str, Any] = {}
    for key, unit in units.items():
        family, severity, language = key.split("/")
        stats = unit["stats"]
        n = stats["n_items"]
        coverage.setdefault(family, {}).setdefault(language, {})[severity] = {
            "n_items": n, "n_changed": stats["n_perturbed"], "n_kept": stats["n_kept"],
            "changed_share": round(stats["n_perturbed"] / n, 6) if n else 0.0,
            "kept_share": stats["coverage"],
            "source": plan.get(family, {}).get(language, {}).get(severity, {}).get("source")}
    return {"input": spec.raw.get("input"), "coverage": coverage, "unsupported": spec.raw.get("unsupported") or []}


def _counts(data: Mapping[str, list[NLIExample]], attr: str) -> dict[str, int]:
    first = next(iter(data.values()), [])
    out: dict[str, int] = {}
    for ex in first:
        key = LABELS[ex.label] if attr == "label" else str(ex.genre)
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _family_summary(spec: BenchmarkSpec, units: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Threshold, drop rate and coverage per family (and per severity) for the manifest."""
    out = {}
    for fam in spec.families.values():
        rows = [u for u in units.values() if u["unit"].startswith(fam.name + "/")]
        out[fam.name] = {"similarity_threshold": fam.similarity, "languages": list(fam.languages),
                         "severities": list(fam.severities), **_rates(rows),
                         "by_severity": {sev: _rates([u for u in rows if u["unit"].split("/")[1] == sev])
                                         for sev in fam.severities}}
    return out


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    items = sum(r["stats"]["n_items"] for r in rows)
    kept = sum(r["stats"]["n_kept"] for r in rows)
    dropped = sum(r["stats"]["n_dropped_similarity"] for r in rows)
    candidates = sum(r["stats"]["n_perturbed"] for r in rows)
    return {"n_items": items, "n_kept": kept, "n_dropped_similarity": dropped,
            "coverage": round(kept / items, 6) if items else 0.0,
            "drop_rate": round(dropped / candidates, 6) if candidates else 0.0}


def _one_encoder(units: Mapping[str, dict[str, Any]]) -> Any:
    identities = {json_line(u["similarity_encoder"]) for u in units.values() if u.get("similarity_encoder")}
    if len(identities) > 1:
        raise IntegrityError(f"units were filtered with different similarity encoders: {sorted(identities)}")
    return json.loads(identities.pop()) if identities else None


def write_pinned_files(manifest: Mapping[str, Any], out: Path, note: str) -> None:
    """The per-file pin of a generated benchmark: hashes and engine identities, never text."""
    files = {rel: e["sha256"] for rel, e in sorted(manifest["files"].items())
             if not rel.startswith(SIMILARITY_DIR + "/")}
    engines = {key: _unit_engines(unit) for key, unit in sorted(manifest["units"].items())}
    pin = {"benchmark": manifest["benchmark"]["id"], "size": manifest["benchmark"]["size"],
           "benchmark_hash": manifest["benchmark_hash"], "note": note, "files": files,
           "similarity_encoder": manifest.get("similarity_encoder"),
           "engines": {k: v for k, v in engines.items() if v}}
    atomic_write_bytes(out, (json.dumps(pin, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
