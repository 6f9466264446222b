"""Measure char_noise v1 against v2 on the lite items: the mechanical rates behind the audit's
failure modes (issue #14).  It judges nothing: a reading audit of v2 says whether cells pass.

    python benchmarks/char_noise_v2.py [--lite runs/xnli-robust-v1.1-lite] [--languages th,zh]

Items are the lite benchmark's ids (`<lite>/clean/<lang>.jsonl`), read from the data root
(`$XNLI_ROBUST_DATA`); each item's RNG is the benchmark's (`derive_rng(seed, "char_noise",
severity, language, id)`), so the v1 column is what lite v1.1 holds before the similarity
filter.  Per language x severity x rules it prints, over items:

* `changed`: share of items with at least one edit; `v2!=v1`: share whose v2 output differs;
* `edits`: edits per item; `real`: share of edits whose result is a known word
  (`attacks.lexicons`, the list v2 refuses with, so v2's is 0 by construction);
* `hg_items`: share of items holding a homoglyph (a single letter replaced by its twin in
  `cn.HOMOGLYPHS`; a keyboard slip that happens to be a twin counts too);
* `broken`: share of edits whose result breaks the script's rule (Thai leading vowel, Devanagari
  cluster, Arabic/Urdu joining; the rules v2 of `attacks.charnoise`) while the word kept it,
  over all edits, counting only words of the language's script (a Latin word in Urdu text is
  typed with English tables and has no joining);
* `zh_del`: share of Chinese edits that drop a character of a Han word; `acro`: share of edits on acronyms;
* `entity`: share of items where a non-stopword word of both sides is edited inconsistently
  (differently, or at some occurrences only);
* per language, `med=high`: share of items whose medium and high outputs are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attacks import charnoise as cn
from attacks import lexicons
from attacks.base import SEVERITIES, derive_rng
from attacks.text import words
from harness import LANGUAGES
from harness.core.examples import NLIExample

Edits = tuple[list[tuple[str, str]], list[tuple[str, str]]]
Output = tuple[tuple[str, str], Edits]

LITE = Path("/work/main/runs/xnli-robust-v1.1-lite")


def run_v1(ex: NLIExample, severity: str, rng: random.Random) -> Output:
    """What `CharNoise(rules="v1").perturb` does, keeping the edit lists."""
    rate = cn.RATES[severity]
    premise, p_edits = cn.noise_text_edits(ex.premise, ex.language, rate, rng)
    hypothesis, h_edits = cn.noise_text_edits(ex.hypothesis, ex.language, rate, rng)
    return (premise, hypothesis), (p_edits, h_edits)


def run_v2(ex: NLIExample, severity: str, rng: random.Random) -> Output:
    return cn.v2_noise_pair_edits(ex.premise, ex.hypothesis, ex.language, cn.RATES[severity], rng)


def is_homoglyph(old: str, new: str) -> bool:
    diffs = [(a, b) for a, b in zip(old, new) if a != b]
    return len(old) == len(new) and len(diffs) == 1 and diffs[0][1] in cn.HOMOGLYPHS.get(diffs[0][0], "")


def _rule(language: str) -> Callable[[str, str], bool] | None:
    if language == "th":
        return lambda new, old: cn.thai_well_formed(new) or not cn.thai_well_formed(old)
    if language == "hi":
        return lambda new, old: cn.devanagari_well_formed(new) or not cn.devanagari_well_formed(old)
    if language in ("ar", "ur"):
        return lambda new, old: cn.arabic_well_formed(new, old, language)
    return None


def inconsistent(ex: NLIExample, edits: Edits) -> bool:
    """A non-stopword word of both sides not edited the same way at every occurrence, or edited
    at some occurrences only."""
    sides = [words(ex.premise, ex.language), words(ex.hypothesis, ex.language)]
    shared = {s.text for s in sides[0]} & {s.text for s in sides[1]}
    for word in shared:
        if cn._protected_kind(word, ex.language) == "stopword":
            continue
        results = [new for side in edits for old, new in side if old == word]
        occurrences = sum(1 for side in sides for s in side if s.text == word)
        if results and (len(set(results)) > 1 or len(results) < occurrences):
            return True
    return False


def measure(items: list[NLIExample], language: str, severity: str, seed: int,
            run: Callable[[NLIExample, str, random.Random], Output]) -> tuple[dict[str, float], list[Any]]:
    rule = _rule(language)
    counts = {"changed": 0, "edits": 0, "real": 0, "hg_items": 0, "broken": 0, "zh_del": 0,
              "acro": 0, "entity": 0}
    outputs = []
    for ex in items:
        (premise, hypothesis), edits = run(ex, severity, derive_rng(seed, "char_noise", severity, language, ex.id))
        outputs.append((premise, hypothesis))
        pairs = [p for side in edits for p in side]
        counts["changed"] += bool(pairs)
        counts["edits"] += len(pairs)
        counts["real"] += sum(lexicons.is_known_word(new, language) for _, new in pairs)
        counts["hg_items"] += any(is_homoglyph(old, new) for old, new in pairs)
        counts["broken"] += sum(1 for old, new in pairs if rule and cn.table_language(old, language) == language
                                and not rule(new, old))
        counts["zh_del"] += sum(1 for old, new in pairs if language == "zh" and len(new) < len(old)
                                and all("\u4e00" <= ch <= "\u9fff" for ch in old))
        counts["acro"] += sum(1 for old, _ in pairs if cn.is_acronym(old))
        counts["entity"] += inconsistent(ex, edits)
    n, e = len(items), max(1, counts["edits"])
    rates = {"changed": counts["changed"] / n, "edits": counts["edits"] / n, "real": counts["real"] / e,
             "hg_items": counts["hg_items"] / n, "broken": counts["broken"] / e,
             "zh_del": counts["zh_del"] / e, "acro": counts["acro"] / e, "entity": counts["entity"] / n}
    return rates, outputs


def lite_items(lite: Path, language: str, data_root: Path) -> list[NLIExample]:
    from harness.data.xnli import load_local

    ids = [json.loads(line)["id"] for line in (lite / "clean" / f"{language}.jsonl").read_text(encoding="utf-8").splitlines()]
    by_id = {ex.id: ex for ex in load_local(data_root / "xnli", "test", [language])[language]}
    return [by_id[i] for i in ids]


COLUMNS = ("changed", "edits", "real", "hg_items", "broken", "zh_del", "acro", "entity")


def main(argv: list[str] | None = None) -> None:
    from harness.data.spec import load_spec

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lite", type=Path, default=LITE)
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--limit", type=int, default=None, help="first N lite items per language")
    args = parser.parse_args(argv)
    seed, root = load_spec().seed, Path(os.environ["XNLI_ROBUST_DATA"])
    print("lang sev   rules " + " ".join(f"{c:>8}" for c in COLUMNS) + "   v2!=v1")
    for language in args.languages.split(","):
        items = lite_items(args.lite, language, root)[:args.limit]
        same_mh = {}
        for rules, run in (("v1", run_v1), ("v2", run_v2)):
            outs = {}
            for severity in SEVERITIES:
                rates, outs[severity] = measure(items, language, severity, seed, run)
                differs = ""
                if rules == "v2":
                    v1_out = measure(items, language, severity, seed, run_v1)[1]
                    differs = f"{sum(a != b for a, b in zip(v1_out, outs[severity])) / len(items):8.3f}"
                print(f"{language:4} {severity:6} {rules:5} " + " ".join(f"{rates[c]:8.3f}" for c in COLUMNS) + f" {differs}")
            same_mh[rules] = sum(a == b for a, b in zip(outs["medium"], outs["high"])) / len(items)
        print(f"{language:4} med=high  v1 {same_mh['v1']:.3f}  v2 {same_mh['v2']:.3f}   (n={len(items)})", flush=True)


if __name__ == "__main__":
    main()
