#!/usr/bin/env bash
# Times the f32 matrix tiles of crates/kernels against each other and against
# tract's own wasm kernels, on whole models (BENCHMARKS.md, "Matrix tiles"):
#   scripts/kernel-tiles.sh [--runs N] [MODEL.onnx...]
# (default: every CNN under models/). It builds crates/engine's example
# `kernel_tiles` natively and for wasm32-wasip1 (minutes the first time:
# tract for wasip1, shared with the HTTP engine's build), runs it natively
# (tract's native kernels: the floor) and then under the wasmtime CLI
# (scripts/setup.sh --tests installs one into .tools/), with epoch
# interruption on as wasmodel runs components: one wasm process timing
# every tile in rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ARGS=()
MODELS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) [ $# -ge 2 ] || die "--runs takes a count"; ARGS+=(--runs "$2"); shift 2 ;;
        -h|--help) sed -n '2,/^set/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) MODELS+=("$1"); shift ;;
    esac
done
[ ${#MODELS[@]} -gt 0 ] || MODELS=(models/squeezenet.onnx models/resnet18.onnx models/mobilenet_v2.onnx models/digits_cnn.onnx)
MODELS=($(for m in "${MODELS[@]}"; do [ -f "$m" ] && echo "$m"; done))
[ ${#MODELS[@]} -gt 0 ] || die "no model to time"

exec scripts/wasip1-example.sh wasmodel-engine kernel_tiles --features kernel-tiles --dir models \
    -- "${ARGS[@]}" "${MODELS[@]}"
