"""Explicit registry of perturbation families.

Each family maps to a lazily imported `"module:function"` factory with the signature
`build(severity: str, language: str, data_root: Path, **params) -> Perturbation`.  Importing
this module imports no family (and so none of jieba, nltk, MT engines): only `build()` does.

A family that a spec may configure (`families.<name>.params`) also names, in `FAMILY_PARAMS`,
a function `unit_params(params, severities, languages) -> {(severity, language): kwargs}`
that validates the parameters and says which units exist and what `build` receives for each.
Every family also names, in `FAMILY_SUPPORT`, the function of `attacks.support` that says which
languages and severities it can perturb with a data root, and what it lacks elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attacks.base import SEVERITIES, Perturbation
from harness.core.registry import Registry, UnknownName, unknown_name_message

FAMILIES: Registry[str] = Registry("perturbation family", {
    "char_noise": "attacks.charnoise:build",
    "synonym": "attacks.synonym_family:build",
    "code_switch": "attacks.codeswitch:build",
    "code_switch_sentence": "attacks.codeswitch:build_sentence",
    "back_translation": "attacks.backtranslation:build",
})


FAMILY_PARAMS: Registry[str] = Registry("configurable perturbation family", {
    "back_translation": "attacks.backtranslation:unit_params",
    "char_noise": "attacks.charnoise:unit_params",
    "code_switch": "attacks.codeswitch:unit_params",
    "code_switch_sentence": "attacks.codeswitch:sentence_unit_params",
    "synonym": "attacks.synonym_family:unit_params",
})


FAMILY_SUPPORT: Registry[str] = Registry("perturbation family", {
    name: f"attacks.support:{name}" for name in FAMILIES
})
"""What each family can do per language, and what it lacks (`attacks.support.family_support`):
how `perturb` refuses a family for a language before any work, naming what is missing."""


def family_factory(family: str):  # type: ignore[no-untyped-def]
    """The build function of `family`; unknown names get a 'did you mean' error."""
    return FAMILIES.load(family)


def build(family: str, severity: str, language: str, data_root: Path, **params: Any) -> Perturbation:
    """Build the perturbation for one (family, severity, language); `params` go to the factory
    (what `FAMILY_PARAMS[family]` derived from a spec, e.g. `route=` for back-translation)."""
    if severity not in SEVERITIES:
        raise UnknownName(unknown_name_message("severity", severity, list(SEVERITIES)))
    return family_factory(family)(severity=severity, language=language, data_root=Path(data_root), **params)
