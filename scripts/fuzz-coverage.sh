#!/usr/bin/env bash
# Line coverage of what the fuzzers have learned: replays each target's
# corpus (target/fuzz-corpus/TARGET, grown by scripts/fuzz.sh and longer
# runs) in a build instrumented for source coverage, and prints, per source
# file of the project's crates, the lines reached and missed.
#
#   scripts/fuzz-coverage.sh [TARGET...]      default: every target
#
# The full report is in fuzz/coverage/TARGET/report.txt; browse the lines
# with `llvm-cov show` on the same binary and profile (printed at the end).
# Needs rustup's llvm-tools component (added here when rustup is present;
# Debian's rustc-web has no llvm-cov), and scripts/setup.sh --fuzz.
# Minutes per target on 2 cores: one instrumented build, then the replay.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=()
for arg in "$@"; do
    case "$arg" in
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) printf 'usage: scripts/fuzz-coverage.sh [TARGET...]\n' >&2; exit 2 ;;
        *) targets+=("$arg") ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(oip_request tensor_files engine_inputs onnx_load)

scripts/setup.sh --fuzz
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
llvm=$sysroot/lib/rustlib/$host/bin
if [ ! -x "$llvm/llvm-cov" ]; then
    command -v rustup >/dev/null \
        || { echo "llvm-cov is missing and rustup is not here to add llvm-tools" >&2; exit 1; }
    echo "==> rustup component add llvm-tools" >&2
    rustup component add llvm-tools
fi

export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    corpus=target/fuzz-corpus/$target
    [ -d "$corpus" ] || { echo "no corpus for $target: run scripts/fuzz.sh $target first" >&2; exit 1; }
    echo "==> $target: replaying $(find "$corpus" -type f | wc -l) inputs, instrumented" >&2
    .tools/bin/cargo-fuzz coverage -s none "$target" "$corpus" > "target/fuzz-coverage-$target.log" 2>&1 \
        || { tail -20 "target/fuzz-coverage-$target.log" >&2; exit 1; }
    binary=target/$host/coverage/$host/release/$target
    profile=fuzz/coverage/$target/coverage.profdata
    "$llvm/llvm-cov" report "$binary" -instr-profile="$profile" \
        --ignore-filename-regex='(\.cargo/registry|/rustc/|fuzz_targets)' > "fuzz/coverage/$target/report.txt"
    echo "$target: lines reached per file (lines, missed, cover)"
    # Columns of llvm-cov's report: file, regions (3), functions (3), lines (3), branches (3).
    awk 'NF == 13 && $1 != "Filename" { printf "  %-48s %6s %6s %8s\n", $1, $8, $9, $10 }' \
        "fuzz/coverage/$target/report.txt"
    echo "  (llvm-cov show $binary -instr-profile=$profile)"
done
