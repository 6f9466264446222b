"""Measure code_switch v1 against v2 rules on the lite items: mechanical rates, not validity.

    XNLI_ROBUST_DATA=../shared/data python benchmarks/code_switch_v2.py \\
        --lite ../main/runs/xnli-robust-v1.1-lite [--languages fr,th] [--sentence]

Items are the ids of `<lite>/clean/<lang>.jsonl`, read from the data root.  For every language,
severity and rule set it prints the audit's failure modes as rates over switched words:
how many items change, words switched per changed item, switched closed-class words
(stopwords-iso or `attacks.protected`), inflected sources and targets (simplemma),
round-trip failures (no English translation of the target among the source's first two),
switches of capitalised non-initial words (name look-alikes), th/zh segments that are not
known whole words or touch one, lone Vietnamese syllables, vulgar targets (v2 blocklist),
zh targets with Traditional characters; then nesting: items whose low ⊂ medium ⊂ high
switch sets hold, and items whose medium and high outputs are identical.  With
`--sentence`, the share of items whose rows disagree on negation, per language pair.
Readers judge validity afterwards; these numbers say only what changed mechanically.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attacks import codeswitch as cs  # noqa: E402
from attacks.base import SEVERITIES, derive_rng  # noqa: E402
from harness import LANGUAGES  # noqa: E402
from harness.core.paths import data_root  # noqa: E402
from harness.data.xnli import load_local  # noqa: E402

SEED = 20241126  # harness/specs/xnli-robust-v1.1.yaml


def v1_choices(p: cs.WordCodeSwitch, ex, rng: random.Random):  # type: ignore[no-untyped-def]
    """What v1's perturb chose (the same calls, so the same RNG draws)."""
    texts = (cs.nfc(ex.premise), cs.nfc(ex.hypothesis))
    spans = [cs.words(t, p.language) for t in texts]
    slots = p._slots(0, spans[0]) + p._slots(1, spans[1])
    if not slots:
        return texts, spans, {}
    count = max(1, int(cs.WORD_RATES[p.severity] * len(slots) + 0.5))
    return texts, spans, cs._choose(slots, count, cs.MAX_LANGUAGES[p.severity], rng)


def v2_choices(p: cs.WordCodeSwitchV2, ex):  # type: ignore[no-untyped-def]
    texts = (ex.premise, ex.hypothesis)
    spans = [p._spans(t) for t in texts]
    slots = p._slots(texts[0], 0, spans[0]) + p._slots(texts[1], 1, spans[1])
    if not slots:
        return texts, spans, {s: {} for s in SEVERITIES}
    return texts, spans, cs.nested_choices(slots, ex.id, p.language, spans)


def round_trip_ok(root: Path, language: str, source: str, target: str, word: str, rules: str) -> bool:
    """Some English translation of the target is among the source's first two (MUSE order;
    for v2's WordNet-joined sw/vi, its own lexicon)."""
    lexicon = cs._lexicons_v2 if rules == "v2" else cs._lexicons
    src_en = {source} if language == "en" else set(lexicon(root, language)[1].get(source, ())[:2])
    if target == "en":
        return word in src_en
    back = cs._lexicons_v2(root, target)[1].get(word, ())[:3] or cs._lexicons(root, target)[1].get(word, ())[:3]
    return bool(src_en & set(back))


def rates(root: Path, language: str, text_spans, choice, rules: str) -> Counter:  # type: ignore[no-untyped-def]
    texts, spans = text_spans
    c: Counter = Counter()
    for (side, i), (target, word) in choice.items():
        span, key = spans[side][i], cs._lookup_key(spans[side][i].text)
        c["switched"] += 1
        c["function_word"] += cs._v2_protected(key, language)
        c["inflected_source"] += not cs._is_lemma(span.text, language)
        c["inflected_target"] += not cs._is_lemma(word.lower(), target)
        c["round_trip_fail"] += not round_trip_ok(root, language, key, target, word.lower(), rules)
        c["capitalised_inside"] += cs._capitalised_inside(texts[side], span, language)
        near = [spans[side][j] for j in (i - 1, i, i + 1) if 0 <= j < len(spans[side])]
        c["unknown_segment"] += not all(cs._in_dictionary(s.text, language) for s in near)
        c["vi_lone_syllable"] += language == "vi" and " " not in span.text
        c["vulgar_target"] += cs._is_blocked(word.lower(), target)
        c["zh_traditional"] += target == "zh" and cs._zh_converter()[1](word) != word
    return c


