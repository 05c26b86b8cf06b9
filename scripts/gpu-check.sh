#!/usr/bin/env bash
# The GPU check: on a box with Python PyTorch (CUDA) but no Go and no network, rebuild only the C++ shim
# against that torch, then run the Go binary built elsewhere (build/sentitune) through
# scripts/gpu_check.py: logits vs transformers (f32, bf16), LoRA training and scoring speed vs
# transformers+PEFT, PEFT loading sentitune's adapter. Results: $OUT (or ./gpu-results).
#   scripts/gpu-check.sh [OUTDIR]          on a GPU box (≤ 8 minutes on an H100/H200)
#   scripts/gpu-check.sh [OUTDIR] --cpu    the same plumbing on CPU with a tiny model (no transformers needed)
set -euo pipefail
if [ $# -gt 0 ] && [[ $1 != -* ]]; then OUT=$(mkdir -p "$1" && cd "$1" && pwd); shift; fi
cd "$(dirname "$0")/.."
export OUT=${OUT:-$PWD/gpu-results}
mkdir -p "$OUT" .gpu
PY=${PYTHON:-python3}
if [[ " $* " == *" --cpu "* ]] && [ -f build/libsentitorch.so ]; then
  export SENTITUNE_TORCH_LIB=$PWD/build/libsentitorch.so
else
  # Rebuild the shim against this machine's torch; the Go binary itself is unchanged.
  PYTHON=$PY scripts/build-shim.sh .gpu/lib 2>&1 | tee "$OUT/shim-build.log"
  export SENTITUNE_TORCH_LIB=$PWD/.gpu/lib/libsentitorch.so
  cp .gpu/lib/libsentitorch.info "$OUT/" || true
fi
[ -x build/sentitune ] || { echo "build/sentitune missing: run 'make build' where Go is installed and carry build/" >&2; exit 1; }
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true) > "$OUT/gpu.txt"
PYTHONUNBUFFERED=1 $PY scripts/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu-check.log"
