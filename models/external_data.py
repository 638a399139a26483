#!/usr/bin/env python3
"""A model whose weights live beside it, as exporters write a model over
2 GB (or when asked to), for tests/build.rs:

- linear.onnx + linear.onnx.data: y = x @ W + b with x f32[batch, 4],
  W = arange(12).reshape(4, 3) / 10 and b = [1, 2, 3], both kept in
  linear.onnx.data (onnx.save_model with save_as_external_data, the
  options onnx's documentation gives).

    .venv/bin/python models/external_data.py

writes them to tests/fixtures/external/. The test computes the expected
answers itself.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "external"


def linear():
    weights = numpy_helper.from_array((np.arange(12, dtype=np.float32) / 10).reshape(4, 3), "W")
    bias = numpy_helper.from_array(np.array([1, 2, 3], dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.producer_name = "wasmodel models/external_data.py"
    onnx.checker.check_model(model)
    OUT.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, OUT / "linear.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location="linear.onnx.data", size_threshold=0)
    print(f"wrote {OUT / 'linear.onnx'} and linear.onnx.data")


if __name__ == "__main__":
    linear()
