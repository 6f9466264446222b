"""A benchmark exported as a Hugging Face `datasets` folder: its layout, and what verifying one adds.

`xnli-robust export BENCH --format hf --out DIR` (`harness.generate.export`) writes

    manifest.json, clean/<lang>.jsonl, <family>/<severity>/<lang>.jsonl, similarity/...
                  the benchmark's own files, copied byte for byte (every sha256 unchanged)
    README.md     the data card: a YAML header that `datasets` reads (`configs`, `dataset_info`)
                  and an `xnli_robust` block that ties the card to the manifest, then prose

so `datasets.load_dataset(DIR, "char_noise-high", split="th")` reads the item files as they are,
and `bench --benchmark DIR` verifies exactly what it verifies on the folder: `verify` in
`harness.data.benchmark` treats the card as the one file a folder may hold beyond its manifest,
and checks that the card's configs point at the manifest's files (`card_problems`), so what a
`datasets` user loads is what the hashes cover.

Why the languages are splits, not a `language` column: one split is one item file, so a config
points at the files as generated (no file is split or merged, no hash changes), a user takes one
language with `split="th"` without filtering, and the per-language row counts in `dataset_info`
are checked by `datasets` itself when it builds a split.  Every row still has its `language`.

Every column is declared a string in `dataset_info`: without declared features `datasets`
infers them from the first file it reads, so a benchmark made from rows without a genre (the dev
split, the hub copy) would type `genre` as null and fail on the first file that has one.  A unit
with no kept items is left out of its config: `datasets` cannot load an empty split (it raises
"Instruction ... corresponds to no data"); its file is still copied and hashed, and the card's
coverage table shows the zero.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from attacks.base import SEVERITIES
from harness.core.errors import DataError
from harness.core.hashing import sha256_file

CARD = "README.md"
EXPORT_FORMAT = 1
MARKER = "xnli_robust"
"""The card's YAML block that names the benchmark it was written for."""
CLEAN_CONFIG = "clean"
CLEAN_COLUMNS = ("genre", "hypothesis", "id", "label", "language", "premise")
"""The keys of an item file's record (`harness.data.benchmark.clean_record`), sorted as written."""
PERTURBED_COLUMNS = ("genre", "hypothesis", "id", "label", "language", "orig_hypothesis", "orig_premise", "premise")
"""A perturbed record adds the original texts (`perturbed_record`)."""
HUB_FILES = (".gitattributes",)
HUB_FOLDERS = (".cache/huggingface/",)
"""What a hub upload or `snapshot_download(local_dir=...)` adds beside the card; never read."""
MANIFEST_NAME = "manifest.json"


def config_name(family: str, severity: str) -> str:
    """`char_noise-high`: family names hold underscores, so a hyphen separates the severity."""
    return f"{family}-{severity}"


def is_export(root: Path) -> bool:
    """A folder holding a data card beside its manifest is the exported form (and its card is checked)."""
    return (Path(root) / CARD).is_file()


def export_extra(rel: str) -> bool:
    """True for the files an export holds beyond the manifest's: the card and what the hub adds."""
    return rel == CARD or rel in HUB_FILES or rel.startswith(HUB_FOLDERS)


# --------------------------------------------------------------------------------------------
# What the card must say, from the manifest alone
# --------------------------------------------------------------------------------------------

def config_splits(manifest: Mapping[str, Any]) -> dict[str, dict[str, tuple[str, int]]]:
    """config -> language -> (item file, rows), in XNLI language order and severity order.

    The one place both the writer and the verifier take the configs from, so they cannot drift."""
    languages = list(manifest["data"])
    out: dict[str, dict[str, tuple[str, int]]] = {
        CLEAN_CONFIG: {lang: (f"clean/{lang}.jsonl", int(manifest["data"][lang]["n_items"])) for lang in languages}}
    units = manifest.get("units") or {}
    for family in sorted({key.split("/")[0] for key in units}):
        for severity in SEVERITIES:
            splits = {}
            for lang in languages:
                unit = units.get(f"{family}/{severity}/{lang}")
                if unit is not None and int(unit["stats"]["n_kept"]) > 0:
                    splits[lang] = (f"{family}/{severity}/{lang}.jsonl", int(unit["stats"]["n_kept"]))
            if splits:
                out[config_name(family, severity)] = splits
    return out


def empty_units(manifest: Mapping[str, Any]) -> list[str]:
    """Units whose file holds no item: no split in any config (see the module docstring)."""
    return sorted(key for key, unit in (manifest.get("units") or {}).items() if int(unit["stats"]["n_kept"]) == 0)


