"""Causal (decoder) language models scored on XNLI the way evaluation harnesses score them.

Each pair becomes three strings, one per label, in the pair's language (`adapters.xnli_prompt`:
lm-evaluation-harness's `xnli_<lang>` words, e.g. "premise, right? " + "Yes, hypothesis"); the
score of a label is the summed log-probability of its continuation tokens given the context, and
the probabilities are the softmax over the three scores (float64, returned as float32).

Why it looks like this:
- lm-eval (>= 0.4) puts the whole sentence in each choice with an empty context, so it also
  scores the premise and question word (after a BOS/EOS token).  Those tokens are the same in
  the three choices and their log-probabilities cancel in the softmax, so scoring only the
  continuation gives the same ranking, and the same probabilities whenever the shared part is
  tokenised the same.  Tokenising follows lm-eval's `_encode_pair`: the context's trailing space
  moves to the continuation, the whole string is encoded and split after the context's tokens.
  Special tokens a tokenizer puts in front of a text (Llama's BOS; none for GPT-2) are kept in
  front, as lm-eval's default encoding does.
- The language is required: the words differ per language, so a pair without one (or in a
  language with no verbaliser) is refused with a clear error, never scored in English by guess.
- Independent of batch size and order: sequences are sorted by length, right-padded only to
  their batch's longest member and masked; a causal model's real tokens never see the padding.
- Truncation is counted, not hidden: a pair longer than `max_length` tokens loses tokens from
  the left of its premise, the same number in its three strings so they share one context; a
  pair whose hypothesis alone does not fit also loses the same trailing tokens from each.
- fp32, whatever dtype the checkpoint was saved in (transformers 5 would otherwise load "auto").
  The precision options (int8, bf16, ONNX Runtime) are the classifier adapter's only.
- Safetensors only unless `allow_pickle`; `trust_remote_code` only on request; the weights
  are hashed and a hub revision resolved to a commit (`adapters.checkpoints`, as for the classifier).
"""

from __future__ import annotations

import itertools
import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from adapters import xnli_prompt
from adapters.checkpoints import _check_safe, resolve_checkpoint, weights_sha256
from adapters.hf import check_max_length, remote_code
from harness import LABELS, LANGUAGES
from harness.core.errors import ModelError

Pair = tuple[str, str]


@dataclass(frozen=True)
class Encoded:
    """One pair's token ids, ready to score: the (possibly truncated) context and three continuations."""

    context: list[int]
    continuations: tuple[list[int], list[int], list[int]]
    truncated: bool


def _refuse(option: str, value: Any, why: str) -> None:
    if value is not None:
        raise ModelError(f"the causal-lm adapter does not take {option}: {why}")


