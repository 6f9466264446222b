#!/usr/bin/env bash
# Device run 3 (one call): GPU scoring throughput (#6), then train and score the SocialIQA and
# mix STILTs recipes (#4).  Leaves the rebuilt base in /tmp/xr/base for full_similarity.py compute.
# Carry: .devbundle (bundle.py output plus gpu_pairs.jsonl.gz from gpu_scoring.py --prepare).
set -uo pipefail
export PYTHONUNBUFFERED=1
W=/tmp/xr; mkdir -p $W
python -m pip install -q --no-index --find-links .devbundle/wheels peft accelerate tabulate psutil 2>&1 | tail -2
tar xzf .devbundle/data.tar.gz -C $W && tar xzf .devbundle/benchmark.tar.gz -C $W
gunzip -c .devbundle/base/tokenizer.json.gz > $W/tokenizer.json
mkdir -p $W/bundle/base && cp .devbundle/base_q4.safetensors $W/bundle/ && cp .devbundle/base/*.json .devbundle/base/*.txt $W/bundle/base/
cp $W/tokenizer.json $W/bundle/base/
python benchmarks/device/rebuild_base.py $W/bundle $W/base || exit 1
mkdir -p $W/gpub/tokenizer && cp $W/bundle/base/tokenizer*.json $W/bundle/base/special_tokens_map.json $W/gpub/tokenizer/
cp .devbundle/gpu_pairs.jsonl.gz $W/gpub/pairs.jsonl.gz
timeout 200 python benchmarks/gpu_scoring.py --bundle $W/gpub --anchor-n 2000 --out $OUT/gpu.json 2>&1 | grep -v -i warn | tail -12
python benchmarks/device/score_all.py --base $W/base --base-sha256 "$(cat .devbundle/base/weights_sha256.txt)" \
  --data $W/data --benchmark $W/benchmark --out $W/runs --tar "$OUT/runs.tar.gz" \
  --train submissions/stilts-socialiqa-e5small-s1/recipe.yaml submissions/stilts-mix-e5small-s1/recipe.yaml \
  2>&1 | grep -E '^\{|Error|error|Traceback' | tail -30
ls -la $OUT
