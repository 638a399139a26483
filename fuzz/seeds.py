"""Writes the fuzz targets' seed corpus (fuzz/corpus/TARGET/) from the test
fixtures; run from the repository root with the project's .venv:

    .venv/bin/python fuzz/seeds.py

onnx_load is seeded by scripts/fuzz.sh from the committed models themselves
(the small ones), so they are not copied here.
"""

import json
import os
import struct

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATATYPES = {"f32": "FP32", "f64": "FP64", "i32": "INT32", "i64": "INT64",
             "u8": "UINT8", "bool": "BOOL", "string": "BYTES"}
NUMPY = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8", "u8": "|u1", "bool": "|b1"}


def fixture(path):
    with open(os.path.join(ROOT, "tests/fixtures", path)) as f:
        return json.load(f)


def infer_json(inputs):
    return json.dumps({"id": "seed", "inputs": [
        {"name": n, "shape": t["shape"], "datatype": DATATYPES[t["dtype"]], "data": t["data"]}
        for n, t in inputs.items()]}).encode()


def infer_binary(inputs, outputs):
    """The binary tensor data extension: a JSON header, then raw tensors;
    the outputs asked for as binary too."""
    header, blobs = [], b""
    for n, t in inputs.items():
        if t["dtype"] == "string":
            blob = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in t["data"])
        else:
            blob = np.asarray(t["data"], dtype=NUMPY[t["dtype"]]).tobytes()
        header.append({"name": n, "shape": t["shape"], "datatype": DATATYPES[t["dtype"]],
                       "parameters": {"binary_data_size": len(blob)}})
        blobs += blob
    asked = [{"name": n, "parameters": {"binary_data": True}} for n in outputs]
    head = json.dumps({"inputs": header, "outputs": asked}).encode()
    return struct.pack("<H", len(head)) + head + blobs


def npy(array):
    import io
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def write(target, name, data):
    folder = os.path.join(ROOT, "fuzz/corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    dtypes, dtypes_out = (fixture("dtypes.json")[k] for k in ("inputs", "outputs"))
    columns, columns_out = (fixture("zoo/columns_onehot_logreg.json")[k] for k in ("inputs", "outputs"))
    # oip_request: byte 0 = model (bit 0) | request kind << 1.
    write("oip_request", "dtypes-json", b"\x00" + infer_json(dtypes))
    write("oip_request", "columns-json", b"\x01" + infer_json(columns))
    write("oip_request", "dtypes-binary", b"\x02" + infer_binary(dtypes, dtypes_out))
    write("oip_request", "columns-binary", b"\x03" + infer_binary(columns, columns_out))
    # Requests that succeed (line coverage showed none did before).
    predict = {n: {"dtype": t["dtype"], "shape": t["shape"], "data": t["data"]} for n, t in dtypes.items()}
    write("oip_request", "dtypes-predict", b"\x04" + json.dumps({"inputs": predict}).encode())
    write("oip_request", "columns-get", b"\x07/v2/models/columns/versions/1/ready")
    # tensor_files: byte 0 = 0 for .npy, else JSON read as TYPES[byte % 7].
    with open(os.path.join(ROOT, "tests/fixtures/iris_features.npy"), "rb") as f:
        write("tensor_files", "iris-npy", b"\x00" + f.read())
    with open(os.path.join(ROOT, "tests/fixtures/iris_features.json"), "rb") as f:
        write("tensor_files", "iris-json-f32", b"\x07" + f.read())
    write("tensor_files", "text-npy", b"\x00" + npy(np.array([["north"], ["é"]])))
    write("tensor_files", "bytes-npy", b"\x00" + npy(np.array([b"ab", b"xyz"])))
    write("tensor_files", "bool-npy", b"\x00" + npy(np.array([[True, False]])))
    write("tensor_files", "text-json", b"\x06" + json.dumps([["north", "west"]]).encode())
    # The object form, with and without its own dtype (line coverage showed
    # the fuzzer had never made one).
    write("tensor_files", "object-json", b"\x07" + json.dumps(
        {"dtype": "i64", "shape": [2, 2], "data": [[1, 2], [3, 4]]}).encode())
    write("tensor_files", "object-flat-json", b"\x01" + json.dumps({"shape": [3], "data": [1.5, 2, 3]}).encode())
    # engine_inputs: arbitrary's own encoding; a few byte strings to start.
    for i in range(4):
        write("engine_inputs", f"random-{i}", bytes(np.random.default_rng(i).integers(0, 256, 64, dtype=np.uint8)))


if __name__ == "__main__":
    main()
