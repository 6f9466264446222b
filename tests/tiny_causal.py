"""A tiny randomly initialised causal LM (GPT-2 shape) built inside the tests: no download, ~1 s.

The tokenizer is byte-level BPE trained on real XNLI dev text of all 15 languages, so every
script tokenises into real pieces (and nothing is unknown: bytes are the fallback).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from harness import LANGUAGES
from tiny_models import _corpus

END = "<|endoftext|>"


def byte_bpe_tokenizer(data_root: Path, folder: Path, vocab_size: int = 1500) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(data_root, LANGUAGES, rows=60), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=END, eos_token=END, unk_token=END,
                                   model_max_length=1024)
    fast.save_pretrained(folder)
    return fast


def build_causal_lm(folder: Path, data_root: Path, seed: int = 0, n_positions: int = 256,
                    initializer_range: float = 0.2) -> Path:
    """A 2-layer, 32-wide GPT-2 with its tokenizer, saved (safetensors) to `folder`.

    A larger `initializer_range` than GPT-2's 0.02 makes the three label scores differ visibly,
    so argmax and batch-size checks compare real decisions, not near-ties."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = byte_bpe_tokenizer(data_root, folder)
    end = tok.convert_tokens_to_ids(END)
    config = GPT2Config(vocab_size=len(tok), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=end, eos_token_id=end, initializer_range=initializer_range,
                        architectures=["GPT2LMHeadModel"])
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).eval().save_pretrained(folder, safe_serialization=True)
    return folder
