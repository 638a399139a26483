"""onnxruntime's outputs for a model, as `wasmodel check` compares them.

    python onnxruntime_reference.py MODEL.onnx < inputs.json > outputs.json

Tensors in and out are wasmodel's JSON, {"name": {"dtype", "shape", "data"}}
(dtype f32, f64, i32, i64, u8, bool or string; data flat, row-major;
non-finite floats as "NaN", "Infinity", "-Infinity"). A ZipMap output (a
sequence of maps from class label to probability) is given as wasmodel
presents it: the probability tensor [rows, classes], columns in the order
of the ZipMap's labels, with "class_labels". The first line of standard
error names the onnxruntime version. Exit status 3: onnxruntime, onnx or
numpy is missing.

Embedded in the wasmodel binary (src/check/reference.rs) and imported by
models/reference.py, which writes the test fixtures the same way.
"""

import json
import math
import os
import sys

DTYPES = {"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64",
          "u8": "uint8", "bool": "bool_", "string": "object"}


def zipmap_labels(path):
    """The class labels of every graph output that a ZipMap node makes."""
    import onnx

    model = onnx.load(path)
    outputs = {o.name for o in model.graph.output}
    labels = {}
    for node in model.graph.node:
        if node.op_type == "ZipMap" and node.output[0] in outputs:
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            found = attributes.get("classlabels_int64s") or attributes.get("classlabels_strings")
            labels[node.output[0]] = [x.decode() if isinstance(x, bytes) else int(x) for x in found]
    return labels


def run(path, inputs):
    """onnxruntime's outputs, by name, ZipMap outputs as probability arrays."""
    import numpy as np
    import onnxruntime

    # onnxruntime's StringNormalizer (scikit-learn's text pipelines) needs
    # the en_US.UTF-8 locale; a venv may carry it in its own `locale`
    # directory (wasmodel's scripts/setup.sh --tests puts it there).
    venv_locales = os.path.join(sys.prefix, "locale")
    if "LOCPATH" not in os.environ and os.path.isdir(venv_locales):
        os.environ["LOCPATH"] = venv_locales
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = dict(zip(names, session.run(names, inputs)))
    for name, labels in zipmap_labels(path).items():
        rows = results[name]
        results[name] = np.array([[row[label] for label in labels] for row in rows],
                                 dtype=np.float32).reshape(len(rows), len(labels))
    return results


def decode(tensor):
    import numpy as np

    if tensor["dtype"] == "string":
        return np.array(tensor["data"], dtype=object).reshape(tensor["shape"])
    specials = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    data = [specials.get(x, x) if isinstance(x, str) else x for x in tensor["data"]]
    return np.array(data, dtype=getattr(np, DTYPES[tensor["dtype"]])).reshape(tensor["shape"])


def encode(array):
    names = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64",
             "uint8": "u8", "bool": "bool", "object": "string"}

    def element(x):
        if isinstance(x, float) and not math.isfinite(x):
            return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
        return x

    return {"dtype": names[str(array.dtype)], "shape": list(array.shape),
            "data": [element(x) for x in array.reshape(-1).tolist()]}


def main():
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as e:
        print(f"{sys.executable} cannot import onnxruntime, onnx and numpy: {e}", file=sys.stderr)
        return 3
    print(f"onnxruntime {onnxruntime.__version__}", file=sys.stderr)
    inputs = {name: decode(t) for name, t in json.load(sys.stdin).items()}
    outputs = run(sys.argv[1], inputs)
    labels = zipmap_labels(sys.argv[1])
    encoded = {}
    for name, array in outputs.items():
        encoded[name] = encode(array)
        if name in labels:
            encoded[name]["class_labels"] = labels[name]
    json.dump(encoded, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
