#!/usr/bin/env bash
# The main job on the default model: set up, build wasmodel, compile
# models/iris.onnx into a component, inspect it and predict with it; then
# build its HTTP component and serve it, asking it over the Open Inference
# Protocol with curl.
#
# WASMODEL_BIN=PATH runs the demo with that wasmodel binary instead of
# building one (CI passes the one the tests just built, which saves
# compiling the host a second time with other features).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

scripts/setup.sh
if [ -n "${WASMODEL_BIN:-}" ]; then
    wasmodel=$WASMODEL_BIN
    step "using $wasmodel (WASMODEL_BIN) instead of building one"
    [ -x "$wasmodel" ] || { echo "WASMODEL_BIN=$wasmodel is not an executable" >&2; exit 1; }
else
    step "cargo build --release"
    cargo build --release --bin wasmodel
    wasmodel=target/release/wasmodel
fi
mkdir -p target/demo

step "wasmodel build models/iris.onnx -o target/demo/iris.wasm"
"$wasmodel" build models/iris.onnx -o target/demo/iris.wasm
step "wasmodel inspect target/demo/iris.wasm"
"$wasmodel" inspect target/demo/iris.wasm
step "wasmodel predict target/demo/iris.wasm --input features=tests/fixtures/iris_features.json"
"$wasmodel" predict target/demo/iris.wasm --input features=tests/fixtures/iris_features.json --timings

step "wasmodel build models/iris.onnx --http -o target/iris-http.wasm   (the component spin.toml serves)"
"$wasmodel" build models/iris.onnx --http -o target/iris-http.wasm

step "wasmodel serve target/iris-http.wasm --addr 127.0.0.1:0"
"$wasmodel" serve target/iris-http.wasm --addr 127.0.0.1:0 > target/demo/serve.out &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
    grep -q '^Listening on ' target/demo/serve.out 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "wasmodel serve exited" >&2; exit 1; }
    sleep 0.1
done
url=$(sed -n 's/^Listening on //p' target/demo/serve.out)
[ -n "$url" ] || { echo "wasmodel serve did not start" >&2; exit 1; }

step "curl $url/v2/models/iris"
curl -fsS "$url/v2/models/iris"; echo
step "curl $url/v2/models/iris/infer  (Open Inference Protocol v2)"
curl -fsS "$url/v2/models/iris/infer" -H 'content-type: application/json' \
    -d '{"id":"demo","inputs":[{"name":"features","shape":[2,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2,6.7,3.0,5.2,2.3]}]}'
echo
kill -INT "$server"
wait "$server"
trap - EXIT
