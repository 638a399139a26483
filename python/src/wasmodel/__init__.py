"""Run wasmodel model components from Python, with NumPy arrays in and out.

    import numpy as np
    import wasmodel

    model = wasmodel.Model("iris.wasm")          # a component from `wasmodel build`
    print(model.info.inputs)                     # names, element types, shapes
    outputs = model.predict(features=np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32))
    outputs["label"], outputs["probabilities"]

The component runs sandboxed in wasmtime (the pinned `wasmtime` package),
with memory and time limits; its compiled code is cached on disk.
"""

from ._model import PREDICTOR, Model, ModelInfo, TensorInfo
from ._values import check_layout as _check_layout
from .errors import (
    InternalError,
    InvalidInputError,
    LoadError,
    ModelTrap,
    PredictError,
    UnsupportedError,
    WasmodelError,
)

_check_layout()

__all__ = [
    "PREDICTOR",
    "Model",
    "ModelInfo",
    "TensorInfo",
    "WasmodelError",
    "LoadError",
    "PredictError",
    "InvalidInputError",
    "UnsupportedError",
    "InternalError",
    "ModelTrap",
]
