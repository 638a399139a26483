#!/usr/bin/env bash
# The whole test suite: setup, formatting, lints (host and guest), the
# onnxruntime check of the reference outputs, the Rust tests (unit tests
# of every crate and the integration tests in tests/), and the Python
# package's tests (python/tests, against onnxruntime), and the Node and
# browser tests of the jco path (js/test). Each step says how long it took.
#
# The fuzz targets' lints run where they are built, in scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
step_started=$started
step_name=""
# Ends the step under way (saying how long it took) and starts the next.
step() {
    local now
    now=$(date +%s)
    [ -z "$step_name" ] || printf '==> %s took %d s\n' "$step_name" $((now - step_started)) >&2
    step_name="$*"
    step_started=$now
    [ -z "$step_name" ] || printf '\n==> %s\n' "$step_name" >&2
}

step "setup (scripts/setup.sh --tests)"
scripts/setup.sh --tests
step "cargo fmt --check (workspace and fuzz targets)"
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)
step "cargo clippy (host, engine, both guest flavours)"
cargo clippy --workspace --all-targets --all-features --release -- -D warnings
step "reference outputs still match onnxruntime, token ids the tokenizers package"
.venv/bin/python models/reference.py --check
.venv/bin/python models/tokenizer_cases.py --check
.venv/bin/python models/text_encoder_cases.py --check
step "cargo test"
cargo test --workspace --release
step "python package tests (pytest)"
(cd python && WASMODEL_BIN="$PWD/../target/release/wasmodel" ../.venv/bin/python -m pytest -q)
step "Node and browser tests (jco, headless Chromium)"
(cd js && WASMODEL_BIN="$PWD/../target/release/wasmodel" npm test --silent)
step ""
echo "==> the test suite passed in $(($(date +%s) - started)) s" >&2
