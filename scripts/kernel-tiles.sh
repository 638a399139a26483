#!/usr/bin/env bash
# Times the f32 matrix tiles of crates/kernels against each other and against
# tract's own wasm kernels, on whole models (BENCHMARKS.md, "Matrix tiles"):
#   scripts/kernel-tiles.sh [--runs N] [MODEL.onnx...]
# (default: every CNN under models/). It builds crates/engine's example
# `kernel_tiles` natively and for wasm32-wasip1 (minutes the first time:
# tract for wasip1, shared with the HTTP engine's build), runs it natively
# (tract's native kernels: the floor) and then under the wasmtime CLI
# (scripts/setup.sh --tests installs one into .tools/), one wasm process
# timing every tile in rounds.
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
[ ${#MODELS[@]} -gt 0 ] || MODELS=(models/squeezenet.onnx models/digits_cnn.onnx models/zoo/cnn/*.onnx)
MODELS=($(for m in "${MODELS[@]}"; do [ -f "$m" ] && echo "$m"; done))
[ ${#MODELS[@]} -gt 0 ] || die "no model to time"

if command -v wasmtime >/dev/null; then WASMTIME=wasmtime
elif [ -x .tools/bin/wasmtime ]; then WASMTIME=.tools/bin/wasmtime
else die "no wasmtime CLI: run scripts/setup.sh --tests"; fi

TARGET=wasm32-wasip1
export CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C target-feature=+simd128"
CARGO=(cargo)
libdir=$(rustc --print target-libdir --target "$TARGET" 2>/dev/null || true)
if ! ls "$libdir"/libstd-* >/dev/null 2>&1; then
    # Debian's rustc-web, as build/guest.rs uses it.
    [ -x /usr/bin/cargo ] || die "no std for $TARGET and no Debian rustc-web: run scripts/setup.sh"
    export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
    export CARGO_TARGET_WASM32_WASIP1_LINKER
    CARGO_TARGET_WASM32_WASIP1_LINKER=$(command -v wasm-ld || command -v wasm-ld-19)
    CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS+=" -C link-self-contained=no -L /usr/lib/wasm32-wasi --cfg wasmodel_realpath_shim"
    CARGO=(/usr/bin/cargo -Zbuild-std=std,panic_abort)
fi

say "building kernel_tiles natively and for $TARGET"
cargo build --quiet --release -p wasmodel-engine --example kernel_tiles --features kernel-tiles
env -u RUSTFLAGS "${CARGO[@]}" build --quiet --profile engine -p wasmodel-engine --example kernel_tiles --features kernel-tiles \
    --target "$TARGET" --target-dir target/engine

say "native tract"
target/release/examples/kernel_tiles "${ARGS[@]}" "${MODELS[@]}"
say "wasm, under $($WASMTIME --version)"
"$WASMTIME" run --dir models "target/engine/$TARGET/engine/examples/kernel_tiles.wasm" "${ARGS[@]}" "${MODELS[@]}"
