"""Synonym swap v1 vs v2 rules on the lite items: mechanical rates for the audit's failure modes.

Usage:
    XNLI_ROBUST_DATA=../shared/data python benchmarks/synonym_v2.py \
        --lite ../main/runs/xnli-robust-v1.1-lite [--languages en,fr] [--limit 300]

The ids are those of the lite benchmark's `clean/<lang>.jsonl`; the items are read from the
data root (XNLI test), and both rule sets run on them directly (no similarity filter, v1 with
the benchmark's seed).  Measures, never judges: a rate here is a count of a mechanical
property, not a validity claim (readers audit v2 afterwards).

Per language and severity, columns:
  changed    share of items with an edit (not NOT_APPLICABLE)
  edits      mean word edits per changed item
  med=high   share of items with medium and high both changed whose texts are identical
  nest_viol  share of items with all three changed whose edits do not nest strictly
  func       share of edits on a closed-class word (hand lists + wordfreq top-150, th: pythainlp)
  script     share of edits whose replacement has letters outside the language's script
  contain    share of edits whose replacement contains the original or is contained in it
  samelem    share of edits whose replacement has the original's lemma (simplemma)
  rare       share of edits whose replacement is rarer than MIN_ZIPF or MAX_ZIPF_DROP below
  afterfw    share of edits right after a closed-class word (agreeing languages only)
  trad       zh: share of edits whose replacement does not encode in GB2312
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attacks import synonyms_v2 as v2  # noqa: E402
from attacks.base import SEVERITIES, derive_rng  # noqa: E402
from attacks.synonym_family import build  # noqa: E402
from attacks.text import words  # noqa: E402
from harness.data.xnli import load_local  # noqa: E402

LANGUAGES = "en fr es de el bg ru tr ar vi th zh hi sw ur".split()
COLUMNS = ("changed", "edits", "med=high", "nest_viol", "func", "script", "contain", "samelem",
           "rare", "afterfw", "trad")


def word_edits(original: str, perturbed: str, language: str) -> list[tuple[int, str, str, str]]:
    """(position, previous word, old words, new words) of each replaced run of words."""
    a = [w.text for w in words(original, language)]
    b = [w.text for w in words(perturbed, language)]
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        sep = "" if language in ("zh", "th") else " "
        if i2 - i1 == j2 - j1:  # word for word: one edit each, so nesting compares per word
            out += [(i, a[i - 1] if i else "", a[i], b[j1 + i - i1]) for i in range(i1, i2)]
        else:
            out.append((i1, a[i1 - 1] if i1 else "", sep.join(a[i1:i2]), sep.join(b[j1:j2])))
    return out


def item_edits(ex, out, language: str) -> set[tuple[int, int, str, str, str]]:  # type: ignore[no-untyped-def]
    if not out:
        return set()
    return {(side, *e) for side, (o, p) in enumerate([(ex.premise, out.premise),
                                                      (ex.hypothesis, out.hypothesis)])
            for e in word_edits(o, p, language)}


def edit_flags(edit: tuple[int, int, str, str, str], language: str) -> dict[str, bool]:
    _, _, prev, old, new = edit
    zo, zn = v2.zipf(old, language), v2.zipf(new, language)
    flags = {
        "func": any(v2.is_function_word(w, language) for w in (old.split() or [old])),
        "script": bool(new) and not v2._script_ok(new, language),
        "contain": bool(new) and v2._shares_word(new, old, language),
        "samelem": bool(new) and v2.lemma_of(new, language) == v2.lemma_of(old, language),
        "rare": zo is not None and zn is not None and (zn < v2.MIN_ZIPF or zn < zo - v2.MAX_ZIPF_DROP),
        "afterfw": language in v2.AGREEING and bool(prev) and v2.is_function_word(prev, language),
        "trad": False,
    }
    if language == "zh":
        try:
            new.encode("gb2312")
        except UnicodeEncodeError:
            flags["trad"] = True
    return flags


def measure(items, language: str, rules: str, data_root: Path, seed: int) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    perturbations = {s: build(s, language, data_root, **({"rules": "v2"} if rules == "v2" else {}))
                     for s in SEVERITIES}
    outs = {s: [perturbations[s].perturb(ex, derive_rng(seed, "synonym", s, language, ex.id))
                for ex in items] for s in SEVERITIES}
    edits = {s: [item_edits(ex, o, language) for ex, o in zip(items, outs[s])] for s in SEVERITIES}
    rows = {}
    for s in SEVERITIES:
        changed = [i for i, o in enumerate(outs[s]) if o]
        all_edits = [e for i in changed for e in edits[s][i]]
        flags = [edit_flags(e, language) for e in all_edits]
        row = {"changed": len(changed) / len(items),
               "edits": len(all_edits) / max(1, len(changed))}
        both = [i for i in range(len(items)) if outs["medium"][i] and outs["high"][i]]
        row["med=high"] = sum(outs["medium"][i] == outs["high"][i] for i in both) / max(1, len(both))
        three = [i for i in both if outs["low"][i]]
        row["nest_viol"] = sum(not (edits["low"][i] < edits["medium"][i] < edits["high"][i])
                               for i in three) / max(1, len(three))
        for key in COLUMNS[4:]:
            row[key] = sum(f[key] for f in flags) / max(1, len(flags))
        rows[s] = row
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lite", type=Path, default=Path("../main/runs/xnli-robust-v1.1-lite"))
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    data_root = Path(os.environ["XNLI_ROBUST_DATA"])
    seed = json.loads((args.lite / "manifest.json").read_text(encoding="utf-8"))["seed"]
    print("lang rules sev    " + " ".join(f"{c:>9}" for c in COLUMNS))
    for language in args.languages.split(","):
        ids = [json.loads(line)["id"] for line in
               (args.lite / "clean" / f"{language}.jsonl").read_text(encoding="utf-8").splitlines()]
        by_id = {ex.id: ex for ex in load_local(data_root / "xnli", "test", [language])[language]}
        items = [by_id[i] for i in ids[:args.limit]]
        for rules in ("v1", "v2"):
            for s, row in measure(items, language, rules, data_root, seed).items():
                print(f"{language:4} {rules:5} {s:6} " + " ".join(
                    f"{row[c]:9.2f}" if c == "edits" else f"{100 * row[c]:8.1f}%" for c in COLUMNS),
                    flush=True)


if __name__ == "__main__":
    main()
