#!/usr/bin/env python3
"""Small models of what real networks do with their open dimensions, which
tract cannot plan for every shape at once, for crates/engine/tests/
dynamic.rs (the corpus, models/corpus/, has the real networks):

- if_on_shape.onnx: PyTorch's trace of `x.squeeze(-1) if x.shape[-1] == 1
  else x`, an If on a shape whose branches give different ranks;
- if_on_input.onnx: an If on a scalar input (`rate`), as Silero VAD picks
  its 8 or 16 kHz network: the then branch flattens x and doubles it, the
  else branch triples it, keeping its shape;
- expand_from_shape.onnx: a one-hot written by jax2tf and tf2onnx (magika):
  Expand to a shape computed from the input's own, through int32 casts;
- split_stack.onnx: `torch.stack(list(torch.unbind(x, 1)), -1)` as a list
  would be exported at opset 17: SplitToSequence without keepdims, then
  ConcatFromSequence with new_axis (a transpose of the last two axes);
- sequence_at_input.onnx: SequenceAt of a list at a position given as an
  input (`pos`), which must be frozen to resolve the list at load;
- resize_to_shape.onnx: a feature-pyramid step as PyTorch exports
  `x + F.interpolate(pool(x), size=x.shape[2:])` (InsightFace's SCRFD):
  a 2 x 2 max-pool, then a nearest Resize whose `sizes` are the pooled
  map's batch and channels and the input's height and width;
- conv_frames.onnx: frames of a signal, as a spectrogram front end takes
  them: a Conv with a kernel of 8 and a stride of 4 over `samples`, which
  fewer than 8 samples cannot feed (openwakeword's melspectrogram);
- batch_of_one.onnx: a transformer's head split as an exporter traced it
  with a batch of one: x [batch, seq, 4] transposed to sequence first and
  reshaped to [seq, 1, 2, 2], the 1 a constant and `seq` read from x's
  shape (khmersm), so only a batch of one fits (onnxruntime refuses a
  batch of two with its graph optimizations off; on, its ReshapeFusion
  rewrites `seq` as -1 and answers [6, 1, 2, 2]).
- zipmap_after_if.onnx: a classifier whose probabilities go through an If
  on the batch size (a softmax of 2x for a batch of one, of x otherwise)
  and end in skl2onnx's ZipMap (classes 10, 20, 30): planned per shape,
  its outputs are read from the file, where the ZipMap's is a sequence of
  maps.

    .venv/bin/python models/dynamic_cases.py

writes them to tests/fixtures/dynamic/. Needs only models/requirements.txt;
the tests compute the expected answers themselves (they are a squeeze, a
multiplication, a comparison, a transpose, a pick, a pool, a sum, a
reshape and a softmax).
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "dynamic"


def save(model, name):
    model.producer_name = "wasmodel models/dynamic_cases.py"
    # Not onnx.checker: it wants every output to declare a shape, and the
    # point of these is outputs whose rank depends on the branch taken.
    # onnxruntime runs them (crates/engine/tests/dynamic.rs says what it
    # answers).
    model.ir_version = 8
    OUT.mkdir(parents=True, exist_ok=True)
    onnx.save(model, OUT / name)
    print(f"wrote {OUT / name}")


def const(name, array):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name))


def if_on_shape():
    then_branch = helper.make_graph(
        [const("axes", np.array([-1], np.int64)), helper.make_node("Squeeze", ["x", "axes"], ["squeezed"])],
        "then", [], [helper.make_tensor_value_info("squeezed", TensorProto.FLOAT, None)],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["same"])],
        "else", [], [helper.make_tensor_value_info("same", TensorProto.FLOAT, None)],
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        const("last", np.array(-1, np.int64)),
        helper.make_node("Gather", ["shape", "last"], ["width"], axis=0),
        const("one", np.array(1, np.int64)),
        helper.make_node("Equal", ["width", "one"], ["is_one"]),
        helper.make_node("If", ["is_one"], ["y"], then_branch=then_branch, else_branch=else_branch),
    ]
    graph = helper.make_graph(
        nodes, "if_on_shape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "if_on_shape.onnx")


def if_on_input():
    then_branch = helper.make_graph(
        [const("flat", np.array([-1], np.int64)),
         helper.make_node("Reshape", ["x", "flat"], ["flattened"]),
         const("two", np.array(2.0, np.float32)),
         helper.make_node("Mul", ["flattened", "two"], ["doubled"])],
        "then", [], [helper.make_tensor_value_info("doubled", TensorProto.FLOAT, None)],
    )
    else_branch = helper.make_graph(
        [const("three", np.array(3.0, np.float32)), helper.make_node("Mul", ["x", "three"], ["tripled"])],
        "else", [], [helper.make_tensor_value_info("tripled", TensorProto.FLOAT, None)],
    )
    nodes = [
        const("sixteen_k", np.array(16000, np.int64)),
        helper.make_node("Equal", ["rate", "sixteen_k"], ["is_16k"]),
        helper.make_node("If", ["is_16k"], ["y"], then_branch=then_branch, else_branch=else_branch),
    ]
    graph = helper.make_graph(
        nodes, "if_on_input",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("rate", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "if_on_input.onnx")


def expand_from_shape():
    # codes [batch, 5] (int32) -> one-hot over 4 classes [batch, 5, 4] (float)
    nodes = [
        const("column", np.array([-1, 5, 1], np.int64)),
        helper.make_node("Reshape", ["codes", "column"], ["codes3"]),
        helper.make_node("Shape", ["codes"], ["shape64"]),
        helper.make_node("Cast", ["shape64"], ["shape32"], to=TensorProto.INT32),
        const("zero", np.array([0], np.int64)),
        const("one", np.array([1], np.int64)),
        helper.make_node("Slice", ["shape32", "zero", "one", "zero"], ["batch32"]),
        const("rest", np.array([5, 4], np.int32)),
        helper.make_node("Concat", ["batch32", "rest"], ["target32"], axis=0),
        helper.make_node("Cast", ["target32"], ["target"], to=TensorProto.INT64),
        helper.make_node("Expand", ["codes3", "target"], ["spread"]),
        const("classes", np.arange(4, dtype=np.int32).reshape(1, 1, 4)),
        helper.make_node("Equal", ["spread", "classes"], ["hot"]),
        helper.make_node("Cast", ["hot"], ["one_hot"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes, "expand_from_shape",
        [helper.make_tensor_value_info("codes", TensorProto.INT32, ["batch", 5])],
        [helper.make_tensor_value_info("one_hot", TensorProto.FLOAT, ["batch", 5, 4])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]), "expand_from_shape.onnx")


def split_stack():
    nodes = [
        helper.make_node("SplitToSequence", ["x"], ["columns"], axis=1, keepdims=0),
        helper.make_node("ConcatFromSequence", ["columns"], ["y"], axis=-1, new_axis=1),
    ]
    graph = helper.make_graph(
        nodes, "split_stack",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 3])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "split_stack.onnx")


def sequence_at_input():
    nodes = [
        helper.make_node("SequenceConstruct", ["a", "b"], ["pair"]),
        helper.make_node("SequenceAt", ["pair", "pos"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "sequence_at_input",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("pos", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "sequence_at_input.onnx")


def resize_to_shape():
    nodes = [
        helper.make_node("MaxPool", ["x"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["pooled"], ["pooled_shape"]),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        const("zero", np.array([0], np.int64)),
        const("two", np.array([2], np.int64)),
        const("four", np.array([4], np.int64)),
        helper.make_node("Slice", ["pooled_shape", "zero", "two"], ["batch_channels"]),
        helper.make_node("Slice", ["x_shape", "two", "four"], ["height_width"]),
        helper.make_node("Concat", ["batch_channels", "height_width"], ["sizes"], axis=0),
        helper.make_node("Resize", ["pooled", "", "", "sizes"], ["up"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Add", ["x", "up"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "resize_to_shape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, "height", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, "height", "width"])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "resize_to_shape.onnx")


def conv_frames():
    nodes = [
        const("channel", np.array([1], np.int64)),
        helper.make_node("Unsqueeze", ["signal", "channel"], ["signal3"]),
        const("window", np.ones((1, 1, 8), np.float32)),
        helper.make_node("Conv", ["signal3", "window"], ["frames"], kernel_shape=[8], strides=[4]),
    ]
    graph = helper.make_graph(
        nodes, "conv_frames",
        [helper.make_tensor_value_info("signal", TensorProto.FLOAT, [1, "samples"])],
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1, 1, "count"])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "conv_frames.onnx")


def batch_of_one():
    nodes = [
        helper.make_node("Shape", ["x"], ["x_shape"]),
        const("one", np.array([1], np.int64)),
        const("two", np.array([2], np.int64)),
        const("heads", np.array([2, 2], np.int64)),
        helper.make_node("Slice", ["x_shape", "one", "two"], ["seq"]),
        helper.make_node("Concat", ["seq", "one", "heads"], ["split"], axis=0),
        helper.make_node("Transpose", ["x"], ["seq_first"], perm=[1, 0, 2]),
        helper.make_node("Reshape", ["seq_first", "split"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "batch_of_one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["seq", 1, 2, 2])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "batch_of_one.onnx")


def zipmap_after_if():
    def softmax_of(scale, name):
        return helper.make_graph(
            [const("scale", np.array(scale, np.float32)),
             helper.make_node("Mul", ["x", "scale"], ["scaled"]),
             helper.make_node("Softmax", ["scaled"], [name], axis=1)],
            name, [], [helper.make_tensor_value_info(name, TensorProto.FLOAT, None)],
        )
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        const("first", np.array(0, np.int64)),
        helper.make_node("Gather", ["shape", "first"], ["batch_size"], axis=0),
        const("one", np.array(1, np.int64)),
        helper.make_node("Equal", ["batch_size", "one"], ["alone"]),
        helper.make_node("If", ["alone"], ["probs"],
                         then_branch=softmax_of(2.0, "sharper"), else_branch=softmax_of(1.0, "plain")),
        helper.make_node("ZipMap", ["probs"], ["probabilities"], domain="ai.onnx.ml",
                         classlabels_int64s=[10, 20, 30]),
    ]
    graph = helper.make_graph(
        nodes, "zipmap_after_if",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_value_info("probabilities", helper.make_sequence_type_proto(
            helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])))),
        ],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]),
         "zipmap_after_if.onnx")


if __name__ == "__main__":
    if_on_shape()
    if_on_input()
    expand_from_shape()
    split_stack()
    sequence_at_input()
    resize_to_shape()
    conv_frames()
    batch_of_one()
    zipmap_after_if()
