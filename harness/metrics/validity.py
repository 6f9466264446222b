"""Validity of a perturbed benchmark, measured by reading: audit judgments, per-cell rates, the bar.

An audit file (`*.audit.jsonl`) holds one JSON object per judged item with exactly the fields
`AUDIT_FIELDS`: which item (benchmark, family, severity, language, id) and what a careful reader
found (label preserved yes/no/unsure; meaning same/shifted/broken; fluency fine/awkward/
ungrammatical; a note naming the offending edit).  Never the texts: XNLI is not ours to publish,
and ids are enough to find the items in a benchmark anyone can regenerate.

Why strict rates: "unsure" is not "preserved".  A cell's label preservation is yes / n and its
meaning rate is same / n, each with a Wilson 95% interval (exact enough at n = 30 and defined at
0 and n, where the normal approximation is not).  A family x language cell enters a benchmark
only if it meets `BAR` with at least `MIN_ITEMS` judged items and `MIN_PER_SEVERITY` per severity;
the verdict names every reason a cell misses it.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness.core.errors import DataError

AUDIT_FIELDS = ("benchmark", "family", "severity", "language", "id", "label_preserved", "meaning", "fluency", "note")
VALUES: dict[str, tuple[str, ...]] = {
    "label_preserved": ("yes", "no", "unsure"),
    "meaning": ("same", "shifted", "broken"),
    "fluency": ("fine", "awkward", "ungrammatical"),
}
BAR = {"label_preserved": 0.95, "meaning_same": 0.80}
"""The inclusion bar of a family x language cell (point estimates over its judged items)."""
MIN_ITEMS = 30
MIN_PER_SEVERITY = 10
SUFFIX = ".audit.jsonl"


@dataclass(frozen=True)
class Judgment:
    benchmark: str
    family: str
    severity: str
    language: str
    id: str
    label_preserved: str
    meaning: str
    fluency: str
    note: str

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.benchmark, self.family, self.severity, self.language, self.id)

    @property
    def cell(self) -> tuple[str, str, str]:
        return (self.benchmark, self.family, self.language)


def parse_judgment(raw: Any, where: str) -> Judgment:
    """One audit line, refused unless it has exactly the audit fields with allowed values."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: an audit line is a JSON object, not {type(raw).__name__}")
    if tuple(sorted(raw)) != tuple(sorted(AUDIT_FIELDS)):
        extra, missing = sorted(set(raw) - set(AUDIT_FIELDS)), sorted(set(AUDIT_FIELDS) - set(raw))
        raise DataError(f"{where}: audit fields must be exactly {', '.join(AUDIT_FIELDS)} "
                        f"(extra: {extra or 'none'}, missing: {missing or 'none'}); texts never go in an audit file")
    for name in AUDIT_FIELDS:
        if not isinstance(raw[name], str):
            raise DataError(f"{where}: {name} must be a string")
    for name, allowed in VALUES.items():
        if raw[name] not in allowed:
            raise DataError(f"{where}: {name} {raw[name]!r} is not one of {', '.join(allowed)}")
    if raw["label_preserved"] != "yes" or raw["meaning"] != "same":
        if not raw["note"].strip():
            raise DataError(f"{where}: a judgment other than yes/same needs a note naming the offending edit")
    return Judgment(**{name: raw[name] for name in AUDIT_FIELDS})


def read_audit(path: str | Path) -> list[Judgment]:
    """All judgments of an audit file; a duplicated item is an error (one reading per item)."""
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise DataError(f"{path}: an audit file's name ends in {SUFFIX}")
    judgments: list[Judgment] = []
    seen: dict[tuple[str, ...], int] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not JSON ({exc.msg})") from None
            judgment = parse_judgment(raw, where)
            if judgment.key in seen:
                raise DataError(f"{where}: {'/'.join(judgment.key)} was already judged on line {seen[judgment.key]}")
            seen[judgment.key] = number
            judgments.append(judgment)
    return judgments


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _rate(count: int, n: int) -> dict[str, Any]:
    low, high = wilson(count, n)
    return {"count": count, "rate": round(count / n, 4) if n else None, "ci95": [round(low, 4), round(high, 4)]}


def cell_rates(judgments: Iterable[Judgment], by_severity: bool = False) -> dict[tuple[str, ...], dict[str, Any]]:
    """Per (benchmark, family, language), or per unit with `by_severity` (e.g. one back-translation
    route per severity slot): n, items per severity, and every outcome's rate with its interval."""
    cells: dict[tuple[str, ...], list[Judgment]] = defaultdict(list)
    for j in judgments:
        cells[j.cell + ((j.severity,) if by_severity else ())].append(j)
    out = {}
    for cell, items in sorted(cells.items()):
        n = len(items)
        counts = {field: Counter(getattr(j, field) for j in items) for field in VALUES}
        out[cell] = {
            "n": n,
            "per_severity": dict(sorted(Counter(j.severity for j in items).items())),
            **{f"{field}_{value}": _rate(counts[field][value], n) for field, values in VALUES.items() for value in values},
        }
    return out


