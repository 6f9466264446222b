#!/usr/bin/env bash
# Device run 1: rebuild the base from the bundle and train the reference recipes on the GPU.
set -euo pipefail
W=/tmp/xr; mkdir -p $W
python -m pip install -q --no-index --find-links .devbundle/wheels peft accelerate tabulate psutil 2>&1 | tail -2 || true
python -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__, torch.cuda.get_device_name(0))"
tar xzf .devbundle/data.tar.gz -C $W
gunzip -c .devbundle/base/tokenizer.json.gz > .devbundle/base/tokenizer.json && rm .devbundle/base/tokenizer.json.gz
python benchmarks/device/rebuild_base.py .devbundle $W/base
python benchmarks/device/train_all.py --base $W/base --data $W/data --out $W/models --tar "$OUT/models.tar.gz" \
  submissions/direct-e5small-s1/recipe.yaml submissions/stilts-anli-e5small-s1/recipe.yaml \
  submissions/direct-e5small-s2/recipe.yaml submissions/stilts-anli-e5small-s2/recipe.yaml \
  submissions/direct-e5small-s3/recipe.yaml submissions/stilts-anli-e5small-s3/recipe.yaml \
  submissions/stilts-qqp-e5small-s1/recipe.yaml submissions/stilts-socialiqa-e5small-s1/recipe.yaml \
  submissions/stilts-mix-e5small-s1/recipe.yaml 2>&1 | grep -v -E "Warning|warn" | tail -40
