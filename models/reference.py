#!/usr/bin/env python3
"""Reference outputs: run each model in models/ with onnxruntime and store
inputs and outputs in tests/fixtures/<model>.json, which the Rust tests hold
the Wasm components to. The zoo's models (models/zoo/) keep the held-out
inputs models/zoo/generate.py stored in tests/fixtures/zoo/<model>.json;
this adds onnxruntime's outputs to them, as it does for the one-operator
cases models/onnx_ml_cases.py writes in tests/fixtures/onnx_ml/, the
shape classes models/kernel_cases.py writes in tests/fixtures/kernels/ and
onnxruntime's own operators models/contrib_cases.py writes in
tests/fixtures/contrib/ and the text operators models/text_cases.py writes
in tests/fixtures/text/.

    .venv/bin/python models/reference.py           # write the fixtures
    .venv/bin/python models/reference.py svc_rbf   # only this model's
    .venv/bin/python models/reference.py --check   # recompute, compare, write nothing;
                                                   # also checks models/README.md's sha256s

Needs only models/requirements.txt (onnxruntime, onnx, numpy), not the
training stack. Inputs are drawn from a seeded generator; --check recomputes
onnxruntime's outputs for the stored inputs and fails if they moved beyond
the stated tolerance, so a change of onnxruntime or of a model file cannot
leave stale references behind.

Fixture format (one JSON object per model):
    {"model": "iris.onnx", "generated_by": "onnxruntime 1.31.1",
     "tolerance": {"rtol": ..., "atol": ...},
     "inputs":  {"<name>": {"dtype": "f32", "shape": [..], "data": [..]}},
     "outputs": {"<name>": {"dtype": ..., "shape": ..., "data": ...}}}
Data is flat, row-major; strings are JSON strings (dtype "string"). A
ZipMap output (a sequence of maps from class label to probability, which
onnxruntime gives as a list of dicts) is stored as what wasmodel presents it
as: the probability tensor [rows, classes], columns in the order of the
ZipMap's labels, which the tensor carries as "class_labels". Non-finite floats are the strings "NaN",
"Infinity" and "-Infinity". A tensor of more than COMPACT elements (the
image of an ImageNet-shaped model) has its data on one line, whole numbers without ".0".
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

ROOT = Path(__file__).resolve().parent.parent
# onnxruntime's outputs, ZipMaps as probability tensors: the same code
# `wasmodel check` runs.
sys.path.insert(0, str(ROOT / "src" / "check"))
from onnxruntime_reference import run, zipmap_labels  # noqa: E402
MODELS = ROOT / "models"
ZOO = MODELS / "zoo"
FIXTURES = ROOT / "tests" / "fixtures"
ONNX_ML = FIXTURES / "onnx_ml"
KERNELS = FIXTURES / "kernels"
CONTRIB = FIXTURES / "contrib"
TEXT = FIXTURES / "text"

# Floats must agree within atol + rtol * |onnxruntime's value|: tract and
# onnxruntime sum in different orders and use different kernels. Integer and
# bool outputs must be equal.
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}
# onnxruntime's dynamically quantized operators quantize their own
# intermediate values (an LSTM's hidden state, at every step): a value
# that differs in its last float bit can land on the neighbouring uint8
# level, so they are held to the corpus's tolerance.
QUANTIZED_TOLERANCE = {"rtol": 1e-3, "atol": 1e-4}

DTYPES = {
    np.dtype(np.float32): "f32",
    np.dtype(np.float64): "f64",
    np.dtype(np.int32): "i32",
    np.dtype(np.int64): "i64",
    np.dtype(np.uint8): "u8",
    np.dtype(np.bool_): "bool",
    np.dtype(object): "string",
}
ONNX_TO_NUMPY = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.UINT8: np.uint8,
    onnx.TensorProto.BOOL: np.bool_,
    onnx.TensorProto.STRING: object,
}
BATCH = 5
# An ImageNet-shaped image is 150528 values: a batch of one, of whole numbers.
IMAGE_MODELS = ("squeezenet", "resnet18", "mobilenet_v2")
BATCHES = {name: 1 for name in IMAGE_MODELS}
# Each model's input seed, fixed so that adding a model draws no other
# model's inputs anew.
INPUT_SEEDS = {"digits_cnn": 0, "dtypes": 1, "iris": 2, "multi_io": 3, "wine_mlp": 4,
               "squeezenet": 5, "resnet18": 6, "mobilenet_v2": 7}
COMPACT = 10_000


def model_inputs(path: Path, rng: np.random.Generator) -> dict:
    """Inputs for every graph input: `batch` rows, values in a range that
    means something for the model."""
    model = onnx.load(path)
    initializers = {i.name for i in model.graph.initializer}
    inputs = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        batch = BATCHES.get(path.stem, BATCH)
        shape = [d.dim_value if d.HasField("dim_value") else batch for d in tensor_type.shape.dim]
        dtype = ONNX_TO_NUMPY[tensor_type.elem_type]
        if path.stem == "multi_io" and value.name == "category":
            data = rng.integers(0, 4, size=shape)
        elif path.stem == "iris":
            # Around the iris measurements (cm), so every class shows up.
            data = rng.normal([5.8, 3.0, 3.8, 1.2], [0.8, 0.4, 1.8, 0.8], size=shape)
        elif path.stem == "wine_mlp":
            from_dataset = np.array([13.0, 2.3, 2.4, 19.5, 100, 2.3, 2.0, 0.36, 1.6, 5.1, 0.96, 2.6, 750])
            data = from_dataset * rng.uniform(0.7, 1.3, size=shape)
        elif path.stem in IMAGE_MODELS:
            # Pixel levels 0..9: whole numbers take two bytes each in the
            # fixture. (With its zero biases SqueezeNet is positively
            # homogeneous, so for it this is a 0..1 image scaled by 9.)
            data = rng.integers(0, 10, size=shape)
        elif dtype == np.uint8:
            data = rng.integers(0, 256, size=shape)
        elif dtype == np.bool_:
            data = rng.integers(0, 2, size=shape)
        elif dtype in (np.int32, np.int64):
            data = rng.integers(-1000, 1000, size=shape)
        else:
            data = rng.uniform(0.0, 1.0, size=shape)
        inputs[value.name] = np.asarray(data).astype(dtype)
    return inputs


def encode(array: np.ndarray) -> dict:
    def element(x):
        if isinstance(x, float) and not math.isfinite(x):
            return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
        return x

    data = [element(x) for x in array.reshape(-1).tolist()]
    if len(data) > COMPACT:
        data = [int(x) if isinstance(x, float) and x.is_integer() else x for x in data]
    return {"dtype": DTYPES[array.dtype], "shape": list(array.shape), "data": data}


def encode_outputs(path: Path, outputs: dict) -> dict:
    encoded = {name: encode(a) for name, a in outputs.items()}
    for name, labels in zipmap_labels(path).items():
        encoded[name]["class_labels"] = labels
    return encoded


def dumps(fixture: dict) -> str:
    """The fixture as indented JSON, but each data list of more than COMPACT
    elements on one line."""
    compact = {}
    for group in ("inputs", "outputs"):
        for tensor in fixture[group].values():
            if len(tensor["data"]) > COMPACT:
                key = f"@compact{len(compact)}@"
                compact[key] = json.dumps(tensor["data"], separators=(",", ":"))
                tensor["data"] = key
    text = json.dumps(fixture, indent=1)
    for key, data in compact.items():
        text = text.replace(json.dumps(key), data)
    return text + "\n"


def decode(tensor: dict) -> np.ndarray:
    dtype = {name: dtype for dtype, name in DTYPES.items()}[tensor["dtype"]]
    if tensor["dtype"] == "string":
        return np.array(tensor["data"], dtype=object).reshape(tensor["shape"])
    specials = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    data = [specials.get(x, x) if isinstance(x, str) else x for x in tensor["data"]]
    return np.array(data, dtype=dtype).reshape(tensor["shape"])


def differences(want: dict, got: dict, tolerance: dict) -> list:
    problems = []
    if list(want) != list(got):
        return [f"output names {list(got)} != stored {list(want)}"]
    for name, w in want.items():
        g = got[name]
        if g.dtype != w.dtype or g.shape != w.shape:
            problems.append(f"{name}: {g.dtype}{list(g.shape)} != stored {w.dtype}{list(w.shape)}")
        elif w.dtype.kind == "f":
            if not np.allclose(g, w, rtol=tolerance["rtol"], atol=tolerance["atol"], equal_nan=True):
                problems.append(f"{name}: max abs difference {np.max(np.abs(g - w))}")
        elif not np.array_equal(g, w):
            problems.append(f"{name}: values differ")
    return problems


def write_example_inputs(iris: dict) -> None:
    """The default model's inputs as the CLI reads them: nested JSON and .npy."""
    features = iris["features"]
    (FIXTURES / "iris_features.json").write_text(json.dumps(features.tolist()) + "\n")
    np.save(FIXTURES / "iris_features.npy", features)


