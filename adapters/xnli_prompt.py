"""The XNLI prompt a causal language model is scored with: lm-evaluation-harness's `xnli_<lang>`.

Where it comes from: EleutherAI/lm-evaluation-harness, `lm_eval/tasks/xnli/utils.py` (the
`LANGUAGES` table: QUESTION_WORD, ENTAILMENT_LABEL, NEUTRAL_LABEL, CONTRADICTION_LABEL) and the
per-language `xnli_<lang>.yaml` files it generates, read at commit 4e7e0d47f33b (2026-08-21).
The format is XGLM's and mGPT's (lm-eval pull request 258):

    premise + ", " + QUESTION_WORD + "? " + (ENTAILMENT|NEUTRAL|CONTRADICTION)_LABEL + ", " + hypothesis

e.g. "The cat sat, right? Yes, A cat sat".  The words are copied verbatim, including lm-eval's
known flaws, so a score here is comparable with an lm-eval `xnli_<lang>` score: lm-eval says they
were "translated word-by-word with Google Translate", and some are not what a speaker would
write (Arabic contradiction "رقم" means "number", the noun; Greek "σωστός" is the adjective;
Spanish "Asi que" lacks its accent).  Changing a word changes `PROMPT_SHA256`, which is in the
record and in the prediction cache key, so a reviewed table can never be confused with this one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from harness.core.hashing import sha256_json


@dataclass(frozen=True)
class Verbaliser:
    """One language's prompt words: the question after the premise and one word per label."""

    question: str
    entailment: str
    neutral: str
    contradiction: str

    @property
    def labels(self) -> tuple[str, str, str]:
        """The label words in the canonical order (entailment, neutral, contradiction)."""
        return self.entailment, self.neutral, self.contradiction


VERBALISERS: dict[str, Verbaliser] = {
    "en": Verbaliser("right", "Yes", "Also", "No"),
    "fr": Verbaliser("correct", "Oui", "Aussi", "Non"),
    "es": Verbaliser("correcto", "Sí", "Asi que", "No"),
    "de": Verbaliser("richtig", "Ja", "Auch", "Nein"),
    "el": Verbaliser("σωστός", "Ναί", "Έτσι", "όχι"),
    "bg": Verbaliser("правилно", "да", "така", "не"),
    "ru": Verbaliser("правильно", "Да", "Так", "Нет"),
    "tr": Verbaliser("doğru", "Evet", "Böylece", "Hayır"),
    "ar": Verbaliser("صحيح", "نعم", "لذا", "رقم"),
    "vi": Verbaliser("đúng", "Vâng", "Vì vậy", "Không"),
    "th": Verbaliser("ถูกต้อง", "ใช่", "ดังนั้น", "ไม่"),
    "zh": Verbaliser("正确", "是的", "所以", "不是的"),
    "hi": Verbaliser("सही", "हाँ", "इसलिए", "नहीं"),
    "sw": Verbaliser("sahihi", "Ndiyo", "Hivyo", "Hapana"),
    "ur": Verbaliser("صحیح", "جی ہاں", "اس لئے", "نہیں"),
}
"""lm-eval's words for the 15 XNLI languages (the table in lm_eval/tasks/xnli/utils.py)."""

CONTEXT = "{premise}, {question}? "
CONTINUATION = "{label}, {hypothesis}"
SCORING = ("sum of the log-probabilities of the continuation tokens given the context (lm-eval "
           "loglikelihood; the context's trailing space moves to the continuation before tokenising); "
           "softmax over the three labels")
SOURCE = ("EleutherAI/lm-evaluation-harness lm_eval/tasks/xnli/utils.py and xnli_<lang>.yaml, "
          "commit 4e7e0d47f33b")


def definition() -> dict[str, object]:
    """Everything that decides the scored strings and the score: what `PROMPT_SHA256` hashes."""
    return {"name": "lm-eval-xnli", "context": CONTEXT, "continuation": CONTINUATION, "scoring": SCORING,
            "verbalisers": {lang: asdict(v) for lang, v in VERBALISERS.items()}}


PROMPT_SHA256 = sha256_json(definition())


def render(premise: str, hypothesis: str, verbaliser: Verbaliser) -> tuple[str, tuple[str, str, str]]:
    """The context and the three continuations (canonical label order) of one pair."""
    context = CONTEXT.format(premise=premise, question=verbaliser.question)
    return context, tuple(CONTINUATION.format(label=w, hypothesis=hypothesis) for w in verbaliser.labels)  # type: ignore[return-value]