def card_header(manifest: Mapping[str, Any], manifest_sha256: str) -> dict[str, Any]:
    """The YAML keys of the card that `datasets` reads and `verify` checks (nothing descriptive).

    A split's `num_bytes` is its item file's size (`datasets` wants the field, checks only
    `num_examples`, and measures its own Arrow bytes)."""
    splits = config_splits(manifest)
    configs, infos = [], []
    for name, by_lang in splits.items():
        entry: dict[str, Any] = {"config_name": name}
        if name == CLEAN_CONFIG:
            entry["default"] = True
        entry["data_files"] = [{"split": lang, "path": path} for lang, (path, _) in by_lang.items()]
        configs.append(entry)
        columns = CLEAN_COLUMNS if name == CLEAN_CONFIG else PERTURBED_COLUMNS
        infos.append({"config_name": name, "features": [{"name": c, "dtype": "string"} for c in columns],
                      "splits": [_split_info(manifest, lang, path, n) for lang, (path, n) in by_lang.items()]})
    marker = {"format": EXPORT_FORMAT, "benchmark": f"{manifest['benchmark']['id']}-{manifest['benchmark']['size']}",
              "benchmark_hash": manifest["benchmark_hash"], "manifest_sha256": manifest_sha256}
    return {"configs": configs, "dataset_info": infos, MARKER: marker}


def _split_info(manifest: Mapping[str, Any], split: str, path: str, rows: int) -> dict[str, Any]:
    size = (manifest["files"].get(path) or {}).get("bytes", 0)
    return {"name": split, "num_bytes": int(size), "num_examples": rows}


# --------------------------------------------------------------------------------------------
# Reading and checking a card
# --------------------------------------------------------------------------------------------

def read_card_header(path: Path) -> dict[str, Any]:
    """The YAML header between the first two `---` lines of a data card."""
    import yaml  # lazy: keeps `--help` fast

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the data card ({exc})") from None
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---" or "---" not in (l.strip() for l in lines[1:]):
        raise DataError(f"{path}: no YAML header (a data card starts with a line '---' and its header ends with one)")
    end = next(i for i, l in enumerate(lines[1:], 1) if l.strip() == "---")
    try:
        header = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: invalid YAML header ({exc})") from None
    if not isinstance(header, dict):
        raise DataError(f"{path}: the YAML header is not a mapping")
    return header


def card_problems(root: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Every way the card disagrees with the manifest it sits beside; empty when it agrees.

    Why check it at all, when `bench` reads the files through the manifest: a `datasets` user
    reads them through the card, and an export whose card points a split at another file (or
    names another benchmark) would give those users items the hashes do not cover."""
    try:
        header = read_card_header(Path(root) / CARD)
    except DataError as exc:
        return [str(exc).replace(str(Path(root)) + "/", "")]
    if not isinstance(header.get(MARKER), dict):
        return [f"{CARD}: not an xnli-robust data card (no {MARKER!r} block in its YAML header); "
                "a benchmark folder holds no other files than its manifest lists"]
    try:
        expected = card_header(manifest, sha256_file(Path(root) / MANIFEST_NAME))
    except (KeyError, TypeError, ValueError) as exc:
        return [f"{MANIFEST_NAME}: cannot derive the card's configs from it (missing or malformed {exc})"]
    problems = _marker_problems(header[MARKER], expected[MARKER])
    problems += _config_problems(header.get("configs"), expected["configs"])
    if header.get("dataset_info") != expected["dataset_info"]:
        problems.append(f"{CARD}: dataset_info (features, split sizes) differs from what the manifest gives")
    return problems


def _marker_problems(found: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    return [f"{CARD}: {MARKER}.{key} is {found.get(key)!r}, the manifest gives {value!r}"
            for key, value in expected.items() if found.get(key) != value]


def _config_problems(found: Any, expected: list[dict[str, Any]]) -> list[str]:
    """Config by config, split by split: which file a split reads, if not the manifest's."""
    if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
        return [f"{CARD}: configs is not a list of configs"]
    by_name = {c.get("config_name"): c for c in found}
    want = {c["config_name"]: c for c in expected}
    problems = [f"{CARD}: config {name!r} is not one of the benchmark's" for name in by_name if name not in want]
    problems += [f"{CARD}: config {name!r} is missing" for name in want if name not in by_name]
    for name in (n for n in want if n in by_name and by_name[n] != want[n]):
        problems += _split_problems(name, _split_paths(by_name[name]), _split_paths(want[name]))
        if _split_paths(by_name[name]) == _split_paths(want[name]):
            problems.append(f"{CARD}: config {name!r} differs from the benchmark's in a field other than its "
                            f"files: {json.dumps(by_name[name], sort_keys=True)}")
    return problems


def _split_problems(config: str, found: Mapping[Any, Any], want: Mapping[str, str]) -> list[str]:
    problems = [f"{CARD}: config {config!r} split {split!r} reads {found.get(split)!r}; the manifest's file is {path!r}"
                for split, path in want.items() if found.get(split) != path]
    return problems + [f"{CARD}: config {config!r} has a split {split!r} the benchmark does not have"
                       for split in found if split not in want]


def _split_paths(config: Mapping[str, Any]) -> dict[str, Any]:
    files = config.get("data_files")
    if not isinstance(files, list):
        return {}
    return {f.get("split"): f.get("path") for f in files if isinstance(f, dict)}
