"""The synonym family as the registry sees it: which rule set a spec selects.

v1 (`attacks.synonyms`) and v2 (`attacks.synonyms_v2`, issue #14) live in their own modules;
this one only dispatches, so that neither imports the other both ways.  Without
`families.synonym.params` (or with `rules: v1`) `build` returns exactly v1's perturbation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from attacks import synonyms as v1
from attacks.base import RULE_SETS, rules_unit_params
from attacks import synonyms_v2 as v2

PARAMS: dict[str, tuple[str, ...]] = {"rules": RULE_SETS}
"""Spec parameters (`families.synonym.params`) and their values; absent means v1."""


def unit_params(params: Mapping[str, Any], severities: Sequence[str], languages: Sequence[str]
                ) -> dict[tuple[str, str], dict[str, Any]]:
    """Every (severity, language) is a unit; `rules: v2` selects rule set v2 for all of them.

    `{}`, an absent `rules` and `rules: v1` give no keyword at all, so a v1 spec's units,
    params() and outputs cannot change.  Raises ValueError (the spec reader names the file)
    for unknown parameters or values.
    """
    return rules_unit_params(v1.FAMILY, params, severities, languages)

def build(severity: str, language: str, data_root: Path, rules: str | None = None
          ) -> v1.SynonymSwap | v2.SynonymSwapV2:
    """Registry factory: v1 unless `rules="v2"`."""
    if rules not in (None, *PARAMS["rules"]):
        raise ValueError(f"rules {rules!r} is not one of {list(PARAMS['rules'])}")
    swap = v1.build(severity, language, data_root)  # v1's checks: severity, language, data root
    if rules != "v2":
        return swap
    return v2.SynonymSwapV2(severity=severity, language=language, data_root=Path(data_root))
