#!/usr/bin/env python3
"""The onnx wheel's backend test cases for what real networks do with shapes
and lists that tract cannot do alone, for crates/engine/tests/backend.rs:

- Expand to a shape given as an input (test_expand_shape_model1-4, and the
  node cases test_expand_dim_changed/unchanged);
- the Sequence operators (test_sequence_model1-8): SequenceConstruct,
  SequenceEmpty, SequenceInsert, SequenceErase, SequenceAt,
  SequenceLength, SplitToSequence and ConcatFromSequence.

    .venv/bin/python models/backend_cases.py

writes each case's model, unchanged, to tests/fixtures/backend/NAME.onnx,
and its inputs and expected outputs to NAME.json (`{"inputs": {...},
"outputs": [...]}`, tensors as `{"dtype", "shape", "data"}`). The expected
outputs are the onnx wheel's, and onnxruntime must give the same or the
script stops. Needs only models/requirements.txt.
"""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx.backend.test.case import model as model_cases
from onnx.backend.test.case import node as node_cases

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "backend"
NODE_CASES = {"test_expand_dim_changed", "test_expand_dim_unchanged"}
DTYPES = {"float32": "f32", "float64": "f64", "int64": "i64", "int32": "i32"}


def tensor(array):
    array = np.asarray(array)
    return {
        "dtype": DTYPES[str(array.dtype)],
        "shape": list(array.shape),
        "data": array.reshape(-1).tolist(),
    }


def write(case):
    model = case.model
    inputs, outputs = case.data_sets[0] if case.data_sets else load_data(case)
    names = [i.name for i in model.graph.input]
    feeds = dict(zip(names, inputs))
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    answers = session.run(None, feeds)
    for expected, answer in zip(outputs, answers):
        np.testing.assert_allclose(answer, expected, rtol=1e-6, atol=1e-7)
    OUT.mkdir(parents=True, exist_ok=True)
    onnx.save(model, OUT / f"{case.name}.onnx")
    (OUT / f"{case.name}.json").write_text(
        json.dumps(
            {
                "inputs": {name: tensor(value) for name, value in feeds.items()},
                "outputs": [tensor(value) for value in outputs],
            }
        )
        + "\n"
    )
    print(f"wrote {case.name}")


def load_data(case):
    raise SystemExit(f"{case.name} has no data set")


def main():
    for case in model_cases.collect_testcases():
        if case.name.startswith(("test_expand_shape_model", "test_sequence_model")):
            write(case)
    for case in node_cases.collect_testcases("Expand"):
        if case.name in NODE_CASES:
            write(case)


if __name__ == "__main__":
    main()
