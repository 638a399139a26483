"""`Model`: a wasmodel component, loaded with wasmtime, predicting on NumPy
arrays."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from wasmtime import Config, Engine, Store, WasmtimeError
from wasmtime.component import Component, Linker

from . import _cache, _values
from .errors import (
    InternalError,
    InvalidInputError,
    LoadError,
    ModelTrap,
    PredictError,
    UnsupportedError,
)

#: The interface this package speaks, as `wit/wasmodel.wit` declares it.
PREDICTOR = "wasmodel:model/predictor@0.3.0"

_WASM_MAGIC = b"\0asm"
#: How often the engine's epoch advances: time limits count in these ticks.
_TICK = 0.01
_engine_lock = threading.Lock()
_engine: Optional[Engine] = None


def _shared_engine() -> Engine:
    """The process's engine, whose epoch a daemon thread advances every
    tick, so that a call can be given a deadline without a thread of its
    own (as the `wasmodel` CLI does)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            config = Config()
            config.epoch_interruption = True
            engine = Engine(config)

            def tick() -> None:
                while True:
                    time.sleep(_TICK)
                    engine.increment_epoch()

            threading.Thread(target=tick, name="wasmodel-epoch", daemon=True).start()
            _engine = engine
        return _engine
_COMPONENT_LAYER = b"\x0d\x00\x01\x00"


@dataclass(frozen=True)
class TensorInfo:
    """What the model declares about one of its inputs or outputs."""

    name: str
    #: ``f32``, ``f64``, ``i32``, ``i64``, ``u8``, ``bool`` or ``string``.
    element_type: str
    #: One entry per dimension: a size, or the symbol of a dimension the
    #: caller chooses (``"batch"``).
    shape: tuple[Union[int, str], ...]
    #: For a classifier's probabilities: the class of each column.
    class_labels: Optional[tuple[Union[int, str], ...]] = None

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of this tensor's arrays (``str`` for strings)."""
        if self.element_type == "string":
            return np.dtype(str)
        return _values.NUMERIC[self.element_type][0]


@dataclass(frozen=True)
class ModelInfo:
    """A model component's name, version, digest and declared tensors."""

    name: str
    version: str
    #: ``sha256:`` and the hex SHA-256 of the ONNX file the model came from.
    digest: str
    #: The tool that wrote the ONNX file, such as ``skl2onnx 1.20.0``.
    producer: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]


