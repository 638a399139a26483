"""Drives a running `wasmodel serve` with the KServe Python client
(kserve.InferenceRESTClient, protocol v2), unmodified and with its default
options (inputs as binary tensors), then with every output asked for in
binary, and prints what it got as JSON for tests/serve.rs to compare with
onnxruntime's outputs:

    kserve_client.py --url http://127.0.0.1:PORT --model iris --inputs tests/fixtures/iris.json

Prints {"default": {name: {"dtype", "shape", "data"}}, "binary_outputs": {...}};
exits non-zero, saying why, if the client fails.
"""

import argparse
import asyncio
import json
import math
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

DATATYPES = {"f32": ("FP32", np.float32), "f64": ("FP64", np.float64), "i32": ("INT32", np.int32),
             "i64": ("INT64", np.int64), "u8": ("UINT8", np.uint8), "bool": ("BOOL", np.bool_),
             "string": ("BYTES", object)}
DTYPES = {"FP32": "f32", "FP64": "f64", "INT32": "i32", "INT64": "i64", "UINT8": "u8",
          "BOOL": "bool", "BYTES": "string"}


def array(tensor):
    datatype, dtype = DATATYPES[tensor["dtype"]]
    specials = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    data = tensor["data"]
    if dtype is not object:
        data = [specials.get(x, x) if isinstance(x, str) else x for x in data]
    return datatype, np.array(data, dtype=dtype).reshape(tensor["shape"])


def encode(output):
    value = output.as_numpy()
    flat = value.reshape(-1).tolist()
    if output.datatype == "BYTES":
        flat = [x.decode() if isinstance(x, bytes) else x for x in flat]
    elif output.datatype in ("FP32", "FP64"):
        flat = ["NaN" if isinstance(x, float) and math.isnan(x) else x for x in flat]
    return {"dtype": DTYPES[output.datatype], "shape": list(value.shape), "data": flat}


async def infer(url, model, fixture, binary_outputs):
    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    inputs = []
    for name, tensor in fixture["inputs"].items():
        datatype, value = array(tensor)
        infer_input = InferInput(name, list(value.shape), datatype)
        infer_input.set_data_from_numpy(value)  # the client's default: binary
        inputs.append(infer_input)
    requested = None
    if binary_outputs:
        requested = [RequestedOutput(name, parameters={"binary_data": True})
                     for name in fixture["outputs"]]
    request = InferRequest(model_name=model, infer_inputs=inputs, request_outputs=requested)
    response = await client.infer(url, request, model_name=model)
    return {output.name: encode(output) for output in response.outputs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://host:port of wasmodel serve")
    parser.add_argument("--model", required=True)
    parser.add_argument("--inputs", required=True, help="a fixture whose inputs to send")
    args = parser.parse_args()
    with open(args.inputs) as f:
        fixture = json.load(f)
    try:
        answers = {
            "default": asyncio.run(infer(args.url, args.model, fixture, False)),
            "binary_outputs": asyncio.run(infer(args.url, args.model, fixture, True)),
        }
    except Exception as e:  # the client's own errors, with the server's message
        print(f"kserve_client.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
