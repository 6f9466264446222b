#!/usr/bin/env bash
# Device: reference study v2 (issue #16) or the ANLI diagnosis, on a lent GPU.
#   bash benchmarks/device/study.sh study    [study.py options, e.g. --seeds 1-5 --jobs 8 --done returned.txt]
#   bash benchmarks/device/study.sh diagnose [options]
# Needs .devbundle (benchmarks/device/bundle.py, run here) carried with the working tree.
set -euo pipefail
MODE=${1:-study}; shift || true
W=/tmp/xr; mkdir -p $W
python -m pip install -q --no-index --find-links .devbundle/wheels peft accelerate tabulate psutil 2>&1 | tail -2 || true
[ -d $W/data ] || tar xzf .devbundle/data.tar.gz -C $W
[ -f .devbundle/base/tokenizer.json ] || gunzip -c .devbundle/base/tokenizer.json.gz > .devbundle/base/tokenizer.json
[ -d $W/base ] || python benchmarks/device/rebuild_base.py .devbundle $W/base >/dev/null
python benchmarks/device/study.py "$MODE" --base $W/base --base-sha256 "$(cat .devbundle/base/weights_sha256.txt)" \
  --data $W/data --work $W/$MODE --tar "$OUT/$MODE.tar.gz" --device cuda "$@" 2>&1 | grep -v -E "Warning|warn" | tail -60
