"""On the GPU machine: rebuild the base model folder from the bundle (see bundle.py).

Tensors are dequantised by `adapters.basemodel.dequantize_q4_0`, the function the local
converter uses, so they are bit-identical to the local `model.safetensors`; embedding rows
not in the bundle are NaN.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from adapters.basemodel import dequantize_q4_0, hf_tensor_specs  # noqa: E402


def rebuild(bundle: Path, out: Path) -> Path:
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(bundle / "base_q4.safetensors"), "np") as handle:
        layout = json.loads(handle.metadata()["layout"])
        rows = handle.get_tensor("rows")
        raw = {key[4:]: handle.get_tensor(key) for key in handle.keys() if key.startswith("raw/")}
    header = layout["header"]
    state = {}
    for short, (hf_name, shape) in hf_tensor_specs(header).items():
        meta = layout["tensors"][short]
        if short == "emb.word":
            values = dequantize_q4_0(raw[short], len(rows) * header["hidden"]).reshape(len(rows), header["hidden"])
            full = np.full(shape, np.nan, dtype=np.float32)
            full[rows] = values
            state[hf_name] = full
        elif meta["dtype"] == layout["q4"]:
            state[hf_name] = dequantize_q4_0(raw[short], meta["count"]).reshape(shape)
        else:
            state[hf_name] = raw[short].view("<f4").astype(np.float32).reshape(shape)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    for path in (bundle / "base").iterdir():
        shutil.copy2(path, out / path.name)
    return out


if __name__ == "__main__":
    print(rebuild(Path(sys.argv[1]), Path(sys.argv[2])))
