"""The seeds of one recipe: which leaderboard records belong together, and their mean ± sd.

A recipe is what a seed does not change.  Its identity, in order of preference:

1. the recipe file beside the record (`submissions/NAME/recipe.yaml`, used only when its sha256
   is the `training.recipe_sha256` the record was scored with): its parsed content without
   `name`, `seed` and `description`, the only keys two seeds of one recipe differ in (comments
   are not content);
2. otherwise the submission name without its `-sN` suffix (`seed_level.recipe_name`), the
   convention of the reference submissions (`direct-e5small-s1` ... `-s3`).

Records are grouped only when they were also scored on the same data (benchmark hash, else
split and items hash), so a mean never mixes benchmarks.  The number of seeds is the number of
records in the group.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.hashing import sha256_file, sha256_json
from harness.metrics.seed_level import recipe_name

RECIPE_FILE = "recipe.yaml"
SEED_KEYS = ("name", "seed", "description")
Record = dict[str, Any]


@dataclass(frozen=True)
class RecipeGroup:
    """Records of one recipe on one benchmark, in name order."""

    label: str
    members: list[tuple[str, Record]]

    @property
    def records(self) -> list[Record]:
        return [record for _, record in self.members]


def recipe_identity(folder: Path, record: Record) -> str:
    """`recipe:<sha256>` from the recipe file's seed-free content, else `name:<name without -sN>`."""
    import yaml

    path = folder / RECIPE_FILE
    named = (record.get("training") or {}).get("recipe_sha256")
    if named and path.is_file() and sha256_file(path) == named:
        try:
            raw = yaml.safe_load(path.read_text("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, OSError):
            raw = None
        if isinstance(raw, dict):
            return "recipe:" + sha256_json({k: v for k, v in raw.items() if k not in SEED_KEYS})
    return "name:" + recipe_name(folder.name)


def data_identity(record: Record) -> str:
    """What the record was scored on: the benchmark hash, else the split and items hash."""
    data = record["data"]
    bench = data.get("benchmark") or {}
    if bench.get("benchmark_hash"):
        return "benchmark:" + bench["benchmark_hash"]
    return f"{data.get('source')}:{data.get('split')}:{data.get('items_sha256')}"


def group_records(records: Sequence[tuple[str, Record]], identities: dict[str, str] | None = None) -> list[RecipeGroup]:
    """Recipes in first-seen order; `identities` (name -> recipe identity) default to the name rule."""
    groups: dict[tuple[str, str], list[tuple[str, Record]]] = {}
    for name, record in sorted(records, key=lambda nr: nr[0]):
        identity = (identities or {}).get(name) or "name:" + recipe_name(name)
        groups.setdefault((identity, data_identity(record)), []).append((name, record))
    return [RecipeGroup(_label([n for n, _ in members]), members) for members in groups.values()]


def _label(names: list[str]) -> str:
    stems = sorted({recipe_name(n) for n in names})
    return stems[0] if len(stems) == 1 else " / ".join(names)


def seed_tag(label: str, name: str) -> str:
    """`s2` for `label-s2`, else the whole name: the short text a seed's link shows."""
    return name[len(label) + 1:] if name.startswith(label + "-") else name


# ---- numbers per record -------------------------------------------------------------------------

def clean_accuracy(record: Record) -> float | None:
    return record["results"]["clean"]["macro"]["accuracy"]


def worst_case(record: Record) -> float | None:
    return (record["results"].get("worst_case") or {}).get("average")


def _family_average(record: Record, family: str) -> dict[str, Any] | None:
    perturbed = record["results"].get("perturbed") or {}
    avg = (perturbed.get("families", {}).get(family) or {}).get("average")
    return avg if avg and avg.get("accuracy") is not None else None


def family_value(family: str, key: str) -> Callable[[Record], float | None]:
    """A getter for one family's average `accuracy`, `drop` or `flip_rate`."""
    def get(record: Record) -> float | None:
        avg = _family_average(record, family)
        return None if avg is None else avg[key]
    return get


def flip_rate(record: Record) -> float | None:
    """Mean over the record's families of each family's average flip rate (the share of perturbed
    versions whose prediction differs from the clean one, averaged over severities and languages)."""
    families = (record["results"].get("perturbed") or {}).get("families", {})
    rates = [avg["flip_rate"] for f in sorted(families) if (avg := _family_average(record, f))
             and avg.get("flip_rate") is not None]
    return statistics.fmean(rates) if rates else None


def intermediate_stages(record: Record) -> list[dict[str, Any]]:
    """The stages before MNLI from `training.stages` (absent in older records: empty)."""
    return [s for s in (record["training"].get("stages") or []) if s.get("task") != "mnli"]


# ---- cells ----------------------------------------------------------------------------------------

def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample sd (n - 1; None for one value): the spread another seed would show."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def pct_cell(values: Sequence[float | None], signed: bool = False) -> str:
    """`56.3 ± 1.2` (in %) over the seeds that have the number, `56.3` for one, `–` for none."""
    known = [v for v in values if v is not None]
    if not known:
        return "–"
    mean, sd = mean_sd(known)
    text = f"{100 * mean:+.1f}" if signed else f"{100 * mean:.1f}"
    return text if sd is None else f"{text} ± {100 * sd:.1f}"


def family_cell(records: Sequence[Record], family: str) -> str:
    """Perturbed accuracy, and in brackets its change from clean (negative: a drop), mean ± sd."""
    accuracy = [family_value(family, "accuracy")(r) for r in records]
    if all(v is None for v in accuracy):
        return "–"
    change = [None if (d := family_value(family, "drop")(r)) is None else -d for r in records]
    return f"{pct_cell(accuracy)} ({pct_cell(change, signed=True)})"


def stage_cell(records: Sequence[Record], index: int) -> str:
    """Held-out accuracy of intermediate stage `index`, its chance level and whether it learned.

    One record: `anli 34.9 [31.2, 38.7] (chance 33.3, not learned)`; several: mean ± sd and how
    many seeds learned; `–` when no record reports the stage."""
    stages = [s[index] for r in records if len(s := intermediate_stages(r)) > index]
    accuracies = [s.get("held_out_accuracy") for s in stages]
    if not stages or all(a is None for a in accuracies):
        return "–"
    task = "/".join(sorted({str(s.get("task")) for s in stages}))
    chances = [s["chance"] for s in stages if s.get("chance") is not None]
    chance = f"chance {pct_cell(chances[:1])}" if chances else "chance ?"
    if len(records) == 1:
        stage = stages[0]
        ci = stage.get("ci95")
        interval = f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else ""
        learned = {True: ", learned", False: ", not learned"}.get(stage.get("learned"), "")
        return f"{task} {pct_cell(accuracies)}{interval} ({chance}{learned})"
    told = [s["learned"] for s in stages if s.get("learned") is not None]
    learned = f", learned {sum(told)}/{len(told)}" if told else ""
    missing = f"; {len(stages)} of {len(records)} seeds report it" if len(stages) < len(records) else ""
    return f"{task} {pct_cell(accuracies)} ({chance}{learned}{missing})"


def stage_count(records: Sequence[Record]) -> int:
    """Stage columns the page needs: the most intermediate stages any record reports, and at least
    one when some record had intermediate training (so a record that does not report it shows `–`)."""
    reported = max((len(intermediate_stages(r)) for r in records), default=0)
    return max(reported, int(any(r["training"].get("intermediate_tasks") for r in records)))