def nested(sets: dict[str, set]) -> bool:
    return sets["low"] <= sets["medium"] <= sets["high"]


def measure(root: Path, language: str, items: list) -> None:  # type: ignore[type-arg]
    for rules in ("v1", "v2"):
        totals = {s: Counter() for s in SEVERITIES}
        nest = Counter()
        for ex in items:
            sets, outs = {}, {}
            v2 = v2_choices(cs.build("low", language, root, rules="v2"), ex) if rules == "v2" else None
            for sev in SEVERITIES:
                if rules == "v1":
                    p = cs.build(sev, language, root)
                    texts, spans, choice = v1_choices(p, ex, derive_rng(SEED, "code_switch", sev, language, ex.id))
                else:
                    texts, spans, choices = v2
                    choice = choices[sev]
                c = rates(root, language, (texts, spans), choice, rules)
                c["items"] += 1
                c["changed"] += bool(choice)
                totals[sev].update(c)
                sets[sev] = {(s, i, w) for (s, i), (_, w) in choice.items()}
                outs[sev] = frozenset(sets[sev])
            if sets["low"]:
                nest["applicable"] += 1
                nest["nested"] += nested(sets)
                nest["strict"] += sets["low"] < sets["medium"] < sets["high"]
                nest["medium_eq_high"] += outs["medium"] == outs["high"]
        for sev in SEVERITIES:
            t = totals[sev]
            n = max(t["switched"], 1)
            print(f"{language}\t{rules}\t{sev}\tchanged {100 * t['changed'] / t['items']:.1f}%"
                  f"\twords/item {t['switched'] / max(t['changed'], 1):.2f}"
                  + "".join(f"\t{k} {100 * t[k] / n:.1f}%" for k in (
                      "function_word", "inflected_source", "inflected_target", "round_trip_fail",
                      "capitalised_inside", "unknown_segment", "vi_lone_syllable",
                      "vulgar_target", "zh_traditional")))
        a = max(nest["applicable"], 1)
        print(f"{language}\t{rules}\tnesting\tlow<=med<=high {100 * nest['nested'] / a:.1f}%"
              f"\tstrict {100 * nest['strict'] / a:.1f}%\tmedium==high {100 * nest['medium_eq_high'] / a:.1f}%"
              f"\t(of {nest['applicable']} items)", flush=True)


def sentence_disagreement(root: Path, language: str, items: list) -> None:  # type: ignore[type-arg]
    rows = {t: cs.parallel_rows(root, t) for t in LANGUAGES}
    for side, name in ((1, "hypothesis"), (0, "premise")):
        counts = Counter()
        for ex in items:
            own = cs.has_negation((ex.premise, ex.hypothesis)[side], language)
            for t in LANGUAGES:
                if t != language and ex.id in rows[t]:
                    counts[t] += cs.has_negation(rows[t][ex.id][side], t) != own
        worst = ", ".join(f"{t} {100 * n / len(items):.0f}%" for t, n in counts.most_common(4))
        total = 100 * sum(counts.values()) / (len(items) * (len(LANGUAGES) - 1))
        print(f"{language}\tsentence\t{name} negation disagreement {total:.1f}% of row pairs; worst: {worst}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lite", type=Path, required=True)
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--sentence", action="store_true")
    args = parser.parse_args()
    root = data_root()
    languages = args.languages.split(",")
    data = load_local(root / "xnli", "test", languages)
    for language in languages:
        ids = [json.loads(line)["id"] for line in open(args.lite / "clean" / f"{language}.jsonl", encoding="utf-8")]
        by_id = {ex.id: ex for ex in data[language]}
        items = [by_id[i] for i in ids]
        if args.sentence:
            sentence_disagreement(root, language, items)
        else:
            measure(root, language, items)


if __name__ == "__main__":
    main()
