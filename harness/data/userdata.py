"""A user's NLI data (a JSONL/TSV file or a hub dataset): loading it, its identity, its checks.

Why here: `bench --data-file`, `attack --data-file` and `perturb` read the same data one way.
A reference is a path (JSONL or headed TSV, `harness.data.xnli.load_custom`) or a hub dataset,
`hub:OWNER/NAME:SPLIT` or `hub:OWNER/NAME:CONFIG:SPLIT`, read through the one network boundary
for hub datasets (`harness.data.tasks.hub_load_dataset`).  Its identity (the file's sha256, or
the hub name and fingerprint, and always the sha256 of the parsed items) is what a user-file
benchmark records in place of a committed pin.

Language codes: each row's `language` (or the file's default) is an ISO 639 code of two or
three lower-case letters, or PREMISE+HYPOTHESIS for a pair whose sides differ ("en+de");
`perturb` checks them (`check_for_perturbation`), since they become file names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import regex

from harness import LANGUAGES
from harness.core.errors import DataError
from harness.core.examples import NLIExample, parse_label
from harness.core.hashing import sha256_file, sha256_json

HUB_PREFIX = "hub:"

_CODE = regex.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class UserData:
    """Loaded user data: examples by language code, and what identifies the input."""

    examples: dict[str, list[NLIExample]]
    identity: dict[str, Any]
    """kind (file/hub), name, sha256 or hub fingerprint, content_sha256, n_items per language."""
    files: dict[str, str]
    """What `bench` records under data.files ({file name: sha256}, or {hub ref: content sha256})."""


def load_user_data(ref: str, default_language: str = "en") -> UserData:
    """A file or `hub:` dataset as examples by language (rows without a language get the default)."""
    if ref.startswith(HUB_PREFIX):
        examples, identity = _load_hub(ref, default_language)
    else:
        from harness.data.xnli import load_custom

        path = Path(ref)
        examples = load_custom(path, default_language)
        identity = {"kind": "file", "name": path.name, "sha256": sha256_file(path)}
    identity.update(content_sha256=content_sha256(examples), default_language=default_language,
                    n_items={lang: len(items) for lang, items in examples.items()})
    files = {ref: identity["content_sha256"]} if identity["kind"] == "hub" else {identity["name"]: identity["sha256"]}
    return UserData(examples, identity, files)


def content_sha256(examples: Mapping[str, Sequence[NLIExample]]) -> str:
    """The items' content, language by language in file order: what the benchmark depends on."""
    return sha256_json([[lang, ex.id, ex.premise, ex.hypothesis, ex.label, ex.genre]
                        for lang, items in examples.items() for ex in items])


# ---- hub datasets ---------------------------------------------------------------------------------

def _load_hub(ref: str, default_language: str) -> tuple[dict[str, list[NLIExample]], dict[str, Any]]:
    """Rows with premise, hypothesis, label[, language, id, genre]; label -1 (unlabelled) dropped."""
    from harness.data import tasks

    name, config, split = tasks.parse_hub_ref(ref)
    try:
        rows = tasks.hub_load_dataset(name, config, split)
    except Exception as exc:  # offline, unknown dataset, no such split: all mean "cannot get it"
        raise DataError(f"cannot load {ref!r} from the Hugging Face hub ({type(exc).__name__}: {exc})") from None
    out: dict[str, list[NLIExample]] = {}
    dropped = 0
    for index, row in enumerate(rows):
        example = _hub_example(row, index, split, default_language, f"{ref} row {index}")
        if example is None:
            dropped += 1
            continue
        out.setdefault(example.language, []).append(example)
    if not out:
        raise DataError(f"{ref}: no labelled rows")
    identity = {"kind": "hub", "name": name, "config": config, "split": split,
                "fingerprint": getattr(rows, "_fingerprint", None), "unlabelled_dropped": dropped}
    return out, identity


def _hub_example(row: Mapping[str, Any], index: int, split: str, default_language: str,
                 where: str) -> NLIExample | None:
    for key in ("premise", "hypothesis", "label"):
        if row.get(key) is None:
            raise DataError(f"{where}: missing field {key!r} (expected premise, hypothesis, label)")
    if str(row["label"]).strip() == "-1":
        return None
    label = parse_label(str(row["label"]))
    if label is None:
        raise DataError(f"{where}: unknown label {row['label']!r} (expected 0/1/2 or entailment, neutral, contradiction)")
    premise, hypothesis = str(row["premise"]), str(row["hypothesis"])
    if not premise.strip() or not hypothesis.strip():
        raise DataError(f"{where}: empty premise or hypothesis")
    item_id = str(row["id"]) if row.get("id") is not None else f"{split}-{index}"
    language = str(row.get("language") or default_language)
    return NLIExample(item_id, language, premise, hypothesis, label, row.get("genre"))


# ---- checks for perturbation ----------------------------------------------------------------------

def check_language_code(code: str, where: str = "language") -> str:
    """An ISO 639 code (2-3 lower-case letters) or PREMISE+HYPOTHESIS of two such codes."""
    parts = code.split("+")
    if len(parts) > 2 or not all(_CODE.fullmatch(p) for p in parts) or (len(parts) == 2 and parts[0] == parts[1]):
        raise DataError(f"{where}: {code!r} is not an ISO 639 language code (2 or 3 lower-case letters, e.g. ca), "
                        "nor PREMISE+HYPOTHESIS for a pair whose sides differ (e.g. en+de)")
    return code


def check_for_perturbation(data: UserData, ref: str) -> None:
    """Language codes become file names and item ids pair perturbed items with clean ones."""
    for language, items in data.examples.items():
        check_language_code(language, f"{ref}: language of item {items[0].id}")
        seen: set[str] = set()
        for ex in items:
            if ex.id in seen:
                raise DataError(f"{ref}: duplicate item id {ex.id!r} in language {language!r} "
                                "(perturbed items are paired with clean ones by id)")
            seen.add(ex.id)


def ordered_languages(languages: Sequence[str]) -> list[str]:
    """XNLI languages in the XNLI order, then any others sorted: the order units are listed in."""
    return [l for l in LANGUAGES if l in languages] + sorted(l for l in languages if l not in LANGUAGES)


def user_note(manifest: Mapping[str, Any]) -> str:
    """What verifying a user-file benchmark proves, in one sentence for records and the CLI."""
    source = manifest.get("input") or {}
    digest = source.get("sha256") or source.get("fingerprint") or "?"
    return (f"user-file benchmark of {source.get('name', '?')} (sha256 {str(digest)[:12]}…, items "
            f"{str(source.get('content_sha256', '?'))[:12]}…): no committed spec pins user data, so every file "
            "was checked against the manifest")


def check_input(manifest: Mapping[str, Any], ref: str) -> None:
    """`ref` is the data a user-file benchmark was made from (file bytes and parsed items), else
    IntegrityError: what `verify --data-file` adds to checking the folder against its manifest."""
    from harness.core.errors import IntegrityError

    recorded = manifest.get("input")
    if not isinstance(recorded, Mapping):
        raise DataError("this benchmark was not made from user data (no input in its manifest): nothing to compare")
    found = load_user_data(ref, str(recorded.get("default_language") or "en")).identity
    for key in ("sha256", "content_sha256"):
        if recorded.get(key) and found.get(key) != recorded.get(key):
            raise IntegrityError(f"{ref}: {key} {found.get(key)} differs from the manifest's {recorded.get(key)}: "
                                 "this is not the data the benchmark was made from")
