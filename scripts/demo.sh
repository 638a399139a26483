#!/usr/bin/env bash
# The main job on the default model: set up, build wasmodel, compile
# models/iris.onnx into a component, inspect it and predict with it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

scripts/setup.sh
step "cargo build --release"
cargo build --release --bin wasmodel
wasmodel=target/release/wasmodel
mkdir -p target/demo

step "wasmodel build models/iris.onnx -o target/demo/iris.wasm"
"$wasmodel" build models/iris.onnx -o target/demo/iris.wasm
step "wasmodel inspect target/demo/iris.wasm"
"$wasmodel" inspect target/demo/iris.wasm
step "wasmodel predict target/demo/iris.wasm --input features=tests/fixtures/iris_features.json"
"$wasmodel" predict target/demo/iris.wasm --input features=tests/fixtures/iris_features.json --timings
