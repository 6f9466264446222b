"""Precisions and runtimes behind the model seam: int8, bf16, ONNX Runtime, one parity check.

Why here and not in bench: a precision is a property of how a backend runs, so the backend
declares which it offers (`adapter.precisions`) and `apply` is the only way in: `bench`,
`attack` and the benchmarks scripts never call a backend's internals.  Every conversion scores
the same English dev pairs before and after and is refused when predicted labels move
(`parity_check`, the one place that decides); its numbers go into the record.  A precision is
also refused on the CPU when it is slower than fp32 there (`check_not_slower`): a user asking
for bf16 wants speed, and an emulated bf16 gives a fraction of it.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from harness.core.errors import ModelError
from harness.core.hashing import sha256_file, sha256_json
from harness.core.registry import Registry
from adapters.hf import _PAD_KEYS

ONNX_OPSET = 17
SPEED_PAIRS = 64
"""Pairs timed in each precision by `check_not_slower` (after the parity pass warmed both up)."""
MIN_SPEED_RATIO = 0.8
"""A precision below this fraction of fp32's speed is refused: emulated bf16 measures ~0.17x,
native bf16 ~1.9x, so timing noise on a short run never decides between them."""
MIN_TIMED_SECONDS = 0.2
"""An fp32 pass shorter than this decides nothing (a tiny model: overhead, not arithmetic), and
a model that fast loses little to an emulated bf16; the check is then skipped and says so."""

PRECISIONS: Registry[str] = Registry("precision", {
    "int8": "adapters.precision:quantize_int8",
    "bf16": "adapters.precision:cast_bf16",
    "onnxruntime": "adapters.precision:use_onnxruntime",
})


def offered(backend: Any) -> tuple[str, ...]:
    """The precisions a backend (its class or an instance) declares; none: fp32 only."""
    return tuple(getattr(backend, "precisions", ()))


def apply(adapter: Any, name: str, parity_pairs: Sequence[tuple[str, str]], **options: Any) -> dict[str, Any]:
    """Convert `adapter` to precision/runtime `name`, parity-checked; a backend without it is refused."""
    convert = PRECISIONS.load(name)
    if name not in offered(adapter):
        kind = adapter.identity().get("adapter", type(adapter).__name__)
        raise ModelError(f"the {kind} adapter does not offer {name} (it offers: {', '.join(offered(adapter)) or 'fp32 only'}); "
                         "score it in fp32")
    return convert(adapter, parity_pairs, **options)  # type: ignore[operator,no-any-return]


def _rate(adapter: Any, pairs: Sequence[tuple[str, str]], timer: Callable[[], float]) -> float:
    started = timer()
    adapter._predict_uncounted(pairs)
    return len(pairs) / max(timer() - started, 1e-9)


def check_not_slower(adapter: Any, candidate: Any, pairs: Sequence[tuple[str, str]], option: str,
                     timer: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Time fp32 and `candidate` on the same pairs; refuse `candidate` if clearly slower."""
    sample = list(pairs[:SPEED_PAIRS])
    fp32 = _rate(adapter, sample, timer)
    if len(sample) / fp32 < MIN_TIMED_SECONDS:
        return {"pairs": len(sample), "skipped": f"fp32 took under {MIN_TIMED_SECONDS} s: too short to time"}
    reference, adapter.model = adapter.model, candidate
    try:
        fast = _rate(adapter, sample, timer)
    finally:
        adapter.model = reference
    measured = {"pairs": len(sample), "fp32_pairs_per_s": round(fp32, 1), "candidate_pairs_per_s": round(fast, 1),
                "ratio": round(fast / fp32, 3)}
    if fast < MIN_SPEED_RATIO * fp32:
        import torch

        raise ModelError(f"{option} is slower than fp32 on this machine: {fast:.1f} vs {fp32:.1f} pairs/s "
                         f"({measured['ratio']}x) measured on {len(sample)} pairs; this CPU "
                         f"({torch.backends.cpu.get_cpu_capability()}) has no native bf16 and torch emulates it. "
                         "Score in fp32 (the default).")
    return measured


