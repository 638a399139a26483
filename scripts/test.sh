#!/usr/bin/env bash
# The whole test suite: setup, formatting, lints (host and guest), the
# onnxruntime check of the reference outputs, the Rust tests (unit tests
# of every crate and the integration tests in tests/), and the Python
# package's tests (python/tests, against onnxruntime), and the Node and
# browser tests of the jco path (js/test).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

scripts/setup.sh --tests
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (host, engine, both guest flavours)"
cargo clippy --workspace --all-targets --all-features --release -- -D warnings
step "cargo fmt --check and clippy, fuzz targets (scripts/fuzz.sh runs them)"
(cd fuzz && cargo fmt -- --check && cargo clippy --all-targets -- -D warnings)
step "reference outputs still match onnxruntime"
.venv/bin/python models/reference.py --check
step "cargo test"
cargo test --workspace --release
step "python package tests (pytest)"
(cd python && WASMODEL_BIN="$PWD/../target/release/wasmodel" ../.venv/bin/python -m pytest -q)
step "Node and browser tests (jco, headless Chromium)"
(cd js && WASMODEL_BIN="$PWD/../target/release/wasmodel" npm test --silent)
