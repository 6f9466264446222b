"""Per-item outcomes of an adaptive attack: what its summary numbers are computed from, no text.

Why a file of its own: an attack's adversarial examples are XNLI text and cannot be committed,
so a record's `under_attack.<recipe>` numbers were claims nobody could check.  One line per
attacked item (language, id, gold label, clean prediction, TextAttack's status, queries, % words
perturbed) is enough to recompute every summary number except the mean words per input, and it
holds no premise, hypothesis or edit.  The summary is computed from these lines both when the
attack runs and when `leaderboard/verify.py` checks a record, so the two can never disagree by
construction, only by tampering.

This module is light (json and numpy): the leaderboard imports it without TextAttack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from harness import LABELS
from harness.core.errors import IntegrityError

FIELDS = ("language", "id", "label", "clean_prediction", "status", "queries", "perturbed_word_pct")
"""Exactly the keys of an outcome line, in the order written."""

STATUS_NAMES = {"successful": "succeeded", "failed": "failed", "skipped": "skipped", "maximized": "maximized"}
"""TextAttack result type -> outcome status.  succeeded: the model was right and the search flipped
it; failed: right and not flipped within the budget and constraints; skipped: already wrong on the
clean pair, not attacked.  maximized belongs to goal functions without a success condition and
never occurs with the project's untargeted recipes; it is kept so a count of it stays checkable."""

RECOMPUTED = ("n", "n_successful", "n_failed", "n_skipped", "n_maximized", "original_accuracy",
              "accuracy_under_attack", "attack_success_rate", "avg_perturbed_word_pct", "avg_num_queries")
"""Per-language summary fields that follow from the outcomes (not `avg_words_per_input`: word
counts are not kept, they would say little and the count is all that is left of the text)."""

AVERAGED = ("original_accuracy", "accuracy_under_attack", "attack_success_rate", "avg_perturbed_word_pct",
            "avg_num_queries")


def outcome(record: Mapping[str, Any]) -> dict[str, Any]:
    """The outcome line of one attacked item's full record (`<lang>.jsonl` of the attack folder)."""
    return {"language": record["language"], "id": record["id"], "label": record["label"],
            "clean_prediction": record["original_prediction"], "status": STATUS_NAMES[record["status"]],
            "queries": int(record["num_queries"]), "perturbed_word_pct": record["perturbed_word_pct"]}


def _pct(a: int, b: int) -> float | None:
    return round(100.0 * a / b, 2) if b else None


def summarise(outcomes: list[Mapping[str, Any]]) -> dict[str, Any]:
    """TextAttack's summary fields (the definitions of its `AttackLogManager`), as numbers."""
    counts = {s: sum(1 for o in outcomes if o["status"] == name) for s, name in STATUS_NAMES.items()}
    total = len(outcomes)
    attacked = counts["successful"] + counts["failed"]
    perturbed = [o["perturbed_word_pct"] for o in outcomes if o["status"] == "succeeded" and o["perturbed_word_pct"] > 0]
    queried = [o["queries"] for o in outcomes if o["status"] != "skipped"]
    return {
        "n": total, **{f"n_{s}": counts[s] for s in STATUS_NAMES},
        "original_accuracy": _pct(total - counts["skipped"], total),
        "accuracy_under_attack": _pct(counts["failed"], total),
        "attack_success_rate": _pct(counts["successful"], attacked),
        "avg_perturbed_word_pct": round(float(np.mean(perturbed)), 2) if perturbed else None,
        "avg_num_queries": round(float(np.mean(queried)), 2) if queried else None,
    }


def average(per_language: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Unweighted mean over languages of the accuracy fields (every language has n items)."""
    out: dict[str, Any] = {"languages": len(per_language), "n": sum(s["n"] for s in per_language.values())}
    for key in AVERAGED:
        values = [s[key] for s in per_language.values() if s[key] is not None]
        out[key] = round(float(np.mean(values)), 2) if values else None
    return out


def by_language(outcomes: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Outcomes grouped by language, languages in the order they first appear."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for line in outcomes:
        groups.setdefault(line["language"], []).append(line)
    return groups


def recompute(outcomes: list[Mapping[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(per-language summaries, their average), from the outcome lines alone."""
    per_language = {lang: summarise(lines) for lang, lines in by_language(outcomes).items()}
    return per_language, average(per_language)


def ids_sha256(ids: Iterable[str]) -> str:
    """sha256 of the sorted, distinct item ids (canonical JSON list): names a sample in a record."""
    from harness.core.hashing import sha256_json

    return sha256_json(sorted(set(ids)))


# ---- the file -------------------------------------------------------------------------------------

def to_bytes(outcomes: Iterable[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps({k: line[k] for k in FIELDS}, ensure_ascii=False) + "\n"
                   for line in outcomes).encode("utf-8")


def write(path: Path, outcomes: Iterable[Mapping[str, Any]]) -> None:
    from harness.core.atomic import atomic_write_bytes

    atomic_write_bytes(path, to_bytes(outcomes))


def read(path: Path) -> list[dict[str, Any]]:
    """Outcome lines, each checked field by field; IntegrityError naming the line otherwise."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{path}: unreadable outcomes file ({exc})") from None
    outcomes, seen = [], set()
    for number, text in enumerate(lines, 1):
        line = _parse(text, f"{path}:{number}")
        key = (line["language"], line["id"])
        if key in seen:
            raise IntegrityError(f"{path}:{number}: item {line['id']!r} ({line['language']}) appears twice")
        seen.add(key)
        outcomes.append(line)
    return outcomes


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        line = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"{where}: not JSON ({exc})") from None
    if not isinstance(line, dict) or set(line) != set(FIELDS):
        have = sorted(line) if isinstance(line, dict) else type(line).__name__
        raise IntegrityError(f"{where}: an outcome line has exactly the fields {list(FIELDS)}, this one {have}")
    problem = _field_problem(line)
    if problem:
        raise IntegrityError(f"{where}: {problem}")
    return line


def _field_problem(line: Mapping[str, Any]) -> str | None:
    """What is wrong with one line's values, or None; the status must fit the clean prediction."""
    if not (isinstance(line["language"], str) and isinstance(line["id"], str)):
        return "language and id must be strings"
    for key in ("label", "clean_prediction"):
        if line[key] not in LABELS:
            return f"{key} {line[key]!r} is not one of {list(LABELS)}"
    if line["status"] not in STATUS_NAMES.values():
        return f"status {line['status']!r} is not one of {sorted(set(STATUS_NAMES.values()))}"
    if not isinstance(line["queries"], int) or isinstance(line["queries"], bool) or line["queries"] < 0:
        return f"queries {line['queries']!r} is not a count"
    pct = line["perturbed_word_pct"]
    if not isinstance(pct, (int, float)) or isinstance(pct, bool) or not 0 <= pct <= 100:
        return f"perturbed_word_pct {pct!r} is not a percentage"
    if (line["status"] == "skipped") != (line["clean_prediction"] != line["label"]):
        return (f"status {line['status']!r} contradicts the clean prediction {line['clean_prediction']!r} "
                f"of gold {line['label']!r} (an item is skipped exactly when the clean prediction is wrong)")
    return None
