"""Drives a running `wasmodel serve` with NVIDIA's own Open Inference
Protocol client, tritonclient[http], unmodified, and checks its answers
against onnxruntime running the same ONNX file on the same inputs.

    triton_client.py --url 127.0.0.1:PORT --model iris --onnx models/iris.onnx
    triton_client.py ... --inputs tests/fixtures/zoo/columns_onehot_logreg.json

Inputs are random (of the model's declared types), or a fixture's; they are
sent twice: with the client's default options (tensors in binary both ways,
the binary tensor data extension) and in JSON. Text goes in as BYTES; onnxruntime's ZipMap outputs are compared as wasmodel
presents them (the probability tensor), by the same code as `wasmodel check`.
Run by tests/serve.rs; exits non-zero, saying why, on any difference.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import tritonclient.http as httpclient

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src" / "check"))
from onnxruntime_reference import decode, run  # noqa: E402

# The protocol's datatype names for numpy dtypes.
DATATYPES = {
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64",
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.bool_): "BOOL",
    np.dtype(object): "BYTES",
}
NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def inputs_for(session, batch, rng):
    """Random inputs of the model's declared types, `batch` rows."""
    feeds = {}
    for arg in session.get_inputs():
        dtype = NUMPY[arg.type]
        shape = [batch if not isinstance(d, int) else d for d in arg.shape]
        if dtype in (np.float32, np.float64):
            value = rng.normal(size=shape).astype(dtype)
        elif dtype == np.bool_:
            value = rng.integers(0, 2, size=shape).astype(dtype)
        else:
            # Small non-negative integers are valid indices for embeddings.
            value = rng.integers(0, 3, size=shape).astype(dtype)
        feeds[arg.name] = value
    return feeds


def compare(result, response, names, expected, how):
    """Every output of `result` against onnxruntime's."""
    for name in names:
        want = expected[name]
        got = result.as_numpy(name)
        if got is None:
            fail(f"{how}: no output {name} in {response}")
        if want.dtype == object:
            # BYTES come back as bytes.
            got = np.array([g.decode() if isinstance(g, bytes) else g for g in got.reshape(-1)],
                           dtype=object).reshape(got.shape)
        if got.shape != want.shape or got.dtype != want.dtype:
            fail(f"{how}: output {name}: got {got.dtype}{list(got.shape)}, "
                 f"onnxruntime {want.dtype}{list(want.shape)}")
        if np.issubdtype(want.dtype, np.floating):
            if not np.allclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True):
                fail(f"{how}: output {name} differs from onnxruntime:\n{got}\n{want}")
        elif not np.array_equal(got, want):
            fail(f"{how}: output {name} differs from onnxruntime:\n{got}\n{want}")


def fail(message):
    print(f"triton_client.py: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="host:port of wasmodel serve")
    parser.add_argument("--model", required=True, help="the model's name")
    parser.add_argument("--onnx", required=True, help="the ONNX file it was built from")
    parser.add_argument("--batch", type=int, default=7)
    parser.add_argument("--inputs", help="a fixture whose inputs to send instead of random ones")
    args = parser.parse_args()

    client = httpclient.InferenceServerClient(url=args.url)
    if not client.is_server_live() or not client.is_server_ready():
        fail("the server is not live and ready")
    if not client.is_model_ready(args.model):
        fail(f"model {args.model} is not ready")
    server = client.get_server_metadata()
    metadata = client.get_model_metadata(args.model)
    if metadata["name"] != args.model or metadata["platform"] != "onnx_onnxv1":
        fail(f"unexpected model metadata {metadata}")

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(args.onnx, options)
    declared = {i["name"]: i for i in metadata["inputs"]}
    if sorted(declared) != sorted(i.name for i in session.get_inputs()):
        fail(f"inputs {sorted(declared)} differ from the ONNX file's")

    if args.inputs:
        stored = json.loads(Path(args.inputs).read_text())["inputs"]
        feeds = {name: decode(t) for name, t in stored.items()}
    else:
        feeds = inputs_for(session, args.batch, np.random.default_rng(7))
    for name, value in feeds.items():
        datatype = DATATYPES[value.dtype]
        if declared[name]["datatype"] != datatype:
            fail(f"input {name}: metadata says {declared[name]['datatype']}, ONNX {datatype}")
    names = [o.name for o in session.get_outputs()]
    rows = len(next(iter(feeds.values())))
    expected = run(args.onnx, feeds)

    # The client's defaults (tensors in binary, both ways, outputs unnamed),
    # then every output named, in JSON.
    for binary in (None, False):
        inputs = []
        for name, value in feeds.items():
            tensor = httpclient.InferInput(name, list(value.shape), DATATYPES[value.dtype])
            if binary is None:
                tensor.set_data_from_numpy(value)
            else:
                tensor.set_data_from_numpy(value, binary_data=binary)
            inputs.append(tensor)
        outputs = (None if binary is None
                   else [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names])
        result = client.infer(args.model, inputs, outputs=outputs, request_id="triton-1")
        response = result.get_response()
        if response.get("id") != "triton-1":
            fail(f"the request id was not echoed: {response}")
        compare(result, response, names, expected, "default options" if binary is None else "JSON")
    print(f"{server['name']} {server['version']}: {args.model} matches onnxruntime "
          f"on {rows} rows ({', '.join(names)}), with the client's default options and in JSON")


if __name__ == "__main__":
    main()
