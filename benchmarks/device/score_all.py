"""On the GPU machine: score trained reference models on the benchmark (and train missing ones).

The rebuilt base differs from the local conversion only in embedding rows no benchmark text
uses (NaN there), so the predictions are those of the exact model; the records name the exact
base weights (`--base-sha256`), and any NaN in a prediction stops the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

RUN_FILES = ("result.json", "predictions.jsonl.gz")
MODEL_FILES = ("adapter_config.json", "adapter_model.safetensors", "config.json", "train_summary.json",
               "training_log.jsonl")


def patch(base: Path, base_sha256: str) -> None:
    from adapters import hf
    from adapters import basemodel
    from harness.scoring import bench

    bench.validate = lambda record, where="record": None  # no jsonschema there: `submit` validates here

    basemodel.ensure_base_model = lambda model_dir=None: base  # type: ignore[assignment]
    original_hash = hf.weights_sha256
    hf.weights_sha256 = lambda folder: base_sha256 if Path(folder).resolve() == base.resolve() else original_hash(folder)  # type: ignore[assignment]
    original_predict = hf.HFAdapter.predict

    def checked(self, pairs):  # type: ignore[no-untyped-def]
        probs = original_predict(self, pairs)
        if not np.isfinite(probs).all():
            raise RuntimeError("NaN prediction: a token outside the bundle's embedding rows")
        return probs

    hf.HFAdapter.predict = checked  # type: ignore[method-assign]


def pack(root: Path, tarball: Path) -> None:
    tmp = tarball.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for name in (*RUN_FILES, *MODEL_FILES):
                if (folder / name).is_file():
                    tar.add(folder / name, arcname=f"{folder.name}/{name}")
    tmp.replace(tarball)


def score(model: Path, recipe: Path, benchmark: Path, out: Path, device: str) -> dict:
    from harness.scoring.bench import BenchConfig, run

    cfg = BenchConfig(model=str(model), out=out, benchmark=benchmark, device=device, batch_size=256,
                      recipe=str(recipe), cache=None, progress=False, overwrite=True)
    return run(cfg)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--base-sha256", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--benchmark", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tar", type=Path, required=True)
    parser.add_argument("--models", nargs="*", type=Path, default=[], help="trained folders to score")
    parser.add_argument("--train", nargs="*", type=Path, default=[], help="recipes to train, then score")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    patch(args.base, args.base_sha256)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(m, m / "recipe.yaml", False) for m in args.models] + [(r.parent, r, True) for r in args.train]
    for folder, recipe, needs_training in jobs:
        started = time.time()
        target = args.out / folder.name
        model = folder
        if needs_training:
            from harness.training.trainer import train

            train(recipe, target / "model", data_root=args.data, device=args.device, progress=False)
            model = target / "model"
        record = score(model, recipe, args.benchmark, target / "run", args.device)
        for name in RUN_FILES:
            (target / "run" / name).replace(target / name)
        if needs_training:
            for name in MODEL_FILES:
                if (model / name).is_file():
                    (model / name).replace(target / name)
        res = record["results"]
        print(json.dumps({"model": folder.name, "wall_s": round(time.time() - started, 1),
                          "clean": round(res["clean"]["macro"]["accuracy"], 4),
                          "worst_case": res["worst_case"]["average"],
                          "pairs_per_s": record["timing"]["pairs_per_second"]}), flush=True)
        pack(args.out, args.tar)
    return 0


if __name__ == "__main__":
    sys.exit(main())
