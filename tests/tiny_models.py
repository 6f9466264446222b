"""Tiny randomly initialised NLI checkpoints built inside the tests (no download, seconds).

Two families: XLM-R (with a sentencepiece tokenizer trained on real XNLI text) and BERT (with a
word-level tokenizer).  `permuted_copy` writes the same network with its classifier rows and
`id2label` permuted, which must score identically once labels are mapped.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch
from transformers import (BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast,
                          XLMRobertaConfig, XLMRobertaForSequenceClassification)

CANONICAL = {0: "entailment", 1: "neutral", 2: "contradiction"}


def _corpus(data_root: Path, languages: tuple[str, ...] = ("en", "fr", "zh", "th", "hi", "ar"), rows: int = 200) -> list[str]:
    lines = []
    for language in languages:
        with gzip.open(data_root / "xnli" / f"dev-{language}.tsv.gz", "rt", encoding="utf-8") as handle:
            for i, line in enumerate(handle):
                if i >= rows:
                    break
                premise, hypothesis, _ = line.rstrip("\n").split("\t")
                lines += [premise, hypothesis]
    return lines


def word_level_tokenizer(data_root: Path, folder: Path) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(_corpus(data_root), trainers.WordLevelTrainer(vocab_size=2000, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=512)
    fast.save_pretrained(folder)
    return fast


def sentencepiece_tokenizer(data_root: Path, folder: Path):  # type: ignore[no-untyped-def]
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "corpus.txt"
    text.write_text("\n".join(_corpus(data_root)), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(folder / "spm"), vocab_size=1000,
                                   character_coverage=1.0, model_type="unigram", minloglevel=2,
                                   num_threads=1, seed_sentencepiece_size=100000)
    text.unlink()
    # transformers 5 builds XLM-R tokenizers from a (piece, score) list; a `vocab_file`
    # argument is silently ignored and leaves a vocabulary in which every word is <unk>.
    processor = spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    specials = {"<s>", "</s>", "<unk>", "<pad>", "<mask>"}
    pieces = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p, score) for p, score in pieces if p not in specials] + [("<mask>", 0.0)]
    tok = XLMRobertaTokenizer(vocab=vocab, model_max_length=512)
    unknown = tok.convert_tokens_to_ids(tok.tokenize("The report was published in Paris."))
    assert unknown.count(tok.unk_token_id) < len(unknown) // 2, "tiny tokenizer maps text to <unk>"
    tok.save_pretrained(folder)
    (folder / "spm.model").unlink()
    (folder / "spm.vocab").unlink()
    return tok


def build_checkpoint(folder: Path, data_root: Path, arch: str = "xlmr", id2label: dict | None = None,
                     seed: int = 0, safetensors: bool = True, initializer_range: float = 0.2) -> Path:
    """A 2-layer, 32-wide model with a 3-way head, saved to `folder`.

    A larger `initializer_range` gives a model whose output swings with every token: what
    attack tests need (a default random model predicts one label for nearly everything).
    """
    folder.mkdir(parents=True, exist_ok=True)
    tok = sentencepiece_tokenizer(data_root, folder) if arch == "xlmr" else word_level_tokenizer(data_root, folder)
    id2label = id2label or CANONICAL
    common = dict(vocab_size=len(tok), hidden_size=32, initializer_range=initializer_range, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=520, num_labels=3,
                  id2label=id2label, label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(seed)
    if arch == "xlmr":
        config = XLMRobertaConfig(pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
                                  eos_token_id=tok.sep_token_id, type_vocab_size=1, **common)
        model = XLMRobertaForSequenceClassification(config)
    else:
        config = BertConfig(pad_token_id=tok.pad_token_id, **common)
        model = BertForSequenceClassification(config)
    model.save_pretrained(folder, safe_serialization=safetensors)
    return folder


def permuted_copy(source: Path, target: Path, permutation: tuple[int, int, int]) -> Path:
    """Same weights, classifier rows reordered: new output j = old output permutation[j]."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    weights = load_file(str(target / "model.safetensors"))
    for name in list(weights):
        if name.startswith("classifier") and weights[name].shape[0] == 3 and ("out_proj" in name or name.startswith("classifier.")):
            if weights[name].shape[0] == 3:
                weights[name] = weights[name][list(permutation)].contiguous()
    save_file(weights, str(target / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((target / "config.json").read_text())
    old = {int(k): v for k, v in config["id2label"].items()}
    config["id2label"] = {str(j): old[permutation[j]] for j in range(3)}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (target / "config.json").write_text(json.dumps(config, indent=2))
    return target


def balanced_copy(source: Path, target: Path, data_root: Path, languages: tuple[str, ...] = ("en", "zh", "th", "hi", "ar"),
                  rows: int = 40) -> Path:
    """The same tiny model with its classifier bias shifted so each label wins about a third of
    the time on real XNLI dev pairs.

    A random tiny model predicts one label for nearly every input, so no small edit flips it;
    centred logits make its decisions depend on the input, which is what an attack needs.
    """
    import shutil

    import numpy as np
    from safetensors.torch import load_file, save_file

    from adapters import load_adapter
    from harness.data.xnli import load_local

    shutil.copytree(source, target)
    data = load_local(data_root / "xnli", "dev", languages)
    pairs = [(e.premise, e.hypothesis) for lang in languages for e in data[lang][:rows]]
    probs = load_adapter("hf", str(target)).predict(pairs)
    logits = np.log(np.clip(probs, 1e-9, 1.0))
    weights = load_file(str(target / "model.safetensors"))
    name = next(n for n in weights if n.startswith("classifier") and n.endswith("bias") and weights[n].shape[0] == 3)
    shift = np.median(logits, axis=0) - np.median(logits)
    weights[name] = weights[name] - torch.tensor(shift, dtype=weights[name].dtype)
    save_file(weights, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target
