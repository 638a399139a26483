"""Components for the Python package's tests, built from the repository's
ONNX files by the `wasmodel` binary (`cargo build --release` first, or set
`WASMODEL_BIN`), and the reference outputs onnxruntime gave for them
(`tests/fixtures/`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"

#: Model name → ONNX file under models/: f32 trees, f32 + i64, every
#: numeric element type, a CNN, string columns with NaNs, string labels.
MODELS = {
    "iris": "iris.onnx",
    "multi_io": "multi_io.onnx",
    "dtypes": "dtypes.onnx",
    "digits_cnn": "digits_cnn.onnx",
    "columns_onehot_logreg": "zoo/columns_onehot_logreg.onnx",
    "logreg_string_labels": "zoo/logreg_string_labels.onnx",
}

_DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "u8": np.uint8, "bool": np.bool_}


def wasmodel_bin() -> str:
    path = os.environ.get("WASMODEL_BIN") or str(REPO / "target" / "release" / "wasmodel")
    if not Path(path).is_file():
        pytest.exit(f"no wasmodel binary at {path}: run `cargo build --release` or set WASMODEL_BIN", 2)
    return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One compile cache for the session: each component compiles once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def component(tmp_path_factory):
    """`component(name)`: the path of that model's component, built once."""
    directory = tmp_path_factory.mktemp("components")
    built: dict[str, Path] = {}

    def build(name: str, *flags: str) -> Path:
        key = name + "".join(flags)
        if key not in built:
            out = directory / f"{key.replace('-', '_')}.wasm"
            subprocess.run(
                [wasmodel_bin(), "build", str(REPO / "models" / MODELS[name]), "-o", str(out), *flags],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            built[key] = out
        return built[key]

    return build


@pytest.fixture(scope="session")
def model(component, cache_dir):
    """`model(name)`: a loaded `wasmodel.Model`, one per name for the session."""
    import wasmodel

    loaded: dict[str, wasmodel.Model] = {}

    def load(name: str) -> wasmodel.Model:
        if name not in loaded:
            loaded[name] = wasmodel.Model(component(name), cache_dir=cache_dir)
        return loaded[name]

    return load


def fixture(name: str) -> dict:
    """The inputs, onnxruntime's outputs and the tolerance of a model."""
    path = FIXTURES / f"{name}.json"
    if not path.exists():
        path = FIXTURES / "zoo" / f"{name}.json"
    return json.loads(path.read_text())


def array(tensor: dict) -> np.ndarray:
    """A fixture tensor (`{"dtype", "shape", "data"}`, floats possibly
    "NaN") as a NumPy array."""
    if tensor["dtype"] == "string":
        return np.array(tensor["data"], dtype=str).reshape(tensor["shape"])
    data = [float(x) if isinstance(x, str) else x for x in tensor["data"]]
    return np.array(data, dtype=_DTYPES[tensor["dtype"]]).reshape(tensor["shape"])
