"""The Open Inference Protocol's datatype names, with the numpy dtype and the
onnxruntime type string each stands for: one table for the benchmark's
Python peers (ort_native.py, fastapi_server.py), which import it from this
directory."""

import numpy as np

DATATYPES = {
    "FP32": (np.float32, "tensor(float)"),
    "FP64": (np.float64, "tensor(double)"),
    "INT8": (np.int8, "tensor(int8)"),
    "INT16": (np.int16, "tensor(int16)"),
    "INT32": (np.int32, "tensor(int32)"),
    "INT64": (np.int64, "tensor(int64)"),
    "UINT8": (np.uint8, "tensor(uint8)"),
    "UINT16": (np.uint16, "tensor(uint16)"),
    "UINT32": (np.uint32, "tensor(uint32)"),
    "UINT64": (np.uint64, "tensor(uint64)"),
    "BOOL": (np.bool_, "tensor(bool)"),
}
ORT_TO_DATATYPE = {ort_type: name for name, (_, ort_type) in DATATYPES.items()}
NUMPY_TO_DATATYPE = {np.dtype(dtype): name for name, (dtype, _) in DATATYPES.items()}