def readme_checksums_hold() -> bool:
    """models/README.md and models/zoo/README.md list every model file with
    its sha256: they must agree."""
    import hashlib

    ok = True
    for readme, paths in [
        (MODELS / "README.md", sorted(MODELS.glob("*.onnx")) + [FIXTURES / "iris_zipmap.onnx"]),
        (ZOO / "README.md", sorted(ZOO.glob("*.onnx"))),
    ]:
        text = readme.read_text()
        for path in paths:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in text:
                print(f"{readme.relative_to(ROOT)} does not list {path.name} with sha256 {digest}",
                      file=sys.stderr)
                ok = False
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="recompute onnxruntime's outputs for the stored inputs and compare")
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="only these models (file stems, such as iris or svc_rbf); default: all")
    args = parser.parse_args()
    generated_by = f"onnxruntime {onnxruntime.__version__}"
    failures = 0
    # The models whose inputs are drawn here, then the zoo's, the ONNX-ML
    # cases' and the kernels' shape classes, whose inputs their scripts
    # stored in the fixture.
    stored_dirs = (ZOO, ONNX_ML, KERNELS, CONTRIB, TEXT)
    for path in sorted(MODELS.glob("*.onnx")) + [p for d in stored_dirs for p in sorted(d.glob("*.onnx"))]:
        stored_inputs = path.parent in stored_dirs
        if args.models and path.stem not in args.models:
            continue
        fixture_path = {ZOO: FIXTURES / "zoo"}.get(path.parent, path.parent if stored_inputs else FIXTURES) \
            / f"{path.stem}.json"
        if args.check:
            stored = json.loads(fixture_path.read_text())
            inputs = {name: decode(t) for name, t in stored["inputs"].items()}
            want = {name: decode(t) for name, t in stored["outputs"].items()}
            problems = differences(want, run(path, inputs), stored["tolerance"])
            for name, labels in zipmap_labels(path).items():
                if stored["outputs"].get(name, {}).get("class_labels") != labels:
                    problems.append(f"{name}: class labels differ from the ZipMap's {labels}")
            for problem in problems:
                print(f"{fixture_path.relative_to(ROOT)}: {problem}", file=sys.stderr)
            failures += bool(problems)
            print(f"{path.relative_to(ROOT)}: {'differs' if problems else 'matches'} ({generated_by})")
            continue
        if stored_inputs:
            stored = json.loads(fixture_path.read_text())
            inputs = {name: decode(t) for name, t in stored["inputs"].items()}
        else:
            inputs = model_inputs(path, np.random.default_rng(INPUT_SEEDS[path.stem]))
        outputs = run(path, inputs)
        fixture = {
            "model": str(path.relative_to(MODELS if path.is_relative_to(MODELS) else ROOT)),
            "generated_by": generated_by,
            # A case script may state its own (contrib_cases.py's statically
            # quantized models, held to levels of their output's scale).
            "tolerance": (stored.get("tolerance") if stored_inputs else None)
            or (QUANTIZED_TOLERANCE if path.parent == CONTRIB else TOLERANCE),
            "inputs": {name: encode(a) for name, a in inputs.items()},
            "outputs": encode_outputs(path, outputs),
        }
        fixture_path.parent.mkdir(parents=True, exist_ok=True)
        fixture_path.write_text(dumps(fixture))
        print(f"wrote {fixture_path.relative_to(ROOT)}")
        if path.stem == "iris":
            write_example_inputs(inputs)
    if args.check and not readme_checksums_hold():
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
