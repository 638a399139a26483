#!/usr/bin/env bash
# Builds one example of a workspace crate natively and for wasm32-wasip1
# (with simd128, as the engine runs), then runs the native build and the
# wasm one under the wasmtime CLI, with the same arguments:
#   scripts/wasip1-example.sh PACKAGE EXAMPLE [--features F] [--dir D] -- ARGS...
# For the benchmarks that compare code paths inside one process
# (scripts/kernel-tiles.sh, scripts/request-parse.sh; BENCHMARKS.md). The
# wasm build uses the rustup target where there is one, else Debian's
# rustc-web with -Zbuild-std, as build/guest.rs does (scripts/setup.sh
# installs either), and target/engine, shared with the engine's builds.
# The wasmtime CLI comes from PATH or from scripts/setup.sh --tests.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: scripts/wasip1-example.sh PACKAGE EXAMPLE [--features F] [--dir D] -- ARGS..."
PACKAGE=$1 EXAMPLE=$2
shift 2
FEATURES=() DIRS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --features) FEATURES=(--features "$2"); shift 2 ;;
        --dir) DIRS+=(--dir "$2"); shift 2 ;;
        --) shift; break ;;
        *) die "unknown option $1 (arguments for the example go after --)" ;;
    esac
done

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
    CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS+=" -C link-self-contained=no -L /usr/lib/wasm32-wasi"
    CARGO=(/usr/bin/cargo -Zbuild-std=std,panic_abort)
fi

say "building $EXAMPLE natively and for $TARGET"
cargo build --quiet --release -p "$PACKAGE" --example "$EXAMPLE" "${FEATURES[@]}"
env -u RUSTFLAGS "${CARGO[@]}" build --quiet --profile engine -p "$PACKAGE" --example "$EXAMPLE" "${FEATURES[@]}" \
    --target "$TARGET" --target-dir target/engine

say "native"
"target/release/examples/$EXAMPLE" "$@"
# With epoch interruption, as wasmodel, Spin and `wasmtime serve` run
# components (a time limit): it checks the epoch on every loop back-edge,
# which changes which code is fastest. The deadline is a day away.
say "wasm, under $($WASMTIME --version), with epoch interruption"
"$WASMTIME" run -W timeout=86400s "${DIRS[@]}" "target/engine/$TARGET/engine/examples/$EXAMPLE.wasm" "$@"
