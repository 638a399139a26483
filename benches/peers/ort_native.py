#!/usr/bin/env python3
"""Peer for the wasmodel benchmark: native onnxruntime on one thread.

    .venv/bin/python benches/peers/ort_native.py MODEL.onnx INPUTS.json --runs N --warmup W

onnxruntime is the one models/requirements.txt pins into .venv (scripts/setup.sh),
on the CPUExecutionProvider with intra_op_num_threads=1, inter_op_num_threads=1,
sequential execution and graph optimizations at ORT_ENABLE_ALL.

INPUTS.json is an Open Inference Protocol v2 request body:
    {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [...]}]}
with flat, row-major data and the datatypes FP32, FP64, INT8, INT16, INT32, INT64,
UINT8, UINT16, UINT32, UINT64, BOOL (true/false or 0/1).

The script reads the model into memory, then times, each on its own with
time.perf_counter_ns (monotonic):
  load_ms   the session creation, from the model's bytes in memory to a ready session;
  first_ms  the first session.run;
then does W untimed warm-up runs and N timed runs with the same inputs, and prints
exactly one JSON line on stdout:
    {"runtime": "onnxruntime 1.31.1 (native, 1 thread)", "import_ms": ..,
     "load_ms": .., "first_ms": .., "times_ms": [N floats],
     "outputs": [{"name": .., "datatype": "FP32", "shape": [..], "data": [flat]}]}
import_ms is the time `import onnxruntime` took (numpy included), outside load_ms.
The outputs are those of the last run, every tensor output in the model's order;
non-tensor outputs (sequences, maps: skl2onnx's ZipMap) are left out. BOOL data
come out as true/false, non-finite floats as null.

Errors: one line on stderr, exit code 1. Anything the native library would print on
stdout goes to stderr instead, so stdout holds the JSON line only.
"""

import time

_t_import = time.perf_counter_ns()
import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from oip_datatypes import DATATYPES, NUMPY_TO_DATATYPE  # noqa: E402

IMPORT_NS = time.perf_counter_ns() - _t_import


class PeerError(Exception):
    """An error to report as one line on stderr."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise PeerError(f"{message} (usage: {self.format_usage().strip()[7:]})")


def ms(ns):
    return ns / 1e6


def one_line(text):
    return " ".join(str(text).split())


def explain(error):
    """onnxruntime's message on one line, led by the operator it lacks, if that is the trouble."""
    message = one_line(error)
    missing = re.search(r"implementation for (\S+?)\((\d+)\) node with name '([^']*)'", message)
    if missing:
        op, opset, node = missing.groups()
        return f"unsupported operator {op} (opset {opset}, node '{node}'): {message}"
    unknown = re.search(r"(\S+?)\((-?\d+)\) is not a registered function/op", message)
    if unknown:
        return f"unsupported operator {unknown.group(1)}: {message}"
    return message


def read_inputs(path, session):
    try:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
    except (OSError, ValueError) as e:
        raise PeerError(f"cannot read {path}: {one_line(e)}") from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise PeerError(f'{path}: expected {{"inputs": [...]}}')
    expected = {i.name: i for i in session.get_inputs()}
    feeds = {}
    for tensor in body["inputs"]:
        try:
            name, datatype = tensor["name"], tensor["datatype"]
            shape, data = [int(d) for d in tensor["shape"]], tensor["data"]
        except (KeyError, TypeError, ValueError):
            raise PeerError(f"{path}: every input needs name, datatype, shape and data") from None
        if name not in expected:
            raise PeerError(f"{path}: the model has no input {name!r} (it has {sorted(expected)})")
        if datatype not in DATATYPES:
            raise PeerError(f"{path}: input {name!r}: unsupported datatype {datatype!r}")
        dtype, onnx_type = DATATYPES[datatype]
        if expected[name].type != onnx_type:
            raise PeerError(
                f"{path}: input {name!r} is {datatype} but the model wants {expected[name].type}"
            )
        if not isinstance(data, list) or math.prod(shape) != len(data):
            raise PeerError(f"{path}: input {name!r}: shape {shape} does not match {len(data)} data")
        try:
            feeds[name] = np.array(data, dtype=dtype).reshape(shape)
        except (TypeError, ValueError, OverflowError) as e:
            raise PeerError(f"{path}: input {name!r}: {one_line(e)}") from None
    missing = sorted(set(expected) - set(feeds))
    if missing:
        raise PeerError(f"{path}: missing model input(s) {missing}")
    return feeds


def jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def tensor_json(name, array):
    datatype = NUMPY_TO_DATATYPE.get(array.dtype, array.dtype.name.upper())
    data = array.ravel().tolist()
    if array.dtype.kind == "f":
        data = [jsonable(v) for v in data]
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def main(argv):
    parser = Parser(prog="ort_native.py", description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("inputs")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    if args.runs < 0 or args.warmup < 0:
        raise PeerError("--runs and --warmup must be >= 0")

    try:
        with open(args.model, "rb") as f:
            model_bytes = f.read()
    except OSError as e:
        raise PeerError(f"cannot read {args.model}: {one_line(e)}") from None

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 4  # fatal only: errors come back as exceptions

    try:
        t = time.perf_counter_ns()
        session = ort.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        load_ns = time.perf_counter_ns() - t
    except Exception as e:  # onnxruntime raises its own exception types
        raise PeerError(f"onnxruntime cannot load {args.model}: {explain(e)}") from None

    feeds = read_inputs(args.inputs, session)
    outputs_meta = session.get_outputs()

    try:
        t = time.perf_counter_ns()
        results = session.run(None, feeds)
        first_ns = time.perf_counter_ns() - t
        for _ in range(args.warmup):
            results = session.run(None, feeds)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter_ns()
            results = session.run(None, feeds)
            times.append(time.perf_counter_ns() - t)
    except Exception as e:
        raise PeerError(f"onnxruntime cannot run {args.model}: {explain(e)}") from None

    outputs = [
        tensor_json(meta.name, value)
        for meta, value in zip(outputs_meta, results)
        if meta.type.startswith("tensor(") and isinstance(value, np.ndarray)
    ]
    return {
        "runtime": f"onnxruntime {ort.__version__} (native, 1 thread)",
        "import_ms": ms(IMPORT_NS),
        "load_ms": ms(load_ns),
        "first_ms": ms(first_ns),
        "times_ms": [ms(ns) for ns in times],
        "outputs": outputs,
    }


if __name__ == "__main__":
    # Keep stdout for the one JSON line: whatever else writes to file descriptor 1
    # (native code included) goes to stderr while the model loads and runs.
    sys.stdout.flush()
    stdout = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        result = main(sys.argv[1:])
    except PeerError as e:
        print(f"ort_native: error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # anything unforeseen: still one line, still exit 1
        print(f"ort_native: error: {type(e).__name__}: {one_line(e)}", file=sys.stderr)
        sys.exit(1)
    stdout.write(json.dumps(result, separators=(",", ":"), allow_nan=False) + "\n")
    stdout.flush()
