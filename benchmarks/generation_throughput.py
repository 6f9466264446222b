"""How fast do our perturbation families generate, next to TextAttack's Augmenter?

Both sides perturb the same N real XNLI test items (premise and hypothesis), one item at a
time, in one process, so the ratios printed at the end come from one run on one machine.
Warm-up (building the perturbation and its first call: tables, WordNet, dictionaries, MT
engines) is timed apart from steady-state throughput; resources shared across languages load
in the first language's warm-up.  Importing TextAttack (5-15 s) is reported on its own line.
The warm-up call perturbs item N+1, so the steady state is one pass over N items none of
which has been seen: the families memoise per word, and a second pass over the same items
would measure their caches, not generation.  On a shared machine, run it twice and compare.
"changed" is the share of items whose premise or hypothesis changed.  By default the run uses
a fresh, temporary cache root (`$XNLI_ROBUST_CACHE`), so back-translation really translates
instead of reading an on-disk translation cache; `--warm-cache` keeps the configured one.

TextAttack is matched to each family as closely as it allows:

* char_noise: Augmenter over CompositeTransformation(QWERTY neighbour, random insertion,
  random deletion, neighbouring swap).  QWERTY stands in for our keyboard substitution;
  TextAttack's WordSwapRandomCharacterSubstitution (any ASCII letter) is farther from it.
* synonym: Augmenter over WordSwapWordNet (English WordNet, same data as ours).
* code_switch: no equivalent in TextAttack.
* back_translation: TextAttack's BackTranslation downloads MarianMT models: not available
  offline.

Both sides edit the same share of words (the family's medium rate, 0.25) with the same
pre-transformation constraints (no word edited twice, stopwords left alone), and produce one
perturbed text per premise and per hypothesis.  TextAttack is seeded per item through its
global RNGs; ours uses `derive_rng`.  (WordSwapWordNet's output still varies across processes
unless PYTHONHASHSEED is fixed: it draws from a `set` of synonyms.)  Other languages are measured
for our side only: TextAttack's swaps are ASCII/English-only.

    python benchmarks/generation_throughput.py --n 200
    python benchmarks/generation_throughput.py --n 50 --families char_noise --no-textattack
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.core.errors import HarnessError  # noqa: E402
from harness.core.examples import NLIExample  # noqa: E402

DEFAULT_FAMILIES = ("char_noise", "synonym", "code_switch", "back_translation")
DEFAULT_LANGUAGES = ("en", "fr", "zh", "th", "hi")
SEED = 0
MEDIUM_RATE = 0.25
"""Share of words TextAttack may edit: the medium rate of char_noise and synonym."""

TEXTATTACK_EQUIVALENT = ("char_noise", "synonym")
NO_TEXTATTACK_EQUIVALENT = {
    "code_switch": "no equivalent",
    "back_translation": "not available offline (BackTranslation downloads MarianMT models)",
}


@dataclass
class Measurement:
    """One (family, language, tool) run: warm-up apart, then steady state over all items."""

    family: str
    language: str
    tool: str
    warmup_s: float | None = None
    steady_s: float | None = None
    items: int = 0
    changed: int = 0
    note: str = ""

    @property
    def items_per_s(self) -> float | None:
        if self.steady_s is None or self.items == 0:
            return None
        return self.items / self.steady_s if self.steady_s > 0 else float("inf")


def load_items(data_root: Path, language: str, n: int) -> list[NLIExample]:
    """The first n rows of the XNLI test file of `language` (parallel across languages)."""
    from harness.data.xnli import find_split_file, read_local_split

    path = find_split_file(data_root / "xnli", "test", language)
    return read_local_split(path, language, "test")[:n]


def time_items(perturb: Callable[[NLIExample], Any], items: list[NLIExample]) -> tuple[float, int]:
    """Seconds to perturb every item once, and how many came back with changed text."""
    changed = 0
    start = time.perf_counter()
    for example in items:
        out = perturb(example)
        if out and (out.premise, out.hypothesis) != (example.premise, example.hypothesis):
            changed += 1
    return time.perf_counter() - start, changed


def measure_ours(family: str, language: str, data_root: Path, items: list[NLIExample],
                 warmup_item: NLIExample, severity: str) -> Measurement:
    """Build the family and perturb `warmup_item` (the warm-up), then time all items."""
    from attacks import registry
    from attacks.base import derive_rng

    result = Measurement(family, language, "ours")
    start = time.perf_counter()
    try:
        perturbation = registry.build(family, severity, language, data_root)

        def perturb(example: NLIExample) -> Any:
            rng = derive_rng(SEED, family, severity, language, example.id)
            return perturbation.perturb(example, rng)

        perturb(warmup_item)
    except ModuleNotFoundError as error:
        missing = error.name or str(error)
        result.note = (f"skipped: module {missing} not there yet" if missing.startswith("attacks")
                       else f"skipped: needs {missing}")
        return result
    except HarnessError as error:  # e.g. no back-translation route for this language
        result.note = f"skipped: {error}"
        return result
    result.warmup_s = time.perf_counter() - start
    try:
        result.steady_s, result.changed = time_items(perturb, items)
    except Exception as error:  # another helper's family may still be unfinished: report it
        result.note = f"failed: {type(error).__name__}: {error}"
        return result
    result.items = len(items)
    return result


def textattack_transformation(textattack: Any, family: str) -> Any:
    """TextAttack's nearest equivalent of `family` (see the module docstring)."""
    from attacks.textattack_compat import wordnet_swap

    t = textattack.transformations
    if family == "char_noise":
        return t.CompositeTransformation([
            t.WordSwapQWERTY(), t.WordSwapRandomCharacterInsertion(),
            t.WordSwapRandomCharacterDeletion(), t.WordSwapNeighboringCharacterSwap(),
        ])
    if family == "synonym":
        return wordnet_swap(textattack)
    raise KeyError(family)


