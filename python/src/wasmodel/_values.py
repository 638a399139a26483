"""Tensors to and from the component model values of `predict`, in bulk.

wasmtime's Python API converts a `list<f32>` one element at a time, each
through several ctypes calls: about 100 ms for one 224×224 RGB image, more
than the model takes. Here the values are laid out as wasmtime's C API
defines them (`wasmtime_component_val_t`, `wasmtime/component/val.h`), and
a list's elements are written and read as one NumPy view of that memory.

Ownership follows the C API: a value built here (strings from
`wasm_byte_vec_new`, lists and records from `*_new_uninit`, a variant's
payload from `wasmtime_component_val_new`) belongs to its parent, and one
`wasmtime_component_val_delete` of the top value frees it all; the call
only borrows its arguments. Values are read without taking anything out,
then deleted whole. Everything that can fail (casts, encodings) happens
before the first allocation, so no half-built value is ever deleted.

This reads the C layout of the wasmtime version the package pins
(`wasmtime==50.0.1`); `check_layout` refuses another at import.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from wasmtime import WasmtimeError
from wasmtime import _ffi as ffi

from .errors import InternalError, InvalidInputError

_VAL = ffi.wasmtime_component_val_t
_SIZE = ctypes.sizeof(_VAL)
_PAYLOAD = _VAL.of.offset

BOOL = ffi.WASMTIME_COMPONENT_BOOL.value
STRING = ffi.WASMTIME_COMPONENT_STRING.value
LIST = ffi.WASMTIME_COMPONENT_LIST.value
RECORD = ffi.WASMTIME_COMPONENT_RECORD.value
VARIANT = ffi.WASMTIME_COMPONENT_VARIANT.value
ENUM = ffi.WASMTIME_COMPONENT_ENUM.value
RESULT = ffi.WASMTIME_COMPONENT_RESULT.value
U32 = ffi.WASMTIME_COMPONENT_U32.value

#: The WIT element types with a fixed size: NumPy dtype and C value kind.
NUMERIC = {
    "f32": (np.dtype("<f4"), ffi.WASMTIME_COMPONENT_F32.value),
    "f64": (np.dtype("<f8"), ffi.WASMTIME_COMPONENT_F64.value),
    "i32": (np.dtype("<i4"), ffi.WASMTIME_COMPONENT_S32.value),
    "i64": (np.dtype("<i8"), ffi.WASMTIME_COMPONENT_S64.value),
    "u8": (np.dtype("u1"), ffi.WASMTIME_COMPONENT_U8.value),
    "bool": (np.dtype("?"), BOOL),
}
#: ... and those of lists that are not tensor data (shapes).
_SCALARS = {**NUMERIC, "u32": (np.dtype("<u4"), U32)}
_KIND_TO_ELEMENT = {kind: (element, dtype) for element, (dtype, kind) in _SCALARS.items()}


def check_layout() -> None:
    """Refuses a wasmtime whose C value layout is not the one read here."""
    union = ffi.wasmtime_component_valunion_t
    fields = dict(union._fields_)
    ok = (
        _VAL._fields_[0][0] == "kind"
        and ctypes.sizeof(_VAL._fields_[0][1]) == 1
        and fields.get("f32") is ctypes.c_float
        and fields.get("s64") is ctypes.c_int64
        and fields.get("boolean") is ctypes.c_bool
        and all(getattr(union, name).offset == 0 for name in fields)
    )
    if not ok:
        raise ImportError(
            "wasmodel needs wasmtime==50.0.1 (the C value layout it reads); "
            "install the version its package pins"
        )


@dataclass
class Lowered:
    """An input made ready to lower: nothing left that can fail."""

    name: bytes
    shape: np.ndarray  # u32
    element: str
    data: Union[np.ndarray, list]  # 1-D, of NUMERIC[element]'s dtype; or UTF-8 bytes


def prepare(name: str, element: str, array: np.ndarray) -> Lowered:
    """Checks and converts an input before anything is allocated."""
    shape = np.asarray(array.shape, dtype=np.int64)
    if (shape > 0xFFFF_FFFF).any():
        raise InvalidInputError("shape", name, "dimensions below 2^32", str(list(array.shape)))
    if element == "string":
        data: Union[np.ndarray, list] = [_utf8(name, s) for s in array.ravel().tolist()]
    else:
        data = np.ascontiguousarray(array.ravel(), dtype=NUMERIC[element][0])
    return Lowered(name.encode("utf-8"), shape.astype(np.uint32), element, data)


@functools.lru_cache(maxsize=None)
def _layout(dtype: np.dtype) -> np.dtype:
    """A C value as a NumPy record: its kind and its payload as `dtype`."""
    return np.dtype(
        {"names": ["kind", "value"], "formats": ["u1", dtype], "offsets": [0, _PAYLOAD], "itemsize": _SIZE}
    )


def _utf8(name: str, item: Any) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, bytes):
        try:
            item.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError("element-type", name, "UTF-8 text", f"bytes {item[:20]!r}") from None
        return item
    raise InvalidInputError("element-type", name, "string", f"an element of type {type(item).__name__}")


def _view(address: int, n: int, dtype: np.dtype) -> np.ndarray:
    """`n` C values at `address`, as NumPy records (see `_layout`)."""
    layout = _layout(dtype)
    buffer = (ctypes.c_char * (n * _SIZE)).from_address(address)
    return np.frombuffer(buffer, dtype=layout)


def _address(pointer: Any) -> int:
    return ctypes.cast(pointer, ctypes.c_void_p).value or 0


def _set_string(val: Any, text: bytes) -> None:
    val.kind = STRING
    val.of.string = ffi.bytes_to_capi(text)


def _set_list(val: Any, element: str, data: Union[np.ndarray, list]) -> None:
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, len(data))
    if len(data):
        if element == "string":
            for i, text in enumerate(data):
                _set_string(raw.data[i], text)
        else:
            dtype, kind = _SCALARS[element]
            view = _view(_address(raw.data), len(data), dtype)
            view["kind"] = kind
            view["value"] = data
    val.kind = LIST
    val.of.list = raw


def _set_tensor(val: Any, tensor: Lowered) -> None:
    record = ffi.wasmtime_component_valrecord_t()
    ffi.wasmtime_component_valrecord_new_uninit(record, 3)
    name, shape, data = record.data[0], record.data[1], record.data[2]
    name.name = ffi.bytes_to_capi(b"name")
    _set_string(name.val, tensor.name)
    shape.name = ffi.bytes_to_capi(b"shape")
    _set_list(shape.val, "u32", tensor.shape)
    data.name = ffi.bytes_to_capi(b"data")
    payload = _VAL()
    _set_list(payload, tensor.element, tensor.data)
    data.val.kind = VARIANT
    data.val.of.variant.discriminant = ffi.bytes_to_capi(tensor.element.encode())
    data.val.of.variant.val = ffi.wasmtime_component_val_new(ctypes.byref(payload))
    val.kind = RECORD
    val.of.record = record


def lower_tensors(val: Any, tensors: list[Lowered]) -> None:
    """Writes `list<tensor>` into the C value `val` (owned by the caller)."""
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, len(tensors))
    for i, tensor in enumerate(tensors):
        _set_tensor(raw.data[i], tensor)
    val.kind = LIST
    val.of.list = raw


def delete(val: Any) -> None:
    """Frees everything the C value owns."""
    ffi.wasmtime_component_val_delete(ctypes.byref(val))


def _expect(val: Any, kind: int, what: str) -> None:
    if val.kind != kind:
        raise InternalError(f"the component returned a value of kind {val.kind} for {what}")


def _string(val: Any) -> str:
    _expect(val, STRING, "a string")
    return ffi.to_str_raw(val.of.string.data, val.of.string.size) if val.of.string.size else ""


def read(val: Any) -> Any:
    """A C value as plain Python (strings, enums, records as dicts, variants
    as (tag, payload)): for the small values, such as errors."""
    kind = val.kind
    if kind == STRING:
        return _string(val)
    if kind == ENUM:
        name = val.of.enumeration
        return ffi.to_str_raw(name.data, name.size)
    if kind == RECORD:
        record = val.of.record
        return {
            ffi.to_str_raw(record.data[i].name.data, record.data[i].name.size): read(record.data[i].val)
            for i in range(record.size)
        }
    if kind == VARIANT:
        variant = val.of.variant
        tag = ffi.to_str_raw(variant.discriminant.data, variant.discriminant.size)
        return tag, (read(variant.val.contents) if variant.val else None)
    if kind == LIST:
        return [read(val.of.list.data[i]) for i in range(val.of.list.size)]
    raise InternalError(f"the component returned a value of unexpected kind {kind}")


def _read_list(val: Any, what: str) -> tuple[str, Union[np.ndarray, list]]:
    """A list of scalars as a NumPy array (copied out), or of strings."""
    _expect(val, LIST, what)
    n = val.of.list.size
    if n == 0:
        return "", []
    first = val.of.list.data[0].kind
    if first == STRING:
        return "string", [_string(val.of.list.data[i]) for i in range(n)]
    if first not in _KIND_TO_ELEMENT:
        raise InternalError(f"{what}: a list of values of kind {first}")
    element, dtype = _KIND_TO_ELEMENT[first]
    view = _view(_address(val.of.list.data), n, dtype)
    if (view["kind"] != first).any():
        raise InternalError(f"{what}: a list of values of mixed kinds")
    return element, np.array(view["value"])


@dataclass
class Output:
    name: str
    element: str
    shape: tuple
    data: Union[np.ndarray, list]


def read_result(val: Any) -> Union[list[Output], tuple[str, Any]]:
    """`result<list<tensor>, predict-error>`: the outputs, or the error as
    `read` gives it."""
    _expect(val, RESULT, "predict's result")
    result = val.of.result
    if not result.is_ok:
        if not result.val:
            raise InternalError("predict failed without saying why")
        return read(result.val.contents)
    if not result.val:
        raise InternalError("predict returned nothing")
    outputs = result.val.contents
    _expect(outputs, LIST, "predict's outputs")
    tensors = []
    for i in range(outputs.of.list.size):
        record = outputs.of.list.data[i]
        _expect(record, RECORD, "an output tensor")
        fields = {
            ffi.to_str_raw(record.of.record.data[j].name.data, record.of.record.data[j].name.size): j
            for j in range(record.of.record.size)
        }
        if set(fields) != {"name", "shape", "data"}:
            raise InternalError(f"an output tensor with fields {sorted(fields)}")
        name = _string(record.of.record.data[fields["name"]].val)
        _, shape = _read_list(record.of.record.data[fields["shape"]].val, f"output {name!r}'s shape")
        data = record.of.record.data[fields["data"]].val
        _expect(data, VARIANT, f"output {name!r}'s data")
        variant = data.of.variant
        element = ffi.to_str_raw(variant.discriminant.data, variant.discriminant.size)
        if not variant.val:
            raise InternalError(f"output {name!r} has no data")
        _, values = _read_list(variant.val.contents, f"output {name!r}'s data")
        tensors.append(Output(name, element, tuple(int(d) for d in shape), values))
    return tensors


def call(func: Any, store: Any, tensors: list[Lowered]) -> Union[list[Output], tuple[str, Any]]:
    """Calls `predict` with the prepared inputs; raises `WasmtimeError` if
    the component traps."""
    params = (_VAL * 1)()
    lower_tensors(params[0], tensors)
    try:
        result = _VAL()
        error = ffi.wasmtime_component_func_call(
            ctypes.byref(func._func), store._context(), params, 1, ctypes.byref(result), 1
        )
        if error:
            raise WasmtimeError._from_ptr(error)
        try:
            return read_result(result)
        finally:
            delete(result)
            error = ffi.wasmtime_component_func_post_return(ctypes.byref(func._func), store._context())
            if error:
                raise WasmtimeError._from_ptr(error)
    finally:
        delete(params[0])
