#!/usr/bin/env bash
# Which models fit Fastly Compute: for each model of models/ named (stems:
# iris squeezenet mobilenet_v2 resnet18 ...), builds it with --target
# fastly, prints the module's size and gzipped size (Fastly takes packages
# up to 100 MB gzipped), serves it under Viceroy, which holds an instance
# to 128 MiB of linear memory as Fastly does, and sends its fixture's
# inputs (tests/fixtures/STEM.json) to /predict: "fits" if it answers 200,
# else Viceroy's reason (a memory trap when the model needs more).
#
# Needs scripts/setup.sh --tests (Viceroy in .tools/bin) and the release
# binary (cargo build --release, or WASMODEL_BIN). Usage:
#   scripts/fastly-fit.sh iris squeezenet mobilenet_v2 resnet18
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { sed -n '2,/^set/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
wasmodel=${WASMODEL_BIN:-target/release/wasmodel}
viceroy=.tools/bin/viceroy
[ -x "$wasmodel" ] || { echo "no $wasmodel: cargo build --release" >&2; exit 1; }
[ -x "$viceroy" ] || viceroy=$(command -v viceroy) \
    || { echo "no viceroy: scripts/setup.sh --tests builds it" >&2; exit 1; }
work=$(mktemp -d)
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))

printf '%-14s %10s %10s  %s\n' model module gzipped "under Viceroy (128 MiB)"
for stem in "$@"; do
    module="$work/$stem-fastly.wasm"
    "$wasmodel" build "models/$stem.onnx" --target fastly -o "$module" >/dev/null 2>"$work/build.log" \
        || { echo "$stem: build failed:" >&2; cat "$work/build.log" >&2; exit 1; }
    size=$(stat -c %s "$module")
    gzipped=$(gzip -c "$module" | wc -c)
    "$viceroy" serve --addr "127.0.0.1:$port" "$module" >"$work/viceroy.log" 2>&1 &
    pid=$!
    # Viceroy compiles the module before it listens (tens of seconds).
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    python3 -c 'import json, sys; print(json.dumps({"inputs": json.load(open(sys.argv[1]))["inputs"]}))' \
        "tests/fixtures/$stem.json" >"$work/request.json"
    status=$(curl -s -m 300 -o "$work/answer" -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary "@$work/request.json" "http://127.0.0.1:$port/predict" || true)
    if [ "$status" = 200 ]; then
        verdict=fits
    else
        verdict="HTTP $status: $(grep -m1 -oiE 'memory [^"]{0,80}|trap[^"]{0,80}' "$work/viceroy.log" || head -c 200 "$work/answer" || true)"
    fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    pid=""
    awk -v m="$stem" -v s="$size" -v g="$gzipped" -v v="$verdict" \
        'BEGIN { printf "%-14s %7.1f MB %7.1f MB  %s\n", m, s / 1e6, g / 1e6, v }'
done