def measure_textattack(family: str, textattack: Any, items: list[NLIExample],
                       warmup_item: NLIExample) -> Measurement:
    """Augmenter with the nearest transformation, one augmented text per premise/hypothesis."""
    from attacks.base import derive_rng
    from attacks.textattack_compat import ENGLISH_STOPWORDS, seed_textattack

    result = Measurement(family, "en", "textattack")
    if family not in TEXTATTACK_EQUIVALENT:
        result.note = NO_TEXTATTACK_EQUIVALENT.get(family, "no equivalent")
        return result
    pre = textattack.constraints.pre_transformation
    start = time.perf_counter()
    augmenter = textattack.augmentation.Augmenter(
        transformation=textattack_transformation(textattack, family),
        constraints=[pre.RepeatModification(), pre.StopwordModification(stopwords=ENGLISH_STOPWORDS)],
        pct_words_to_swap=MEDIUM_RATE,
        transformations_per_example=1,
    )

    def perturb(example: NLIExample) -> NLIExample:
        seed_textattack(derive_rng(SEED, family, "textattack", "en", example.id).getrandbits(32))
        premise = _first(augmenter.augment(example.premise), example.premise)
        hypothesis = _first(augmenter.augment(example.hypothesis), example.hypothesis)
        return example.with_texts(premise, hypothesis)

    perturb(warmup_item)
    result.warmup_s = time.perf_counter() - start
    result.steady_s, result.changed = time_items(perturb, items)
    result.items = len(items)
    return result


def _first(texts: list[str], original: str) -> str:
    return texts[0] if texts else original


def load_textattack(data_root: Path) -> tuple[Any, float, str]:
    """(module or None, import seconds, reason it was skipped)."""
    from attacks.textattack_compat import import_textattack

    start = time.perf_counter()
    try:
        module = import_textattack(data_root)
    except HarnessError as error:
        return None, time.perf_counter() - start, str(error)
    return module, time.perf_counter() - start, ""


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_results(measurements: list[Measurement]) -> None:
    from tabulate import tabulate

    rows = [[m.family, m.language, m.tool, _fmt(m.warmup_s, 2), _fmt(m.items_per_s),
             f"{100 * m.changed / m.items:.0f}%" if m.items else "-", m.items, m.note]
            for m in measurements]
    headers = ["family", "lang", "tool", "warm-up s", "items/s", "changed", "items", "note"]
    print(tabulate(rows, headers=headers, disable_numparse=True))


