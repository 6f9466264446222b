"""Pairs whose premise and hypothesis are in different languages: one family, one language per side.

A user's NLI file may hold cross-lingual pairs (an English premise with a German hypothesis).
Their language code names both sides, `PREMISE+HYPOTHESIS` ("en+de"), and a family perturbs
such a pair with two of its own perturbations, one built for each side's language: English
keyboard typos on the premise, German ones on the hypothesis; an English wordnet for one side,
a German one for the other.  Nothing here knows a family: a side is edited through the
family's `perturb_text(text, rng)`, or, for a family without it (back-translation, which only
translates), through `perturb`/`perturb_batch` on a one-sided copy of the pair whose two texts
are that side's text.

The item's RNG is used premise side first, then hypothesis side, as the families do for a
one-language pair, so an item's output still depends on that item alone.

Example (char_noise, high, "en+de", rng `derive_rng(1, "char_noise", "high", "en+de", "1")`):
"The cat sleeps on the kitchen chair." / "Die Katze schläft auf dem Stuhl." ->
"The cat sleepx on he kichen chair." / "Dei Katze schläft uf demf Stuhl." (English QWERTY
neighbours on the premise, German tables on the hypothesis; tests/test_perturb.py pins it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any, Sequence

from attacks.base import NOT_APPLICABLE, Perturbation, _NotApplicable
from attacks.text import nfc
from harness.core.examples import NLIExample

SEPARATOR = "+"
SIDES = ("premise", "hypothesis")


def split_language(code: str) -> tuple[str, str] | None:
    """("en", "de") for "en+de"; None for a one-language code."""
    if SEPARATOR not in code:
        return None
    premise, _, hypothesis = code.partition(SEPARATOR)
    if not premise or not hypothesis or SEPARATOR in hypothesis:
        raise ValueError(f"a mixed-language code is PREMISE{SEPARATOR}HYPOTHESIS (e.g. en+de), not {code!r}")
    return premise, hypothesis


def mixed_code(premise: str, hypothesis: str) -> str:
    """The code of a pair: one language when both sides share it, else "premise+hypothesis"."""
    return premise if premise == hypothesis else f"{premise}{SEPARATOR}{hypothesis}"


@dataclass(frozen=True)
class MixedPair:
    """A family on a cross-lingual pair: `premise` edits the premise, `hypothesis` the hypothesis."""

    family: str
    severity: str
    language: str
    premise: Any
    hypothesis: Any

    @property
    def name(self) -> str:
        return str(self.premise.name)

    @property
    def version(self) -> str:
        versions = dict.fromkeys((str(self.premise.version), str(self.hypothesis.version)))
        return "/".join(versions)

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({self.language})

    @property
    def side_languages(self) -> tuple[str, str]:
        sides = split_language(self.language)
        assert sides is not None
        return sides

    def params(self) -> dict[str, Any]:
        p_lang, h_lang = self.side_languages
        return {"mixed": {"premise": {"language": p_lang, **self.premise.params()},
                          "hypothesis": {"language": h_lang, **self.hypothesis.params()}}}

    def resource_files(self) -> dict[str, str]:
        return {f"{side}:{name}": path for side, p in zip(SIDES, (self.premise, self.hypothesis))
                for name, path in p.resource_files().items()}

    def perturb(self, example: NLIExample, rng: random.Random) -> NLIExample | _NotApplicable:
        return self.perturb_batch([example], [rng])[0]

    def perturb_batch(self, examples: Sequence[NLIExample], rngs: Sequence[random.Random]
                      ) -> list[NLIExample | _NotApplicable]:
        """Every premise with the premise side's perturbation, then every hypothesis.

        Why batched: a side without `perturb_text` may be a machine translator, which translates
        a unit's texts in one call.  Each item's RNG still serves its premise before its hypothesis."""
        if len(rngs) != len(examples):
            raise ValueError("perturb_batch needs one rng per example")
        for ex in examples:
            if ex.language != self.language:
                raise ValueError(f"{self.family} for {self.language!r} got a {ex.language!r} example ({ex.id})")
        p_lang, h_lang = self.side_languages
        premises = _side(self.premise, p_lang, [ex.premise for ex in examples], examples, rngs)
        hypotheses = _side(self.hypothesis, h_lang, [ex.hypothesis for ex in examples], examples, rngs)
        return [_result(ex, p, h) for ex, p, h in zip(examples, premises, hypotheses)]


def _side(p: Perturbation, language: str, texts: list[str], examples: Sequence[NLIExample],
          rngs: Sequence[random.Random]) -> list[str]:
    """One side's texts after `p` (unchanged where it found nothing to edit)."""
    one_text = getattr(p, "perturb_text", None)
    if callable(one_text):
        return [one_text(text, rng) for text, rng in zip(texts, rngs)]
    views = [replace(ex, language=language, premise=text, hypothesis=text) for ex, text in zip(examples, texts)]
    batch = getattr(p, "perturb_batch", None)
    outs = batch(views, list(rngs)) if callable(batch) else [p.perturb(v, r) for v, r in zip(views, rngs)]
    return [out.premise if isinstance(out, NLIExample) else text for out, text in zip(outs, texts)]


def _result(example: NLIExample, premise: str, hypothesis: str) -> NLIExample | _NotApplicable:
    """NOT_APPLICABLE when neither side changed (NFC aside), as the one-language families do."""
    if nfc(premise) == nfc(example.premise) and nfc(hypothesis) == nfc(example.hypothesis):
        return NOT_APPLICABLE
    return example.with_texts(premise, hypothesis)
