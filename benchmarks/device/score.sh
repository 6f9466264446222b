#!/usr/bin/env bash
# Device run 2: score the trained reference models on the lite benchmark (then train+score the rest).
set -euo pipefail
W=/tmp/xr; mkdir -p $W
python -m pip install -q --no-index --find-links .devbundle/wheels peft accelerate tabulate psutil 2>&1 | tail -2 || true
tar xzf .devbundle/data.tar.gz -C $W
tar xzf .devbundle/benchmark.tar.gz -C $W
gunzip -c .devbundle/base/tokenizer.json.gz > .devbundle/base/tokenizer.json && rm .devbundle/base/tokenizer.json.gz
python benchmarks/device/rebuild_base.py .devbundle $W/base >/dev/null
python benchmarks/device/score_all.py --base $W/base --base-sha256 "$(cat .devbundle/base/weights_sha256.txt)" \
  --data $W/data --benchmark $W/benchmark --out $W/runs --tar "$OUT/runs.tar.gz" \
  --models submissions/direct-e5small-s1 submissions/stilts-anli-e5small-s1 submissions/direct-e5small-s2 \
           submissions/stilts-anli-e5small-s2 submissions/direct-e5small-s3 submissions/stilts-anli-e5small-s3 \
  --train submissions/stilts-qqp-e5small-s1/recipe.yaml submissions/stilts-socialiqa-e5small-s1/recipe.yaml \
  2>&1 | grep -E '^\{|Error|error|Traceback' | tail -30
