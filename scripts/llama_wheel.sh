#!/usr/bin/env bash
# Build llama-cpp-python once per machine and keep the wheel (PyPI has only its sdist).
#
#   scripts/llama_wheel.sh PYTHON      prints the wheel folder to pass to `pip --find-links`
#
# The cache lives in ${KEEL_WHEEL_CACHE:-~/.cache/keel/wheels}/<cpu>, keyed by the CPU's flags
# because the build uses -march=native; a second `make setup` finds the wheel and compiles
# nothing. The sdist is kept beside it: `keel model prepare` takes llama.cpp's GGUF converters
# (convert_hf_to_gguf.py, convert_lora_to_gguf.py) from it for LoRA checkpoints.
set -euo pipefail
PYTHON=${1:-python3.11}
VERSION=0.3.36
# AMX tiles: -march=native enables llama.cpp's AMX kernels where the CPU lists amx_tile, and they crash
# (SIGSEGV in ggml_backend_amx_mul_mat on every batched prefill) in VMs that do not grant the tile state.
# GCC lets an explicit -mno-amx-* win over -march=native; AVX-512/VNNI stay on.
NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
BUILD_FLAGS="v2 $NO_AMX"  # part of the cache key: a wheel built with other flags is not reused
CPU=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null; echo "$BUILD_FLAGS") | md5sum | cut -c1-10 || echo generic)
ROOT=${KEEL_WHEEL_CACHE:-$HOME/.cache/keel/wheels}
DIR="$ROOT/$(uname -m)-$CPU"
mkdir -p "$DIR" "$ROOT/sdist"
if ls "$DIR"/llama_cpp_python-$VERSION-*.whl >/dev/null 2>&1; then
  echo "$DIR"; exit 0
fi
SDIST=$(ls "$ROOT"/sdist/llama_cpp_python-$VERSION.tar.gz 2>/dev/null || true)
if [ -z "$SDIST" ]; then
  echo "downloading the llama-cpp-python $VERSION sources" >&2
  "$PYTHON" -m pip download -q --no-deps --no-binary :all: -d "$ROOT/sdist" "llama-cpp-python==$VERSION" >&2
  SDIST=$(ls "$ROOT"/sdist/llama_cpp_python-$VERSION.tar.gz)
fi
LOG="$DIR/build.log"
echo "compiling llama.cpp once for this machine (about 8 minutes on 2 cores; log: $LOG)" >&2
START=$(date +%s)
set +e
CFLAGS="${CFLAGS:-} $NO_AMX" CXXFLAGS="${CXXFLAGS:-} $NO_AMX" \
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" "$PYTHON" -m pip wheel --no-deps -v -w "$DIR/.tmp" "$SDIST" 2>&1 \
  | tee "$LOG" \
  | while IFS= read -r line; do
      if [[ $line =~ \[([0-9]+)/([0-9]+)\] ]]; then
        n=${BASH_REMATCH[1]}; total=${BASH_REMATCH[2]}
        printf '\r  llama.cpp  %3d/%d  %3d%%  %4ds' "$n" "$total" $((100 * n / total)) $(( $(date +%s) - START )) >&2
      fi
    done
STATUS=${PIPESTATUS[0]}
set -e
printf '\n' >&2
if [ "$STATUS" -ne 0 ]; then
  echo "building llama-cpp-python failed (exit $STATUS); the last lines of $LOG:" >&2
  tail -n 20 "$LOG" >&2
  exit "$STATUS"
fi
mv "$DIR"/.tmp/*.whl "$DIR"/ && rmdir "$DIR/.tmp"
echo "built in $(( $(date +%s) - START ))s: $(ls "$DIR"/*.whl)" >&2
echo "$DIR"