class Model:
    """A model component from `wasmodel build`, ready to predict.

    >>> model = Model("iris.wasm")
    >>> outputs = model.predict(features=np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32))
    >>> outputs["label"], model.info.outputs[1].class_labels

    The component runs in its own sandbox (it imports nothing), in one
    instance kept between calls; calls are serialized. Its compiled code
    is cached on disk (see `cache_dir`), so only a machine's first load of
    a component compiles it.

    Args:
        component: the `.wasm` file's path, or its bytes.
        cache_dir: where compiled code is kept; default `$WASMODEL_CACHE_DIR`,
            else `$XDG_CACHE_HOME/wasmodel`, else `~/.cache/wasmodel`;
            `False` never caches.
        max_memory: the largest linear memory the instance may have, bytes.
        max_input_bytes: the largest input tensor accepted, bytes of data.
        timeout: the longest one `predict` may run, in seconds.

    Raises:
        LoadError: the file is not a model component of this version.
        OSError: the file cannot be read.
    """

    def __init__(
        self,
        component: Union[str, os.PathLike, bytes],
        *,
        cache_dir: Union[str, os.PathLike, None, bool] = None,
        max_memory: int = 1 << 30,
        max_input_bytes: int = 64 << 20,
        timeout: float = 60.0,
    ):
        if isinstance(component, (bytes, bytearray)):
            wasm, self._source = bytes(component), "the component"
        else:
            wasm, self._source = Path(component).read_bytes(), os.fspath(component)
        _check_is_component(wasm, self._source)
        self.max_memory = max_memory
        self.max_input_bytes = max_input_bytes
        self.timeout = timeout

        self._engine = _shared_engine()
        if cache_dir is False:
            directory = None
        elif cache_dir is None or cache_dir is True:
            directory = _cache.default_directory()
        else:
            directory = Path(cache_dir)
        try:
            self._component, self.cache_hit = _cache.load(self._engine, wasm, directory, "epoch-interruption")
        except WasmtimeError as e:
            raise LoadError(f"cannot compile {self._source}: {e}") from None
        _check_exports(self._component, self._engine, self._source)
        self._lock = threading.Lock()
        self._store: Optional[Store] = None
        self._instantiate()
        self.info = self._metadata()
        self._inputs = {t.name: t for t in self.info.inputs}

    def __repr__(self) -> str:
        inputs = ", ".join(f"{t.name}: {t.element_type}{list(t.shape)}" for t in self.info.inputs)
        return f"<wasmodel.Model {self.info.name} {self.info.version} ({inputs})>"

    def _instantiate(self) -> None:
        store = Store(self._engine)
        store.set_limits(memory_size=self.max_memory)
        store.set_epoch_deadline(math.ceil(self.timeout / _TICK))
        self._store = store
        index = self._component.get_export_index(PREDICTOR)
        try:
            instance = Linker(self._engine).instantiate(store, self._component)
        except WasmtimeError as e:
            raise LoadError(f"cannot instantiate {self._source}: {e}") from None
        self._metadata_func = instance.get_func(store, self._component.get_export_index("metadata", index))
        self._predict_func = instance.get_func(store, self._component.get_export_index("predict", index))

    def _metadata(self) -> ModelInfo:
        store = self._store
        record = self._metadata_func(store)
        self._metadata_func.post_return(store)

        def tensor(t: Any) -> TensorInfo:
            labels = getattr(t, "class-labels")
            return TensorInfo(
                name=t.name,
                element_type=getattr(t, "element-type"),
                shape=tuple(t.shape),
                class_labels=None if labels is None else tuple(labels.payload),
            )

        return ModelInfo(
            name=record.name,
            version=record.version,
            digest=record.digest,
            producer=record.producer,
            inputs=tuple(tensor(t) for t in record.inputs),
            outputs=tuple(tensor(t) for t in record.outputs),
        )

    def predict(self, inputs: Any = None, /, **named: Any) -> dict[str, np.ndarray]:
        """Runs the model and returns its outputs by name, in the model's order.

        Inputs are given by name, as keywords or a mapping
        (``predict({"features": x})``), or, for a model with one input,
        alone (``predict(x)``). A NumPy array is passed with its own dtype,
        which must be the declared element type (float64 for an f32 input
        is an `InvalidInputError`, as in onnxruntime); anything else (lists,
        scalars) is converted to the declared type. Strings: any array of
        ``str``.

        Raises:
            InvalidInputError: an input does not match the model (which,
                what was expected, what was given).
            UnsupportedError, InternalError: the engine cannot run it.
            ModelTrap: the component ran out of memory or time; the next
                call runs in a fresh instance.
        """
        given = self._named_inputs(inputs, named)
        prepared = [self._prepare(name, value) for name, value in given.items()]
        with self._lock:
            if self._store is None:
                self._instantiate()
            self._store.set_epoch_deadline(math.ceil(self.timeout / _TICK))
            started = time.monotonic()
            try:
                result = _values.call(self._predict_func, self._store, prepared)
            except WasmtimeError as e:
                self._store = None
                if time.monotonic() - started >= self.timeout:
                    raise ModelTrap(f"predict ran longer than the time limit ({self.timeout:g} s)") from None
                raise ModelTrap(
                    f"the component stopped (memory limit {self.max_memory / 2**20:g} MiB): {_first_line(e)}"
                ) from None
        if isinstance(result, tuple):
            raise _predict_error(result)
        return {output.name: _array(output) for output in result}

    __call__ = predict

    def _named_inputs(self, inputs: Any, named: dict[str, Any]) -> dict[str, Any]:
        given: dict[str, Any] = {}
        if isinstance(inputs, Mapping):
            given.update(inputs)
        elif inputs is not None:
            if len(self.info.inputs) != 1:
                names = ", ".join(t.name for t in self.info.inputs)
                raise TypeError(f"the model has {len(self.info.inputs)} inputs ({names}): pass them by name")
            given[self.info.inputs[0].name] = inputs
        for name, value in named.items():
            if name in given:
                raise TypeError(f"input {name!r} given twice")
            given[name] = value
        return given

    def _prepare(self, name: str, value: Any) -> _values.Lowered:
        declared = self._inputs.get(name)
        if isinstance(value, np.ndarray):
            array = value
            element = _element_of(array.dtype)
            if element is None:
                raise InvalidInputError(
                    "element-type",
                    name,
                    declared.element_type if declared else "a supported element type",
                    f"{array.dtype} (NumPy)",
                )
        else:
            dtype = declared.dtype if declared else None
            try:
                array = np.asarray(value, dtype=dtype)
            except (TypeError, ValueError, OverflowError) as e:
                expected = declared.element_type if declared else "an array"
                raise InvalidInputError("element-type", name, expected, _first_line(e)) from None
            element = _element_of(array.dtype) or "string"
        if element != "string":
            self._check_size(name, array.nbytes)
        prepared = _values.prepare(name, element, array)
        if element == "string":
            self._check_size(name, sum(len(s) for s in prepared.data))
        return prepared

    def _check_size(self, name: str, size: int) -> None:
        if size > self.max_input_bytes:
            raise InvalidInputError("too-large", name, f"at most {self.max_input_bytes} bytes", f"{size} bytes")


