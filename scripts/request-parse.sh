#!/usr/bin/env bash
# Times reading a CNN's inference request as JSON, the tree of values the
# server used to build against the streamed reader it uses now, natively and
# as wasm under the wasmtime CLI (BENCHMARKS.md, "Reading a request"):
#   scripts/request-parse.sh [--runs N]
# It builds crates/oip's example `request_parse` natively and for
# wasm32-wasip1 (scripts/wasip1-example.sh; scripts/setup.sh --tests first).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
    -h|--help) sed -n '2,/^set/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
exec scripts/wasip1-example.sh wasmodel-oip request_parse -- "$@"
