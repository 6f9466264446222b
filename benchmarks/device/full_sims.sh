#!/usr/bin/env bash
# Device run 4, right after remaining.sh on the same warm machine (it reuses /tmp/xr/base):
# e5 cosines of every (original, perturbed) sentence pair of the full benchmark.  Carry: .devsims
set -uo pipefail
export PYTHONUNBUFFERED=1
test -f /tmp/xr/base/model.safetensors || { echo "no /tmp/xr/base: run benchmarks/device/remaining.sh first"; exit 1; }
python benchmarks/device/full_similarity.py compute --in .devsims --base /tmp/xr/base --out "$OUT" 2>&1 | grep -v -i warn | tail -8
ls -la "$OUT"