def _element_of(dtype: np.dtype) -> Optional[str]:
    """The WIT element type an array of `dtype` is passed as, if any."""
    if dtype.kind in "USOT":
        return "string"
    for element, (wit_dtype, _) in _values.NUMERIC.items():
        if dtype.kind == wit_dtype.kind and dtype.itemsize == wit_dtype.itemsize:
            return element
    return None


def _array(output: _values.Output) -> np.ndarray:
    if output.element == "string":
        array = np.array(output.data, dtype=str)
    elif len(output.data) == 0:
        array = np.empty(0, dtype=_values.NUMERIC[output.element][0])
    else:
        array = output.data
    return array.reshape(output.shape)


def _predict_error(error: tuple[str, Any]) -> PredictError:
    tag, payload = error
    if tag == "invalid-input" and isinstance(payload, dict):
        return InvalidInputError(payload["kind"], payload["input"], payload["expected"], payload["got"])
    if tag == "unsupported":
        return UnsupportedError(payload)
    if tag == "internal":
        return InternalError(payload)
    return InternalError(f"unexpected predict-error {tag}: {payload}")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _check_is_component(wasm: bytes, source: str) -> None:
    if not wasm.startswith(_WASM_MAGIC):
        raise LoadError(f"{source} is not WebAssembly (build a model component with `wasmodel build`)")
    if wasm[4:8] != _COMPONENT_LAYER:
        raise LoadError(
            f"{source} is a core WebAssembly module, not a component (build one with `wasmodel build`)"
        )


def _check_exports(component: Component, engine: Engine, source: str) -> None:
    exports = list(component.type.exports(engine))
    if PREDICTOR in exports:
        return
    older = [e for e in exports if e.startswith("wasmodel:model/predictor@")]
    if older:
        raise LoadError(
            f"{source} was built by another version of wasmodel: it exports {older[0]}, this package "
            f"runs {PREDICTOR}; rebuild it from its ONNX file with `wasmodel build`"
        )
    if any(e.startswith("wasi:http/incoming-handler@") for e in exports):
        raise LoadError(
            f"{source} is an HTTP component: serve it with `wasmodel serve`, Spin or `wasmtime serve`, "
            "or build a predictor (without --http) to load it here"
        )
    raise LoadError(f"{source} does not export {PREDICTOR} (it exports: {', '.join(exports) or 'nothing'})")
