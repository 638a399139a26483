#!/usr/bin/env python3
"""Peer for the wasmodel benchmark: the same model component, from Python.

    .venv/bin/python benches/peers/wasmodel_python.py COMPONENT.wasm INPUTS.json \
        --runs N --warmup W [--naive]

By default it times `wasmodel.Model.predict` (the package in python/src,
on the pinned wasmtime-py), NumPy arrays in and out. With --naive, it times
the same call through wasmtime-py's own component API instead (inputs as
Python lists of `Record`/`Variant` values, converted element by element),
which is what the package's bulk conversion replaces.

INPUTS.json is an Open Inference Protocol v2 request body, as for
ort_native.py. Prints one JSON line on stdout, as the other peers do:
    {"runtime": .., "load_ms": .., "first_ms": .., "times_ms": [N floats],
     "outputs": [{"name": .., "datatype": .., "shape": [..], "data": [flat]}]}
Errors: one line on stderr, exit code 1.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "src"))

import numpy as np  # noqa: E402
import wasmodel  # noqa: E402
from oip_datatypes import DATATYPES, NUMPY_TO_DATATYPE  # noqa: E402
from wasmtime.component import Record, Variant  # noqa: E402

_ELEMENTS = {"FP32": "f32", "FP64": "f64", "INT32": "i32", "INT64": "i64", "UINT8": "u8", "BOOL": "bool"}


def read_inputs(path):
    with open(path, encoding="utf-8") as f:
        body = json.load(f)
    return {
        t["name"]: np.array(t["data"], dtype=DATATYPES[t["datatype"]][0]).reshape(t["shape"])
        for t in body["inputs"]
    }


def naive_predict(model, inputs):
    """`predict` through wasmtime-py's component API, as a user without this
    package would write it."""

    def tensor(name, array):
        record = Record()
        record.name = name
        record.shape = list(array.shape)
        record.data = Variant(_ELEMENTS[NUMPY_TO_DATATYPE[array.dtype]], array.ravel().tolist())
        return record

    func, store = model._predict_func, model._store
    result = func(store, [tensor(name, array) for name, array in inputs.items()])
    func.post_return(store)
    if not isinstance(result, list):
        raise RuntimeError(f"predict failed: {result}")
    return {
        t.name: np.array(t.data.payload, dtype=np.float64).reshape(t.shape) for t in result
    }


def jsonable(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def main(argv):
    parser = argparse.ArgumentParser(prog="wasmodel_python.py")
    parser.add_argument("component")
    parser.add_argument("inputs")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--naive", action="store_true")
    args = parser.parse_args(argv)

    t = time.perf_counter_ns()
    model = wasmodel.Model(args.component)
    load_ns = time.perf_counter_ns() - t
    inputs = read_inputs(args.inputs)
    predict = (lambda: naive_predict(model, inputs)) if args.naive else (lambda: model.predict(inputs))

    t = time.perf_counter_ns()
    outputs = predict()
    first_ns = time.perf_counter_ns() - t
    for _ in range(args.warmup):
        predict()
    times = []
    for _ in range(args.runs):
        t = time.perf_counter_ns()
        outputs = predict()
        times.append(time.perf_counter_ns() - t)

    how = "wasmtime-py's component API, element by element" if args.naive else "the wasmodel package"
    return {
        "runtime": f"Python, {how} (wasmtime-py {wasmodel._cache.WASMTIME_VERSION})",
        "load_ms": load_ns / 1e6,
        "first_ms": first_ns / 1e6,
        "times_ms": [ns / 1e6 for ns in times],
        "outputs": [
            {
                "name": name,
                "datatype": NUMPY_TO_DATATYPE.get(array.dtype, "FP64"),
                "shape": list(array.shape),
                "data": [jsonable(v) for v in array.ravel().tolist()],
            }
            for name, array in outputs.items()
        ],
    }


if __name__ == "__main__":
    try:
        result = main(sys.argv[1:])
    except Exception as e:  # one line, exit 1, as the other peers
        print(f"wasmodel_python: error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result, separators=(",", ":"), allow_nan=False))