@dataclass
class CausalLMAdapter:
    """A loaded `AutoModelForCausalLM` behind the `ModelAdapter` protocol."""

    model: Any
    tokenizer: Any
    info: dict[str, Any]
    max_length: int = 128
    batch_size: int = 32
    """Sequences per forward pass (three per pair)."""
    device: str = "cpu"
    progress: bool = False
    stats: dict[str, int] = field(default_factory=lambda: {"pairs": 0, "truncated": 0})
    head: list[int] = field(init=False)
    """The special tokens the tokenizer puts before any text by default (BOS for Llama, none for GPT-2)."""

    keeps_logits: bool = field(init=False)
    """The model's forward takes `logits_to_keep` (most transformers causal LMs): with a 250k-word
    vocabulary the logits of the premise positions would be most of the memory, and unused."""

    def __post_init__(self) -> None:
        import inspect

        specials = set(self.tokenizer.all_special_ids)
        self.head = list(itertools.takewhile(lambda t: t in specials, self.tokenizer("a")["input_ids"]))
        self.keeps_logits = "logits_to_keep" in inspect.signature(self.model.forward).parameters

    @classmethod
    def load(cls, model: str, *, revision: str | None = None, device: str = "cpu", max_length: int = 128,
             batch_size: int = 32, label_map: str | None = None,
             calibrate_with: tuple[Sequence[Pair], Sequence[int]] | None = None,
             allow_pickle: bool = False, trust_remote_code: bool = False,
             progress: bool = False) -> "CausalLMAdapter":
        why = "a causal LM's labels are its prompt's words (adapters/xnli_prompt.py), in the canonical order"
        _refuse("--label-map", label_map, why)
        _refuse("--calibrate", calibrate_with, why)
        import torch

        started = time.perf_counter()
        folder, resolved = resolve_checkpoint(model, revision)
        if (folder / "adapter_config.json").is_file():
            raise ModelError(f"{folder} is a LoRA adapter folder; the causal-lm adapter scores full checkpoints "
                             "(merge the adapter into its base and save that)")
        safe = _check_safe(folder, allow_pickle)
        net, tokenizer = _load_network(folder, model, safe, trust_remote_code, progress)
        check_max_length(net.config, max_length)
        net.eval().to(torch.device(device))
        info = {
            "id": model, "revision": resolved, "adapter": "causal-lm", "folder": str(folder), "base_model": None,
            "architecture": type(net).__name__, "weights_sha256": weights_sha256(folder),
            "weights_format": "safetensors" if safe else "pickle",
            "num_parameters": int(sum(p.numel() for p in net.parameters())),
            "load_seconds": round(time.perf_counter() - started, 3),
            "remote_code": remote_code(net.config, trust_remote_code),
        }
        return cls(net, tokenizer, info, max_length, batch_size, device, progress)

    # ---- inference -------------------------------------------------------------------------

    def predict(self, pairs: Sequence[Pair], language: str | None = None) -> np.ndarray:
        """Label probabilities (n, 3), canonical order: softmax over the three log-likelihoods."""
        scores = self.loglikelihoods(pairs, language)
        scores = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    def loglikelihoods(self, pairs: Sequence[Pair], language: str | None) -> np.ndarray:
        """Summed continuation log-probabilities (n, 3), float64, canonical label order."""
        verbaliser = self.verbaliser(language)
        if not pairs:
            return np.zeros((0, 3), dtype=np.float64)
        encoded = [self._encode(p, h, verbaliser) for p, h in pairs]
        self.stats["pairs"] += len(encoded)
        self.stats["truncated"] += sum(e.truncated for e in encoded)
        sequences = [(e.context + c, len(c)) for e in encoded for c in e.continuations]
        return self._score(sequences).reshape(len(pairs), 3)

    @staticmethod
    def verbaliser(language: str | None) -> xnli_prompt.Verbaliser:
        if language is None:
            raise ModelError("the causal-lm adapter needs each pair's language (its prompt words differ per "
                             "language); data without a language column cannot be scored with it")
        if language not in xnli_prompt.VERBALISERS:
            raise ModelError(f"no causal-lm prompt words for language {language!r} "
                             f"(known: {', '.join(xnli_prompt.VERBALISERS)})")
        return xnli_prompt.VERBALISERS[language]

    def _encode(self, premise: str, hypothesis: str, verbaliser: xnli_prompt.Verbaliser) -> Encoded:
        context, continuations = xnli_prompt.render(premise, hypothesis, verbaliser)
        stripped = context.rstrip()
        moved = context[len(stripped):]
        ctx = self._ids(stripped)
        conts = tuple(self._ids(stripped + moved + c)[len(ctx):] for c in continuations)
        label_tokens = (0, 0, 0)
        if len(self.head) + 1 + max(len(c) for c in conts) > self.max_length:  # the hypothesis must lose tokens
            label_tokens = tuple(len(self._ids(f"{stripped}{moved}{w},")) - len(ctx) for w in verbaliser.labels)
        return _truncated(self.head, ctx, conts, self.max_length, label_tokens)  # type: ignore[arg-type]

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _score(self, sequences: list[tuple[list[int], int]]) -> np.ndarray:
        """Continuation log-likelihood of each (token ids, continuation length), in input order."""
        import torch

        order = sorted(range(len(sequences)), key=lambda i: (len(sequences[i][0]), i))
        out = np.zeros(len(sequences), dtype=np.float64)
        with torch.inference_mode():
            for start in self._progress(range(0, len(order), self.batch_size)):
                chosen = order[start:start + self.batch_size]
                out[chosen] = self._score_batch([sequences[i] for i in chosen])
        return out

    def _score_batch(self, rows: list[tuple[list[int], int]]) -> np.ndarray:
        """One forward pass: right padding, attention mask, log-softmax at the continuation positions."""
        import torch

        width = max(len(ids) for ids, _ in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        scored = np.zeros((len(rows), width - 1), dtype=bool)  # position t predicts token t + 1
        for j, (row, n_cont) in enumerate(rows):
            ids[j, :len(row)], mask[j, :len(row)] = row, 1
            scored[j, len(row) - n_cont - 1:len(row) - 1] = True
        first = min(len(row) - n_cont - 1 for row, n_cont in rows)  # no logits needed before this position
        input_ids = torch.from_numpy(ids).to(self.device)
        inputs = {"input_ids": input_ids, "attention_mask": torch.from_numpy(mask).to(self.device)}
        if self.keeps_logits:  # the vocabulary projection only where a continuation token is predicted
            inputs["logits_to_keep"] = width - first
        logits = self.model(**inputs).logits[:, -(width - first):-1].float()
        target = logits.gather(-1, input_ids[:, first + 1:, None]).squeeze(-1)
        token_logprobs = (target - torch.logsumexp(logits, dim=-1)).double().cpu().numpy()
        return np.where(scored[:, first:], token_logprobs, 0.0).sum(axis=1)

    def _progress(self, iterable: Any) -> Any:
        if not self.progress:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc="scoring", unit="batch", leave=False)

    def identity(self) -> dict[str, Any]:
        return {
            **self.info,
            "label_map": {label: k for k, label in enumerate(LABELS)},
            "label_map_source": "verbaliser",
            "label_map_detail": {"continuation": "label k is scored with the prompt's k-th label word"},
            "max_length": self.max_length,
            "precision": str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "device": self.device,
            "language_dependent": True,
            "prompt": prompt_identity(),
        }


