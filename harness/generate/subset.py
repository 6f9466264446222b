"""Is a smaller benchmark the larger one restricted to its items?  (`python -m harness.generate.subset`)

Why: each item's perturbed text and each keep/drop decision of the similarity filter must
depend on that item alone (issue #12), never on which other items share the run.  Lite is a
subset of full, so restricting every file of a full benchmark to lite's items must give lite's
files byte for byte.  A pinned full size is checked this way against its pinned lite, which the
readers audited (README: v2.1 full).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from harness.data.spec import SIMILARITY_DIR


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line for line in handle if line.strip()]


def _ids(lines: list[str]) -> set[str]:
    return {json.loads(line)["id"] for line in lines}


def restriction_problems(large: str | os.PathLike[str], small: str | os.PathLike[str]) -> tuple[int, list[str]]:
    """(files compared, problems): every item file of `small` must be the file of the same path in
    `large` with only `small`'s items (its clean ids, per language) kept, line for line.  The
    similarity side files are skipped: their 4th decimal may differ between machines."""
    large, small = Path(large), Path(small)
    files = json.loads((small / "manifest.json").read_text("utf-8"))["files"]
    big = json.loads((large / "manifest.json").read_text("utf-8"))["files"]
    items = {rel[len("clean/"):-len(".jsonl")]: _ids(_lines(small / rel)) for rel in files if rel.startswith("clean/")}
    problems: list[str] = []
    compared = 0
    for rel in sorted(files):
        if rel.startswith(SIMILARITY_DIR + "/"):
            continue
        if rel not in big:
            problems.append(f"{rel}: not in {large}")
            continue
        language = Path(rel).stem
        kept = [line for line in _lines(large / rel) if json.loads(line)["id"] in items[language]]
        compared += 1
        expected = _lines(small / rel)
        if kept != expected:
            problems.append(f"{rel}: restricted to the smaller benchmark's {len(items[language])} items, "
                            f"{len(kept)} lines differ from its {len(expected)}")
    return compared, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("large", help="the larger benchmark folder (e.g. full)")
    parser.add_argument("small", help="the smaller one (e.g. lite), whose items the larger holds")
    args = parser.parse_args(argv)
    compared, problems = restriction_problems(args.large, args.small)
    for problem in problems:
        print(problem)
    print(f"{compared} item files compared, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
