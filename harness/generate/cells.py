"""A benchmark spec whose cells are chosen by a reading audit (issue #14's inclusion bar).

Why: benchmark v2 takes a family x language cell only if readers found that it keeps the label
(>= 95%) and the meaning (>= 80%) often enough (`harness.metrics.validity`).  The cells are
chosen here, by code, from the committed audit of a candidate spec, so the choice can be
recomputed and tested, and nobody picks cells by hand.  A unit depends only on the seed, its
family, severity, language, rules and items, so a chosen cell's files are byte-identical to the
candidate's audited ones.

    python -m harness.generate.cells harness/specs/candidates/xnli-robust-v2-candidate.yaml \\
        --audit harness/specs/audits/xnli-robust-v2-candidate-v0-lite --keys runs/audit-sheets \\
        --name xnli-robust --version 2.0 --out harness/specs/xnli-robust-v2.yaml
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any, Iterable

import yaml

from harness.core.atomic import atomic_write_bytes
from harness.core.errors import DataError
from harness.data.spec import check_families, load_spec, parse_spec
from harness.metrics import validity


def choose_cells(candidate: dict[str, Any], rows: Iterable[dict[str, Any]]
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`candidate` (a raw spec) restricted to the cells `rows` (validity.report) include.

    Returns the new raw spec and the excluded cells with their reasons; a cell of the candidate
    that no row judges is excluded as "not audited", and a family left with no language is
    dropped.  Raises DataError if a row names a cell the candidate does not have."""
    by_cell = {(r["family"], r["language"]): r for r in rows}
    families = candidate["families"]
    spec = load_spec_raw(candidate)
    unknown = sorted(set(by_cell) - {(f, lang) for f, fam in spec.families.items() for lang in fam.languages})
    if unknown:
        raise DataError(f"the audit judges cells the candidate does not have: {unknown}")
    out = copy.deepcopy(candidate)
    excluded: list[dict[str, Any]] = []
    for name, fam in spec.families.items():
        keep = []
        for lang in fam.languages:
            row = by_cell.get((name, lang))
            if row is not None and row["included"]:
                keep.append(lang)
            else:
                excluded.append({"family": name, "language": lang,
                                 "reasons": row["reasons"] if row is not None else ["not audited"]})
        if keep:
            out["families"][name] = {**families[name], "languages": keep}
            params = out["families"][name].get("params") or {}
            if "routes" in params:
                params["routes"] = {lang: params["routes"][lang] for lang in keep}
        else:
            del out["families"][name]
    return out, excluded


def load_spec_raw(raw: dict[str, Any]) -> Any:
    """The parsed spec of a raw mapping (validated as `load_spec` validates a file)."""
    return check_families(parse_spec(raw))


def audit_rows(audit_dir: Path, keys_dir: Path) -> list[dict[str, Any]]:
    """Every cell's validity row from `audit_dir/*.audit.jsonl`, checked against the sample's keys."""
    judgments = [j for path in sorted(audit_dir.glob(f"*{validity.SUFFIX}")) for j in validity.read_audit(path)]
    keys = [k for path in sorted(keys_dir.glob("*.keys.jsonl")) for k in validity.read_keys(path)]
    if not judgments:
        raise DataError(f"{audit_dir}: no {validity.SUFFIX} files")
    validity.check_complete(judgments, keys)
    return validity.report(judgments)


def spec_text(raw: dict[str, Any], excluded: list[dict[str, Any]], header: str) -> str:
    """YAML for `raw`, after a comment header and the list of excluded cells with reasons."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += ["#", "# Cells left out (family / language: why):"]
    lines += [f"# - {e['family']} / {e['language']}: {'; '.join(e['reasons'])}" for e in excluded]
    body = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(lines) + "\n" + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidate", type=Path, help="the candidate spec the audit read")
    parser.add_argument("--audit", type=Path, required=True, help="folder of <lang>.audit.jsonl files")
    parser.add_argument("--keys", type=Path, required=True, help="folder of the sample's <lang>.keys.jsonl files")
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--header", default="", help="comment text for the top of the spec")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    raw = yaml.safe_load(args.candidate.read_text(encoding="utf-8"))
    load_spec(args.candidate)  # the candidate itself must be valid
    chosen, excluded = choose_cells(raw, audit_rows(args.audit, args.keys))
    chosen = {**chosen, "name": args.name, "version": args.version,
              "validity": {"audit": args.audit.as_posix(), "candidate": args.candidate.as_posix(),
                           "bar": {**validity.BAR, "min_items": validity.MIN_ITEMS,
                                   "min_per_severity": validity.MIN_PER_SEVERITY}},
              "expected_hashes": {"lite": None, "full": None}}
    load_spec_raw(chosen)
    atomic_write_bytes(args.out, spec_text(chosen, excluded, args.header).encode("utf-8"))
    print(f"wrote {args.out}: {sum(len(f['languages']) for f in chosen['families'].values())} cells in, "
          f"{len(excluded)} out")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