def prompt_identity() -> dict[str, Any]:
    """The prompt for the record: template, words per language, where they come from, and its hash."""
    return {**xnli_prompt.definition(), "source": xnli_prompt.SOURCE, "sha256": xnli_prompt.PROMPT_SHA256,
            "languages": [lang for lang in LANGUAGES if lang in xnli_prompt.VERBALISERS]}


def _load_network(folder: Any, model: str, safe: bool, trust_remote_code: bool, progress: bool) -> tuple[Any, Any]:
    """Tokenizer and fp32 causal LM from `folder`; classifiers and seq2seq models are refused by name."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if not progress:
        hf_logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
        _check_decoder(config, model)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
        net = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=safe, trust_remote_code=trust_remote_code,
                                                   dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load causal LM {model!r}: {exc}") from None
    except pickle.UnpicklingError as exc:
        raise ModelError(f"{folder}: torch's safe loader (weights_only) rejects the pickled weights "
                         f"({str(exc).splitlines()[0]}); convert them to safetensors where the file is trusted") from None
    return net, tokenizer


def _check_decoder(config: Any, model: str) -> None:
    """A classifier or an encoder-decoder would load as something else, or fail deep inside; say why here."""
    architectures = list(getattr(config, "architectures", None) or [])
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelError(f"{model!r} is a sequence classifier ({', '.join(architectures)}); score it with --adapter hf")
    if getattr(config, "is_encoder_decoder", False):
        raise ModelError(f"{model!r} is an encoder-decoder model; the causal-lm adapter scores decoder-only models")


def _truncated(head: list[int], ctx: list[int], conts: tuple[list[int], ...], limit: int,
               label_tokens: tuple[int, ...] = (0, 0, 0)) -> Encoded:
    """Fit head + context + each continuation into `limit` tokens, cutting the three alike.

    First from the left of the premise (keeping the head and the context's last token, so every
    continuation token has something before it), then, if the hypothesis alone is too long, the
    same number of trailing tokens from each continuation, never into its label word and comma
    (`label_tokens[k]` tokens) nor the hypothesis's first token: those are what is compared."""
    overflow = len(head) + len(ctx) + max(len(c) for c in conts) - limit
    if overflow <= 0:
        return Encoded(head + ctx, conts, False)  # type: ignore[arg-type]
    cut = min(overflow, len(ctx) - 1)
    tail = overflow - cut
    if tail and any(len(c) - tail < keep + 1 for c, keep in zip(conts, label_tokens)):
        raise ModelError(f"--max-length {limit} leaves no room for a label word and hypothesis; pass a larger one")
    kept = tuple(c[:len(c) - tail] for c in conts)
    return Encoded(head + ctx[cut:], kept, True)  # type: ignore[arg-type]
