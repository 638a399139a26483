#!/usr/bin/env python3
"""The shapes a convolutional network gives wasmodel's own wasm kernels
(crates/kernels: the f32 matrix tile and the max-pool), one branch each,
in two models that tests/kernels.rs runs as components, where those
kernels run (natively tract's own do):

- tiles_batch_one.onnx: the batch fixed at 1 in the file, as torchvision
  exports write it (the width of every matrix product known when kernels
  are chosen);
- tiles_batch_dynamic.onnx: the same graph with a dynamic batch, fed 3
  items (the engine's plan for any batch).

The branches cover what one tile of 4 rows x 12 columns must get right:
rows, columns and depth that are not multiples of the tile (tails), a
depth of 1 (k), a product of one column (left to tract's matrix x vector
kernel), and the operations tract fuses into a tile: bias (per row),
ReLU, Clip (ReLU6), LeakyRelu, a residual Add (a tile added in place), a
folded BatchNormalization; with strides, dilation, padding, groups and
depthwise convolutions, and max-pools of 3x3 / 2x2 windows, padded and
with ceil_mode. Weights are seeded, scaled by 1/sqrt(fan-in) so outputs
stay near 1 and onnxruntime's tolerance means the same on every branch.

    .venv/bin/python models/kernel_cases.py       # write the models and their inputs

writes tests/fixtures/kernels/<model>.onnx and <model>.json with the
inputs, to which models/reference.py adds what onnxruntime answers (and
which `models/reference.py --check` recomputes). Needs only
models/requirements.txt.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fixtures" / "kernels"
CHANNELS, SIDE, FEATURES = 8, 9, 37


class Graph:
    """Nodes, seeded weights and named outputs, added branch by branch."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.initializers, self.outputs = [], [], []

    def weight(self, name, shape, fan_in=None):
        fan_in = fan_in or int(np.prod(shape[1:]))
        value = self.rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=shape).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def constant(self, name, value):
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op, inputs, name, **attributes):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def output(self, name, shape):
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))

    def conv(self, name, x, out_channels, in_channels, kernel, bias=True, group=1, **attributes):
        w = self.weight(f"{name}.w", [out_channels, in_channels // group, kernel, kernel])
        inputs = [x, w] + ([self.weight(f"{name}.b", [out_channels], fan_in=1)] if bias else [])
        return self.node("Conv", inputs, name, kernel_shape=[kernel, kernel], group=group, **attributes)


def branches(g, batch):
    """Every shape class, from the image `x` [batch, 8, 9, 9] and the row
    `v` [batch, 37]. In tract's convolution, a tile's rows are output
    channels (m), its columns output pixels (n), its depth input channels
    x kernel area (k)."""
    c, s = CHANNELS, SIDE

    def out(name, channels, side):
        g.output(name, [batch, channels, side, side])

    # m 5, k 72, n 81: a tail on every side of a 4 x 12 tile, with a bias.
    g.conv("conv_tails", "x", 5, c, 3, pads=[1, 1, 1, 1])
    out("conv_tails", 5, s)
    # m 13, k 8, n 81, no bias, ReLU fused.
    g.node("Relu", [g.conv("conv_1x1", "x", 13, c, 1, bias=False)], "conv_relu")
    out("conv_relu", 13, s)
    # m 16, k 72, n 25 (stride 2), ReLU6 as Clip(0, 6).
    conv = g.conv("conv_stride2", "x", 16, c, 3, strides=[2, 2], pads=[1, 1, 1, 1])
    clip = g.node("Clip", [conv, g.constant("zero", np.float32(0)), g.constant("six", np.float32(6))],
                  "conv_clip")
    out("conv_clip", 16, 5)
    # m 20, k 144, n 25: a convolution of a convolution's output.
    g.conv("conv_deeper", clip, 20, 16, 3, pads=[1, 1, 1, 1])
    out("conv_deeper", 20, 5)
    # A residual block's tail: conv + x, then ReLU (a tile added in place).
    added = g.node("Add", [g.conv("conv_residual", "x", c, c, 3, pads=[1, 1, 1, 1]), "x"], "added")
    residual = g.node("Relu", [added], "residual")
    out("residual", c, s)
    # k 1: one input channel.
    first = g.node("Slice", ["x", g.constant("from", np.array([0], np.int64)),
                             g.constant("to", np.array([1], np.int64)),
                             g.constant("axis", np.array([1], np.int64))], "first_channel")
    g.conv("conv_depth1", first, 12, 1, 1)
    out("conv_depth1", 12, s)
    # n 1: the kernel covers the whole image (a matrix x vector product).
    g.conv("conv_one_pixel", "x", 3, c, s)
    out("conv_one_pixel", 3, 1)
    # m 4 (one tile's rows exactly), n 9 (less than one tile's columns),
    # stride 3, LeakyRelu fused.
    g.node("LeakyRelu", [g.conv("conv_stride3", "x", 4, c, 1, strides=[3, 3])], "conv_leaky", alpha=0.1)
    out("conv_leaky", 4, 3)
    # Dilation 2, then a BatchNormalization that tract folds into the
    # product.
    conv = g.conv("conv_dilated", "x", 7, c, 3, dilations=[2, 2], pads=[2, 2, 2, 2])
    bn = [g.constant(f"bn.{p}", v.astype(np.float32)) for p, v in [
        ("scale", g.rng.uniform(0.5, 1.5, 7)), ("bias", g.rng.normal(0, 0.1, 7)),
        ("mean", g.rng.normal(0, 0.1, 7)), ("var", g.rng.uniform(0.5, 1.5, 7))]]
    g.node("BatchNormalization", [conv] + bn, "conv_bn")
    out("conv_bn", 7, s)
    # Grouped (2 groups) and depthwise convolutions.
    g.conv("conv_grouped", "x", 6, c, 3, group=2, pads=[1, 1, 1, 1])
    out("conv_grouped", 6, s)
    g.conv("conv_depthwise", "x", c, c, 3, group=c, pads=[1, 1, 1, 1])
    out("conv_depthwise", c, s)
    # k 576 (64 channels x 3 x 3), m 6.
    wide = g.node("Relu", [g.conv("conv_widen", "x", 64, c, 1)], "widened")
    g.conv("conv_k576", wide, 6, 64, 3, pads=[1, 1, 1, 1])
    out("conv_k576", 6, s)
    # Max-pools: 3x3 stride 2; 2x2 stride 2 padded at the end; 2x2 stride 2
    # with ceil_mode (SqueezeNet's).
    g.node("MaxPool", ["x"], "maxpool_3x3", kernel_shape=[3, 3], strides=[2, 2])
    out("maxpool_3x3", c, 4)
    g.node("MaxPool", ["x"], "maxpool_padded", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])
    out("maxpool_padded", c, 5)
    g.node("MaxPool", [residual], "maxpool_ceil", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    out("maxpool_ceil", c, 5)
    # A classifier head: average pool, flatten, Gemm, Softmax.
    pooled = g.node("Flatten", [g.node("GlobalAveragePool", [residual], "pooled")], "flat")
    logits = g.node("Gemm", [pooled, g.weight("head.w", [c, 10], fan_in=c),
                             g.weight("head.b", [10], fan_in=1)], "logits")
    g.node("Softmax", [logits], "head", axis=1)
    g.output("head", [batch, 10])
    # Row-vector products: Gemm with bias and ReLU; MatMul of 3 columns;
    # Gemm with B transposed and alpha, beta.
    gemm = g.node("Gemm", ["v", g.weight("gemm.w", [FEATURES, 23], fan_in=FEATURES),
                           g.weight("gemm.b", [23], fan_in=1)], "gemm")
    g.node("Relu", [gemm], "gemm_relu")
    g.output("gemm_relu", [batch, 23])
    g.node("MatMul", ["v", g.weight("matmul.w", [FEATURES, 3], fan_in=FEATURES)], "matmul_narrow")
    g.output("matmul_narrow", [batch, 3])
    g.node("Gemm", ["v", g.weight("gemm_t.w", [29, FEATURES], fan_in=FEATURES),
                    g.weight("gemm_t.b", [29], fan_in=1)], "gemm_transposed",
           transB=1, alpha=0.5, beta=2.0)
    g.output("gemm_transposed", [batch, 29])


def write(stem, batch, items, seed):
    """One model of every branch, and `items` made-up inputs for it."""
    g = Graph(seed=0)  # the same weights in both models
    branches(g, batch)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, CHANNELS, SIDE, SIDE]),
              helper.make_tensor_value_info("v", TensorProto.FLOAT, [batch, FEATURES])]
    graph = helper.make_graph(g.nodes, stem, inputs, g.outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="models/kernel_cases.py", ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, CASES / f"{stem}.onnx")

    rng = np.random.default_rng(seed)
    # Eighths in [-1, 1]: exact in f32, and short in the fixture.
    tensors = {"x": rng.integers(-8, 9, (items, CHANNELS, SIDE, SIDE)) / 8,
               "v": rng.integers(-8, 9, (items, FEATURES)) / 8}
    fixture = {"model": f"tests/fixtures/kernels/{stem}.onnx",
               "inputs": {name: {"dtype": "f32", "shape": list(t.shape),
                                 "data": t.astype(np.float32).ravel().tolist()}
                          for name, t in tensors.items()},
               "outputs": {}}
    (CASES / f"{stem}.json").write_text(json.dumps(fixture) + "\n")
    print(f"wrote tests/fixtures/kernels/{stem}.onnx and its inputs")


def main():
    CASES.mkdir(parents=True, exist_ok=True)
    write("tiles_batch_one", 1, 1, seed=1)
    write("tiles_batch_dynamic", "batch", 3, seed=2)
    # onnxruntime's answers.
    stems = ["tiles_batch_one", "tiles_batch_dynamic"]
    subprocess.run([sys.executable, str(ROOT / "models" / "reference.py"), *stems], check=True)


if __name__ == "__main__":
    main()
