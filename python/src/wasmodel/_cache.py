"""Compiled components on disk, so a process compiles a model only once per
machine, as the `wasmodel` CLI does.

Files live in `$WASMODEL_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmodel`, else
`~/.cache/wasmodel`, under `python-wasmtime-<version>/` (code compiled by
the CLI's wasmtime is not loadable by this one). Each is named by the
SHA-256 of the component and of the engine settings, and holds a header,
the SHA-256 of the compiled code, and the code: a file that is truncated or
altered is compiled again, never loaded. A cache that cannot be written is
skipped with a warning.

Like the CLI's, the cache is kept under `$WASMODEL_CACHE_SIZE` MiB (4096 by
default): each store removes the files used least recently (a load
refreshes a file's time), and partial files left more than an hour ago.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Optional

from wasmtime import Engine, WasmtimeError
from wasmtime.component import Component

_MAGIC = b"wasmodel-python-compiled\n"
WASMTIME_VERSION = version("wasmtime")
DEFAULT_SIZE_MIB = 4096
_ABANDONED_WRITE = 3600.0


def default_directory() -> Path:
    base = os.environ.get("WASMODEL_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "wasmodel" if xdg else Path.home() / ".cache" / "wasmodel"


def max_size() -> int:
    """The cache's size limit in bytes, from `$WASMODEL_CACHE_SIZE` (MiB)."""
    text = os.environ.get("WASMODEL_CACHE_SIZE") or str(DEFAULT_SIZE_MIB)
    if not text.isdecimal():
        raise ValueError(f"WASMODEL_CACHE_SIZE must be a whole number of MiB, not {text!r}")
    return int(text) << 20


def trim(directory: Path, keep: Path, limit: int) -> None:
    """Removes the files used least recently until those in `directory` fit
    in `limit` bytes, never `keep` (the one just stored), and partial files
    abandoned by a writer. Best effort: another process may be trimming too."""
    total = 0
    candidates = []
    now = time.time()
    for path in directory.iterdir():
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.name.endswith(".partial"):
            if now - stat.st_mtime > _ABANDONED_WRITE:
                path.unlink(missing_ok=True)
        elif path.suffix == ".cwasm":
            total += stat.st_size
            if path != keep:
                candidates.append((stat.st_mtime, stat.st_size, path))
    for _, size, path in sorted(candidates):
        if total <= limit:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size


def _path(directory: Path, wasm: bytes, settings: str) -> Path:
    key = hashlib.sha256(wasm + b"\0" + settings.encode()).hexdigest()
    return directory / f"python-wasmtime-{WASMTIME_VERSION}" / f"{key}.cwasm"


def _read(path: Path) -> Optional[bytes]:
    """The compiled code stored at `path`, if the file is whole."""
    try:
        stored = path.read_bytes()
    except OSError:
        return None
    header = len(_MAGIC) + 32
    if not stored.startswith(_MAGIC) or len(stored) <= header:
        return None
    code = stored[header:]
    if hashlib.sha256(code).digest() != stored[len(_MAGIC) : header]:
        return None
    return code


def _write(path: Path, code: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(code).digest())
            f.write(code)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load(engine: Engine, wasm: bytes, directory: Optional[Path], settings: str) -> tuple[Component, bool]:
    """The compiled component, from the cache if it holds it (and whether it
    did), else compiled now and stored. `directory=None` never caches."""
    if directory is None:
        return Component(engine, wasm), False
    path = _path(directory, wasm, settings)
    limit = max_size()
    code = _read(path)
    if code is not None:
        try:
            component = Component.deserialize(engine, code)
        except WasmtimeError:
            pass  # another build of the same version: compile again
        else:
            try:
                os.utime(path)  # used now, for trim's order
            except OSError:
                pass
            return component, True
    component = Component(engine, wasm)
    try:
        _write(path, bytes(component.serialize()))
        trim(path.parent, path, limit)
    except OSError as e:
        warnings.warn(f"wasmodel: cannot cache the compiled component in {path.parent}: {e}", stacklevel=3)
    return component, False
