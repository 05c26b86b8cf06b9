#!/usr/bin/env bash
# Builds libsentitorch.so (the C ABI over libtorch) against whichever libtorch is found, in this order:
#   1. LIBTORCH=/path        an official libtorch zip (include/, lib/)
#   2. a Python PyTorch      ${PYTHON:-python3} -c 'import torch' (its include/ and lib/ form a libtorch)
#   3. Debian's libtorch-dev /usr/include/torch, /usr/lib/<triplet>
# Usage: scripts/build-shim.sh OUT_DIR      (writes OUT_DIR/libsentitorch.so and OUT_DIR/libsentitorch.info)
set -euo pipefail
out=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/internal/torch/shim
mkdir -p "$out"

inc=() libdir="" origin="" abi=""
if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH/include" ] && [ -d "$LIBTORCH/lib" ] || { echo "LIBTORCH=$LIBTORCH has no include/ and lib/" >&2; exit 1; }
  inc=("$LIBTORCH/include" "$LIBTORCH/include/torch/csrc/api/include"); libdir=$LIBTORCH/lib; origin="LIBTORCH=$LIBTORCH"
elif tdir=$(${PYTHON:-python3} -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null) && [ -d "$tdir/include" ]; then
  inc=("$tdir/include" "$tdir/include/torch/csrc/api/include"); libdir=$tdir/lib; origin="python torch at $tdir"
  abi=$(${PYTHON:-python3} -c 'import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
elif [ -d /usr/include/torch/csrc/api/include ]; then
  inc=("/usr/include/torch/csrc/api/include"); libdir=$(dirname "$(ls /usr/lib/*/libtorch_cpu.so | head -1)"); origin="Debian libtorch-dev"
else
  echo "no libtorch found: set LIBTORCH=/path/to/libtorch, install PyTorch for python3, or run 'make setup' (Debian libtorch-dev)" >&2
  exit 1
fi
if [ -z "$abi" ]; then
  # (grep -c, not -q: under pipefail an early-exiting grep makes nm die of SIGPIPE and the test lie)
  if [ "$(nm -D --defined-only "$libdir/libc10.so" 2>/dev/null | grep -c '__cxx11')" -gt 0 ]; then abi=1; else abi=0; fi
fi

defs=(-D_GLIBCXX_USE_CXX11_ABI=$abi)
libs=(-L"$libdir" -Wl,-rpath,"$libdir" -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10)
flavour=cpu
if [ -f "$libdir/libtorch_cuda.so" ]; then
  # Without --no-as-needed the CUDA kernels' library is dropped and CUDA ops silently go missing.
  libs+=(-ltorch_cuda -lc10_cuda); defs+=(-DST_WITH_CUDA); flavour=cuda
  for d in "${CUDA_HOME:-/usr/local/cuda}/include" /usr/local/cuda/include $(ls -d "$(dirname "$libdir")"/../nvidia/*/include 2>/dev/null); do
    [ -f "$d/cuda_runtime_api.h" ] && { inc+=("$d"); break; }
  done
fi
libs+=(-Wl,--as-needed)

# c10d: Gloo headers come with libgloo-dev on Debian, inside include/ for libtorch zips.
dist=no
for d in "${inc[@]}" /usr/include; do
  if [ -f "$d/gloo/algorithm.h" ] && [ -f "$d/torch/csrc/distributed/c10d/ProcessGroupGloo.hpp" -o -f "${inc[0]}/torch/csrc/distributed/c10d/ProcessGroupGloo.hpp" -o -f /usr/include/torch/csrc/distributed/c10d/ProcessGroupGloo.hpp ]; then
    dist=gloo; break
  fi
done
distdefs=()
if [ $dist = gloo ]; then
  distdefs=(-DST_WITH_DIST -DUSE_C10D_GLOO -DUSE_DISTRIBUTED)
  if [ $flavour = cuda ]; then
    for d in "${inc[@]}" $(ls -d "$(dirname "$libdir")"/../nvidia/nccl/include 2>/dev/null) /usr/include; do
      [ -f "$d/nccl.h" ] && { distdefs+=(-DST_WITH_NCCL -DUSE_C10D_NCCL); inc+=("$d"); dist=gloo+nccl; break; }
    done
  fi
fi

cxx=${CXX:-g++}
# libtorch ≥ 2.10 headers need C++20; older ones build as C++17.
vh=$(for d in "${inc[@]}" /usr/include; do [ -f "$d/torch/version.h" ] && { echo "$d/torch/version.h"; break; }; done)
std=c++17
if [ -n "$vh" ]; then
  maj=$(awk '/define TORCH_VERSION_MAJOR/{print $3}' "$vh"); min=$(awk '/define TORCH_VERSION_MINOR/{print $3}' "$vh")
  if [ "${maj:-1}" -gt 2 ] || { [ "${maj:-1}" -eq 2 ] && [ "${min:-0}" -ge 10 ]; }; then std=c++20; fi
fi
std=${CXXSTD:-$std}
flags=(-std=$std -O2 -fPIC -Wall -Wno-unused-variable -Wno-deprecated-declarations "${defs[@]}")
incflags=(); for d in "${inc[@]}"; do incflags+=(-isystem "$d"); done

start=$(date +%s)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( $cxx "${flags[@]}" "${incflags[@]}" -c "$src/sentitorch.cpp" -o "$tmp/a.o" 2>"$tmp/a.err" ||
  { echo "note: fast optimizer path did not build ($(grep -m1 error "$tmp/a.err")); retrying without it" >&2
    $cxx "${flags[@]}" -DST_NO_FAST_OPTIM "${incflags[@]}" -c "$src/sentitorch.cpp" -o "$tmp/a.o"; } ) &
pa=$!
if ! $cxx "${flags[@]}" "${distdefs[@]}" "${incflags[@]}" -c "$src/sentitorch_dist.cpp" -o "$tmp/b.o" 2>"$tmp/dist.err"; then
  echo "note: c10d part did not build ($(head -c 300 "$tmp/dist.err")); building without distributed support" >&2
  $cxx "${flags[@]}" "${incflags[@]}" -c "$src/sentitorch_dist.cpp" -o "$tmp/b.o"
  dist=no
fi
wait $pa
$cxx "${flags[@]}" "${incflags[@]}" -c "$src/sentitorch_prof.cpp" -o "$tmp/c.o" &
pc=$!
$cxx "${flags[@]}" "${incflags[@]}" -c "$src/sentitorch_step.cpp" -o "$tmp/d.o"
wait $pc
$cxx -shared -o "$tmp/libsentitorch.so" "$tmp/a.o" "$tmp/b.o" "$tmp/c.o" "$tmp/d.o" "${libs[@]}"
mv "$tmp/libsentitorch.so" "$out/libsentitorch.so"
cat > "$out/libsentitorch.info" <<INFO
libtorch: $origin
libdir: $libdir
flavour: $flavour
distributed: $dist
cxx11_abi: $abi
build_seconds: $(( $(date +%s) - start ))
INFO
echo "built $out/libsentitorch.so ($flavour, c10d: $dist) against $origin in $(( $(date +%s) - start )) s"