def _logits_only(model: Any, names: list[str]) -> Any:
    """A module view for the ONNX exporter: positional inputs in, logits out (torch imported lazily)."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(names, tensors))).logits

    return LogitsOnly()


class OrtModel:
    """Stands in for the torch model in `predict`: same call, `.logits` as a torch tensor."""

    def __init__(self, session: Any, names: list[str], config: Any) -> None:
        self.session, self.names, self.config = session, names, config

    def __call__(self, **batch: Any) -> Any:
        import types

        import torch

        feed = {n: batch[n].numpy() for n in self.names}
        return types.SimpleNamespace(logits=torch.from_numpy(self.session.run(["logits"], feed)[0]))

    def parameters(self) -> Any:
        return iter(())


def quantize_int8(adapter: Any, parity_pairs: Sequence[tuple[str, str]], min_agreement: float = 0.99) -> dict[str, Any]:
    """Dynamic int8 quantisation of the linear layers (CPU), refused if it changes predictions.

    Weights are quantised per output channel, and every linear layer that narrows its input
    (the feed-forward down-projections, `intermediate -> hidden`, and the classifier) stays in
    fp32: their inputs carry outlier features (max/mean |x| up to ~660 on the reference model)
    and their weights outlier rows, which one int8 scale per tensor flattens.  Measured on the
    reference model: quantising those 12 layers alone changed 19% of predictions, everything
    per tensor 28%.  The same pairs are scored before and after; agreement and the largest
    probability change go into the record, so a faster run never silently scores differently.
    """
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    if not adapter.device.startswith("cpu"):
        raise ModelError("int8 dynamic quantisation runs on the CPU only")
    if adapter.info.get("precision"):
        raise ModelError(f"the model is already {adapter.info['precision']}; int8 quantises an fp32 model")
    linear = {name: m for name, m in adapter.model.named_modules() if isinstance(m, torch.nn.Linear)}
    kept = sorted(name for name, m in linear.items() if m.in_features > m.out_features)
    spec = {name: per_channel_dynamic_qconfig for name in linear if name not in kept}
    before = adapter._predict_uncounted(parity_pairs)
    with warnings.catch_warnings():  # torch.ao's deprecation notice points to torchao, not to the user
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(adapter.model, spec, dtype=torch.qint8)
    parity = parity_check(adapter, before, quantized, parity_pairs, min_agreement, "int8 quantisation")
    adapter.model = quantized
    adapter.info.update(precision="int8-dynamic", precision_parity=parity, quantization={
        "method": "torch.ao dynamic int8, per-channel weights, nn.Linear", "n_quantized": len(spec),
        "kept_fp32": kept, **parity})
    return parity

def cast_bf16(adapter: Any, parity_pairs: Sequence[tuple[str, str]], min_agreement: float = 0.99,
              check_speed: bool = True, timer: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """bfloat16 weights and activations, refused if it changes predictions on `parity_pairs`.

    Only on request (`--dtype bf16`): the harness scores in fp32 by default.  Allowed on the
    CPU too: on CPUs with AVX512-BF16 or AMX it is ~1.9x faster than fp32 (measured on an AMD
    EPYC Zen 4, see benchmarks/NOTES.md); on CPUs without them torch emulates it at a fraction
    of the fp32 speed (0.17x measured on an AVX2-only EPYC), so on the CPU the two are timed on
    the same pairs and a bf16 slower than fp32 is refused with the measured numbers
    (`check_not_slower`).  The parity numbers and `precision: bfloat16` go into the record and
    the cache key; the timings do not (they measure the machine, not the model).
    """
    import copy

    import torch

    if adapter.info.get("precision"):
        raise ModelError(f"the model is already {adapter.info['precision']}; bf16 casts an fp32 model")
    before = adapter._predict_uncounted(parity_pairs)
    cast = copy.deepcopy(adapter.model).to(torch.bfloat16)  # a copy: a refused cast leaves fp32 intact
    parity = parity_check(adapter, before, cast, parity_pairs, min_agreement, "bf16")
    if adapter.device.startswith("cpu") and check_speed:
        check_not_slower(adapter, cast, parity_pairs, "--dtype bf16", timer)
    adapter.model = cast
    adapter.info.update(precision="bfloat16", precision_parity=parity)
    return parity

def use_onnxruntime(adapter: Any, parity_pairs: Sequence[tuple[str, str]], min_agreement: float = 0.99,
                    cache_dir: Path | None = None) -> dict[str, Any]:
    """fp32 inference through ONNX Runtime on the CPU, refused if it changes predictions.

    The model (LoRA already merged) is exported once per weights hash, torch version and
    inputs into the cache folder (atomically; ~the size of the fp32 weights) and run with
    all graph optimisations and torch's thread count.  Same parity check as bf16; the record
    says `precision: float32-onnxruntime` and the runtime's version, and the prediction
    cache keys on it, so torch and ONNX Runtime answers are never mixed.
    """
    if adapter.info.get("precision"):
        raise ModelError(f"the model is already {adapter.info['precision']}; ONNX Runtime runs an fp32 model")
    if not adapter.device.startswith("cpu"):
        raise ModelError("ONNX Runtime is offered for the CPU path; on a GPU use --dtype bf16")
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError("ONNX Runtime is not installed: pip install 'xnli-robust[onnx]'") from exc
    import torch

    names = [n for n in adapter.tokenizer.model_input_names if n in _PAD_KEYS]
    path = _onnx_file(adapter, names, cache_dir)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    candidate = OrtModel(session, names, adapter.model.config)
    before = adapter._predict_uncounted(parity_pairs)
    parity = parity_check(adapter, before, candidate, parity_pairs, min_agreement, "ONNX Runtime")
    adapter.model = candidate
    adapter.info.update(precision="float32-onnxruntime", precision_parity=parity,
                     runtime={"name": "onnxruntime", "version": ort.__version__, "file_sha256": sha256_file(path)})
    return parity

def _onnx_file(adapter: Any, names: list[str], cache_dir: Path | None) -> Path:
    """Export once; the file name is the hash of everything the graph depends on."""
    import io

    import torch

    from harness.core.atomic import atomic_write_bytes

    if cache_dir is None:
        from harness.core.paths import cache_root

        cache_dir = cache_root() / "onnx"
    key = sha256_json({"weights": adapter.identity()["weights_sha256"], "torch": torch.__version__,
                       "inputs": names, "opset": ONNX_OPSET})[:32]
    path = Path(cache_dir) / f"{key}.onnx"
    if path.is_file():
        return path
    sample = adapter.tokenizer(["a b c"], ["d e"], return_tensors="pt")
    graph = _logits_only(adapter.model, names).eval()
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, tuple(sample[n] for n in names), buffer, input_names=names,
                              output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                              opset_version=ONNX_OPSET, dynamo=False)
    finally:
        adapter.model.eval()  # the exporter can leave modules in training mode (dropout on)
    atomic_write_bytes(path, buffer.getvalue())  # never a half-written file under the cache key
    return path

def parity_check(adapter: Any, before: np.ndarray, candidate: Any, parity_pairs: Sequence[tuple[str, str]],
                  min_agreement: float, what: str) -> dict[str, Any]:
    """Score `parity_pairs` with `candidate`; raise, keeping the fp32 model, if labels move."""
    fp32, adapter.model = adapter.model, candidate
    after = adapter._predict_uncounted(parity_pairs)
    adapter.model = fp32
    parity = {"n_items": len(parity_pairs), "reference": "float32",
              "label_agreement": float((before.argmax(1) == after.argmax(1)).mean()),
              "max_probability_change": float(np.abs(before - after).max())}
    if parity["label_agreement"] < min_agreement:
        raise ModelError(f"{what} changes {100 * (1 - parity['label_agreement']):.1f}% of predictions "
                         f"on {len(parity_pairs)} English dev items (allowed {100 * (1 - min_agreement):.1f}%); "
                         f"score without it")
    return parity
