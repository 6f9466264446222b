"""Adaptive attack recipes: TextAttack searches over the benchmark's own perturbations.

The fixed benchmark measures average-case robustness; a recipe here searches, item by item,
for the edit that flips the model being scored (worst case).  Each recipe is TextAttack's four
parts: a transformation (one of the project's perturbation families, wrapped as a `WordSwap` so
one implementation serves the fixed sets and the search), constraints, an untargeted goal
function with a query budget, and a greedy search by word importance.

| recipe    | modelled on            | transformation                         | search                    |
|-----------|------------------------|----------------------------------------|---------------------------|
| charnoise | DeepWordBug (Gao 2018) | script-aware typos (`attacks.charnoise`) | greedy, importance by deleting each word |
| synonym   | PWWS (Ren 2019)        | same-language wordnet synonyms          | greedy, weighted saliency |
| codemix   | PolyGloss (Tan & Joty 2021) | dictionary translations into other XNLI languages | greedy, importance by deletion |

Constraints in every recipe, all offline: words already edited are not edited again;
negations, quantifiers, numbers and stopwords of the language are never edited
(`attacks.protected`); at most `max_words_fraction` of the words change; each edited side keeps
e5 cosine >= `similarity_threshold` to its original (the fixed benchmark's filter, in place of
the English-only TF-Hub Universal Sentence Encoder); the character recipe also caps the
Levenshtein distance (DeepWordBug's 30).  TextAttack's own downloads-at-run-time components
(USE, BERTScore, counter-fitted embeddings, flair POS tagging) are never used.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from harness.core.registry import Registry
from harness import LANGUAGES
from harness.core.errors import DataError, HarnessError


@dataclass(frozen=True)
class Recipe:
    """One adaptive attack, described completely (the settings go into the output)."""

    name: str
    family: str
    """The benchmark family whose implementation and resources the transformation uses."""
    modelled_on: str
    wir_method: str
    max_edit_distance: int | None = None


RECIPES: Registry[Recipe] = Registry("attack recipe", {
    "charnoise": Recipe("charnoise", "char_noise", "DeepWordBug (Gao et al. 2018)", "delete", 30),
    "synonym": Recipe("synonym", "synonym", "PWWS (Ren et al. 2019)", "weighted-saliency"),
    "codemix": Recipe("codemix", "code_switch", "PolyGloss (Tan & Joty 2021)", "delete"),
})


@dataclass(frozen=True)
class AttackSettings:
    """Everything an attack's output depends on besides the model and the items."""

    recipe: str
    query_budget: int = 500
    max_words_fraction: float = 0.25
    similarity_threshold: float = 0.90
    columns: tuple[str, ...] = ("premise", "hypothesis")
    seed: int = 0
    max_candidates: int = 20
    model_batch_size: int = 32

    def __post_init__(self) -> None:
        RECIPES.check(self.recipe)
        if self.query_budget < 1:
            raise DataError("the query budget must be at least 1")
        if not 0 < self.max_words_fraction <= 1:
            raise DataError(f"max_words_fraction must be in (0, 1], got {self.max_words_fraction}")
        if not -1 <= self.similarity_threshold <= 1:
            raise DataError(f"similarity_threshold must be a cosine, got {self.similarity_threshold}")
        if not self.columns or set(self.columns) - {"premise", "hypothesis"}:
            raise DataError(f"columns must be premise and/or hypothesis, got {list(self.columns)}")

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "columns": list(self.columns),
                "recipe_definition": asdict(RECIPES[self.recipe]),
                "textattack_version": textattack_version()}


def textattack_version() -> str | None:
    try:
        return importlib.metadata.version("textattack")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_resources(recipe: str, languages: list[str], data_root: Path) -> None:
    """Fail before any attack starts if a language or a data file the recipe needs is missing."""
    from attacks.registry import build

    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown and recipe != "charnoise":
        raise DataError(f"recipe {recipe!r} needs the word lists of the 15 XNLI languages ({', '.join(LANGUAGES)}), "
                        f"which {unknown} lack; recipe 'charnoise' takes any language (letters from the text)")
    family = RECIPES[recipe].family
    missing: list[str] = []
    for language in languages:
        try:
            perturbation = build(family, "low", language, Path(data_root))
        except (KeyError, OSError) as exc:
            raise DataError(f"recipe {recipe!r} cannot run for {language}: {exc}") from None
        missing += [f"{language}: {name} ({path})" for name, path in perturbation.resource_files().items()
                    if not Path(path).exists()]
    if missing:
        raise DataError(f"recipe {recipe!r} needs files that are not in {data_root}:\n  " + "\n  ".join(missing))


def build_attack(settings: AttackSettings, language: str, adapter: Any, data_root: Path,
                 encoder: Any) -> Any:
    """The `textattack.Attack` of `settings.recipe` for `language` against `adapter`."""
    import textattack
    from textattack.constraints.overlap import LevenshteinEditDistance, MaxWordsPerturbed
    from textattack.constraints.pre_transformation import RepeatModification
    from textattack.goal_functions import UntargetedClassification
    from textattack.search_methods import GreedyWordSwapWIR

    from attacks import ta_parts

    recipe = RECIPES[settings.recipe]
    constraints: list[Any] = [
        RepeatModification(), ta_parts.ProtectedWords(language),
        ta_parts.ColumnRestriction(settings.columns),
        MaxWordsPerturbed(max_percent=settings.max_words_fraction),
        ta_parts.E5Similarity(encoder, settings.similarity_threshold),
    ]
    if recipe.max_edit_distance is not None:
        constraints.append(LevenshteinEditDistance(recipe.max_edit_distance))
    with _quiet_textattack():  # it warns that it cannot check an unknown model class
        goal = UntargetedClassification(ta_parts.AdapterModelWrapper(adapter, language), query_budget=settings.query_budget,
                                        model_batch_size=settings.model_batch_size)
        search = GreedyWordSwapWIR(wir_method=recipe.wir_method, unk_token=_unk_token(adapter))
        return textattack.Attack(goal, constraints, _transformation(settings, language, data_root), search)


@contextlib.contextmanager
def _quiet_textattack() -> Iterator[None]:
    logger = logging.getLogger("textattack.shared.utils.install")  # TextAttack's one logger
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its logger.warn calls
            yield
    finally:
        logger.setLevel(level)


def _transformation(settings: AttackSettings, language: str, data_root: Path) -> Any:
    from attacks import ta_parts

    if settings.recipe == "charnoise":
        return ta_parts.CharNoiseSwap(language, seed=settings.seed, max_candidates=settings.max_candidates)
    if settings.recipe == "synonym":
        return ta_parts.SynonymSwap(language, data_root, max_candidates=settings.max_candidates)
    if settings.recipe == "codemix":
        return ta_parts.CodeMixSwap(language, data_root, max_candidates=settings.max_candidates)
    raise HarnessError(f"recipe {settings.recipe!r} has no transformation")  # unreachable: checked


def _unk_token(adapter: Any) -> str:
    """What word-saliency scoring puts in a word's place: the model's own unknown token."""
    tokenizer = getattr(getattr(adapter, "inner", adapter), "tokenizer", None)
    return str(getattr(tokenizer, "unk_token", None) or "[UNK]")