def verdict(rates: Mapping[str, Any], severities: Iterable[str] | None = None) -> dict[str, Any]:
    """Whether one cell meets the bar, and every reason it does not.

    `severities`: those the cell must have readings of; None: the ones it has (a cell whose
    benchmark has fewer severities, e.g. one back-translation route, is not asked for others;
    that the audit covers every sampled unit is `check_complete`'s job)."""
    reasons = []
    if rates["n"] < MIN_ITEMS:
        reasons.append(f"only {rates['n']} items judged (needs {MIN_ITEMS})")
    for severity in (rates["per_severity"] if severities is None else severities):
        got = rates["per_severity"].get(severity, 0)
        if got < MIN_PER_SEVERITY:
            reasons.append(f"only {got} {severity} items judged (needs {MIN_PER_SEVERITY})")
    kept, same = rates["label_preserved_yes"]["rate"] or 0.0, rates["meaning_same"]["rate"] or 0.0
    if kept < BAR["label_preserved"]:
        reasons.append(f"label preserved in {100 * kept:.1f}% (bar {100 * BAR['label_preserved']:.0f}%)")
    if same < BAR["meaning_same"]:
        reasons.append(f"meaning the same in {100 * same:.1f}% (bar {100 * BAR['meaning_same']:.0f}%)")
    return {"included": not reasons, "reasons": reasons}


def report(judgments: list[Judgment], severities: Iterable[str] | None = None,
           by_severity: bool = False) -> list[dict[str, Any]]:
    """One row per cell: its rates and its verdict (what the manifest, README and data card show).
    With `by_severity`, one row per unit, judged against the same bar as if it were a cell."""
    wanted = None if severities is None else tuple(severities)
    rows = []
    for cell, rates in cell_rates(judgments, by_severity).items():
        where = {"benchmark": cell[0], "family": cell[1], "language": cell[2]}
        if by_severity:
            where["severity"] = cell[3]
        rows.append({**where, **rates, **verdict(rates, wanted)})
    return rows


def _pct(entry: Mapping[str, Any]) -> str:
    low, high = entry["ci95"]
    return f"{100 * entry['rate']:.0f} [{100 * low:.0f}, {100 * high:.0f}]"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The validity table: label kept, label lost, unsure, meaning same, fluent, in % with 95% intervals."""
    lines = ["| family | language | n | label kept | label lost | unsure | meaning same | fluent | in the bar? |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        verdict_text = "yes" if r["included"] else "no: " + "; ".join(r["reasons"])
        family = r["family"] + (f" / {r['severity']}" if "severity" in r else "")
        lines.append(f"| {family} | {r['language']} | {r['n']} | {_pct(r['label_preserved_yes'])} | "
                     f"{_pct(r['label_preserved_no'])} | {_pct(r['label_preserved_unsure'])} | "
                     f"{_pct(r['meaning_same'])} | {_pct(r['fluency_fine'])} | {verdict_text} |")
    return "\n".join(lines) + "\n"


def read_keys(path: str | Path) -> list[tuple[str, str, str, str, str]]:
    """The sampled items of a `<lang>.keys.jsonl` (written by `xnli-robust audit --sheets`)."""
    keys = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    raw = json.loads(line)
                    keys.append(tuple(str(raw[f]) for f in AUDIT_FIELDS[:5]))
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise DataError(f"{path}:{number}: not a sample key (benchmark, family, severity, language, id)") from None
    return keys  # type: ignore[return-value]


def check_complete(judgments: Iterable[Judgment], keys: Iterable[tuple[str, ...]]) -> None:
    """Every sampled item judged, and nothing judged that was not sampled (a reading, not a pick)."""
    judged, wanted = {j.key for j in judgments}, set(keys)
    missing, extra = sorted(wanted - judged), sorted(judged - wanted)
    if missing or extra:
        show = lambda ks: ", ".join("/".join(k[1:]) for k in ks[:5]) + (" ..." if len(ks) > 5 else "")  # noqa: E731
        raise DataError(f"audit does not match its sample: {len(missing)} sampled item(s) not judged"
                        f"{' (' + show(missing) + ')' if missing else ''}, {len(extra)} judged item(s) not sampled"
                        f"{' (' + show(extra) + ')' if extra else ''}")
