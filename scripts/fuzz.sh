#!/usr/bin/env bash
# Fuzzes every decoder that bytes from outside reach (fuzz/: cargo-fuzz and
# libFuzzer): the OIP service (JSON and binary requests), the CLI's tensor
# files (.npy, JSON), the engine's input checks and the ONNX loader.
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]   each target N s (default 30)
#   scripts/fuzz.sh --coverage [TARGET...]      line coverage of the corpora
#
# Each target starts from its committed seeds (fuzz/corpus/TARGET, made by
# fuzz/seeds.py; onnx_load from the repository's small models) and from the
# inputs that once crashed it (fuzz/regressions/TARGET), and writes
# what it learns to target/fuzz-corpus/TARGET, which later runs reuse.
# A crash stops the target and leaves the input in fuzz/artifacts/TARGET/;
# so does an input that takes the process over 2 GiB resident or runs more
# than 30 s.
# --coverage fuzzes nothing: it replays each target's corpus (what it
# learned, its seeds, its regressions) in a build
# instrumented for source coverage and prints, per source file of the
# project's crates, the lines reached and missed (the whole report in
# fuzz/coverage/TARGET/report.txt; `llvm-cov show`, printed at the end,
# shows the lines). It needs rustup's llvm-tools, added here when rustup
# is present (Debian's rustc-web has no llvm-cov).
# Built on the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz asks for
# nightly flags) and no sanitizer (-s none): safe Rust needs none, and the
# machines here have no nightly. Exits non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
coverage=false
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --coverage) coverage=true; shift ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) printf 'usage: scripts/fuzz.sh [--seconds N | --coverage] [TARGET...]\n' >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(oip_request tensor_files engine_inputs onnx_load)

scripts/setup.sh --fuzz
export RUSTC_BOOTSTRAP=1
FUZZ=(.tools/bin/cargo-fuzz)

if $coverage; then
    host=$(rustc -vV | sed -n 's/^host: //p')
    llvm=$(rustc --print sysroot)/lib/rustlib/$host/bin
    if [ ! -x "$llvm/llvm-cov" ]; then
        command -v rustup >/dev/null \
            || { echo "llvm-cov is missing, and no rustup to add llvm-tools" >&2; exit 1; }
        echo "==> rustup component add llvm-tools" >&2
        rustup component add llvm-tools
    fi
    for target in "${targets[@]}"; do
        [ -d target/fuzz-corpus/"$target" ] || { echo "no corpus for $target: fuzz it first" >&2; exit 1; }
        # What it learned, its seeds and its regressions.
        dirs=()
        for dir in target/fuzz-corpus fuzz/corpus fuzz/regressions; do
            [ -d "$dir/$target" ] && dirs+=("$dir/$target")
        done
        echo "==> $target: replaying $(find "${dirs[@]}" -type f | wc -l) inputs, instrumented" >&2
        "${FUZZ[@]}" coverage -s none "$target" "${dirs[@]}" > "target/fuzz-coverage-$target.log" 2>&1 \
            || { tail -20 "target/fuzz-coverage-$target.log" >&2; exit 1; }
        binary=target/$host/coverage/$host/release/$target
        profile=fuzz/coverage/$target/coverage.profdata
        "$llvm/llvm-cov" report "$binary" -instr-profile="$profile" \
            --ignore-filename-regex='(\.cargo/registry|/rustc/|fuzz_targets)' \
            > "fuzz/coverage/$target/report.txt"
        echo "$target: lines reached per file (lines, missed, cover)"
        # llvm-cov's columns: file, then regions, functions, lines and
        # branches, three each (count, missed, cover).
        awk 'NF == 13 && $1 != "Filename" { printf "  %-48s %6s %6s %8s\n", $1, $8, $9, $10 }' \
            "fuzz/coverage/$target/report.txt"
        echo "  (llvm-cov show $binary -instr-profile=$profile)"
    done
    exit 0
fi
# The fuzz targets are linted as they are built: clippy's driver wraps the
# fuzz crate's own compiles (what `cargo clippy` sets up, `-D warnings`
# handed over in CLIPPY_ARGS as cargo-clippy does), lints them and then
# compiles them as rustc does, so no separate `cargo clippy` checks the
# engine's dependencies once more (about a minute).
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
[ -x "$clippy_driver" ] || clippy_driver=$(command -v clippy-driver) \
    || { echo "clippy-driver not found: scripts/setup.sh --tests installs clippy" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
echo "==> building the fuzz targets with clippy's lints (coverage-instrumented; minutes, once)" >&2
"${FUZZ[@]}" build -s none

# onnx_load's seeds: every committed model under 200 kB.
onnx_seeds=target/fuzz-seeds/onnx_load
rm -rf "$onnx_seeds" && mkdir -p "$onnx_seeds"
find models tests/fixtures -name '*.onnx' -size -200k -exec cp {} "$onnx_seeds/" \;

failed=()
for target in "${targets[@]}"; do
    corpus=target/fuzz-corpus/$target
    mkdir -p "$corpus"
    seeds=(fuzz/corpus/"$target")
    [ "$target" = onnx_load ] && seeds=("$onnx_seeds")
    [ -d "${seeds[0]}" ] || seeds=()
    # Every input that once crashed a target is replayed first.
    [ -d fuzz/regressions/"$target" ] && seeds+=(fuzz/regressions/"$target")
    echo "==> fuzzing $target for $seconds s" >&2
    if ! "${FUZZ[@]}" run -s none "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
        2> "target/fuzz-$target.log"; then
        failed+=("$target")
        tail -40 "target/fuzz-$target.log" >&2
    fi
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' \
        "target/fuzz-$target.log" >&2 || true
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "==> fuzzing done: ${targets[*]}, $seconds s each, no crash" >&2