def print_ratios(measurements: list[Measurement], families: list[str],
                 textattack_note: str) -> None:
    """ours/TextAttack on English, per family; >1 means ours is faster."""
    from tabulate import tabulate

    by_key = {(m.family, m.language, m.tool): m for m in measurements}
    rows = []
    for family in families:
        ours = by_key.get((family, "en", "ours"))
        theirs = by_key.get((family, "en", "textattack"))
        ours_rate = ours.items_per_s if ours else None
        theirs_rate = theirs.items_per_s if theirs else None
        if ours_rate and theirs_rate:
            ratio = f"{ours_rate / theirs_rate:.2f}x"
        else:
            ratio = (theirs.note if theirs else textattack_note) or (ours.note if ours else "-")
        rows.append([family, _fmt(ours_rate), _fmt(theirs_rate), ratio])
    print(tabulate(rows, headers=["family (en)", "ours items/s", "TextAttack items/s",
                                  "ours / TextAttack"], disable_numparse=True))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="XNLI test items per language")
    parser.add_argument("--families", default=",".join(DEFAULT_FAMILIES),
                        help="comma-separated families (default: %(default)s)")
    parser.add_argument("--languages", default=",".join(DEFAULT_LANGUAGES),
                        help="comma-separated languages for our families (default: %(default)s)")
    parser.add_argument("--severity", default="medium", help="severity of our families")
    parser.add_argument("--data-root", default=None,
                        help="data root (default: $XNLI_ROBUST_DATA, then the cache)")
    parser.add_argument("--warm-cache", action="store_true",
                        help="keep the configured cache root (translations already cached "
                             "are read, not translated)")
    parser.add_argument("--no-textattack", action="store_true", help="measure only our families")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    from harness.core.registry import unknown_name_message
    from attacks.registry import FAMILIES  # imports no family

    args.families = [f for f in args.families.split(",") if f]
    for family in args.families:
        if family not in FAMILIES:
            parser.error(unknown_name_message("perturbation family", family, list(FAMILIES)))
    args.languages = [lang for lang in args.languages.split(",") if lang]
    return args


def main(argv: list[str] | None = None) -> int:
    from harness.core.paths import CACHE_ENV, data_root as resolve_data_root

    args = parse_args(argv)
    root = resolve_data_root(args.data_root)
    if args.warm_cache:
        return run(args, root)
    previous = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory(prefix="xnli-robust-bench-cache-") as cache:
        os.environ[CACHE_ENV] = cache
        try:
            return run(args, root)
        finally:
            if previous is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = previous


def run(args: argparse.Namespace, root: Path) -> int:
    families, languages = args.families, args.languages
    print(f"# generation throughput: {args.n} XNLI test items per language, severity "
          f"{args.severity}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}, {'configured' if args.warm_cache else 'empty'} cache")
    measurements: list[Measurement] = []
    # n + 1 rows: the last one is the warm-up item, never timed.
    items_by_language = {lang: load_items(root, lang, args.n + 1) for lang in languages}
    for family in families:
        for language in languages:
            items = items_by_language[language]
            m = measure_ours(family, language, root, items[:-1], items[-1], args.severity)
            measurements.append(m)
            print(f"  ours {family}/{language}: {_fmt(m.items_per_s)} items/s {m.note}", flush=True)

    textattack_note = ""
    if args.no_textattack:
        textattack_note = "TextAttack skipped (--no-textattack)"
        print(f"# {textattack_note}")
    else:
        textattack, import_s, reason = load_textattack(root)
        if textattack is None:
            textattack_note = "TextAttack skipped (not importable)"
            print(f"# TextAttack skipped: {reason}")
        else:
            print(f"# TextAttack {textattack_version()} imported in {import_s:.1f} s "
                  "(not counted in any warm-up below)", flush=True)
            english = items_by_language.get("en") or load_items(root, "en", args.n + 1)
            for family in families:
                m = measure_textattack(family, textattack, english[:-1], english[-1])
                measurements.append(m)
                print(f"  textattack {family}/en: {_fmt(m.items_per_s)} items/s {m.note}",
                      flush=True)

    print()
    print_results(measurements)
    print()
    print_ratios(measurements, families, textattack_note)
    return 0


def textattack_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("textattack")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


if __name__ == "__main__":
    sys.exit(main())
