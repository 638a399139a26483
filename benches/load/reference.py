"""onnxruntime's answers for the load test's requests (benches/load).

    reference.py MODEL.onnx FIXTURE.json COUNT SEED OUT.json

Writes COUNT Open Inference Protocol requests with seeded inputs (a free
batch dimension takes 1, 2 or 3 rows in turn), onnxruntime's outputs for
each, and the model's tolerance from its test fixture.
"""

import json
import sys

import numpy as np
import onnxruntime as ort

DATATYPES = {
    "tensor(float)": ("FP32", np.float32),
    "tensor(double)": ("FP64", np.float64),
    "tensor(int64)": ("INT64", np.int64),
    "tensor(int32)": ("INT32", np.int32),
}


def main(model, fixture, count, seed, out):
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    with open(fixture) as f:
        tolerance = json.load(f)["tolerance"]
    cases = []
    for i in range(count):
        feeds, inputs = {}, []
        for arg in session.get_inputs():
            if arg.type not in DATATYPES:
                sys.exit(f"input `{arg.name}` is {arg.type}: the load test sends numbers only")
            datatype, dtype = DATATYPES[arg.type]
            shape = [d if isinstance(d, int) else 1 + i % 3 for d in arg.shape]
            if np.issubdtype(dtype, np.integer):
                value = rng.integers(0, 10, size=shape).astype(dtype)
            else:
                value = rng.uniform(-1.0, 8.0, size=shape).astype(dtype)
            feeds[arg.name] = value
            inputs.append({
                "name": arg.name,
                "shape": shape,
                "datatype": datatype,
                "data": value.ravel().tolist(),
            })
        names = [o.name for o in session.get_outputs()]
        outputs = session.run(names, feeds)
        cases.append({
            "request": {"id": str(i), "inputs": inputs},
            "outputs": {
                name: {"shape": list(np.shape(v)), "data": np.asarray(v).ravel().tolist()}
                for name, v in zip(names, outputs)
            },
        })
    with open(out, "w") as f:
        json.dump({"tolerance": tolerance, "cases": cases}, f)


if __name__ == "__main__":
    model, fixture, count, seed, out = sys.argv[1:]
    main(model, fixture, int(count), int(seed), out)
