"""Peer for the wasmodel benchmark: an ONNX model behind FastAPI, as a data scientist would serve it.

FastAPI + plain uvicorn (h11, asyncio) + onnxruntime (CPUExecutionProvider,
intra_op_num_threads=1 per worker), answering the Open Inference Protocol v2
REST subset that `wasmodel serve` answers:

    GET  /v2/health/live, /v2/health/ready       200 once the worker has its model
    GET  /v2/models/{name}                       metadata: inputs, outputs, datatypes, shapes
    GET  /v2/models/{name}/ready                 200
    POST /v2/models/{name}/infer                 {"inputs": [{"name", "shape", "datatype", "data"}]}
         -> {"model_name": .., "outputs": [{"name", "shape", "datatype", "data"}]}

Requests need `Content-Type: application/json` (FastAPI's default strictness;
without it the body is refused with 400). Data are flat and row-major; datatypes FP32, FP64, INT8, INT16, INT32, INT64,
UINT8, UINT16, UINT32, UINT64, BOOL. A bad request gets 400 and {"error": ".."},
an unknown model 404 and {"error": ".."}. Non-tensor outputs (skl2onnx's ZipMap)
are left out of answers and metadata.

The model comes from environment variables, so that every uvicorn worker
process loads it (each its own session) when it starts:

    WASMODEL_PEER_MODEL   path of the .onnx file (required)
    WASMODEL_PEER_NAME    the model's name in URLs (default: the file's stem)

Start it from the repository's root, with the packages of models/requirements.txt
and benches/peers/requirements.txt in .venv (scripts/setup.sh):

    WASMODEL_PEER_MODEL=models/iris.onnx WASMODEL_PEER_NAME=iris \\
        .venv/bin/python -m uvicorn fastapi_server:app --app-dir benches/peers \\
        --host 127.0.0.1 --port 8000 --workers 2 --no-access-log --log-level warning

(any port: pick a free one). The uvicorn process is a supervisor that binds
the port and spawns the workers; each worker loads the model in FastAPI's
lifespan, before it serves, so the first answered request is also the first
ready one. Stop it with SIGTERM or SIGINT (the supervisor stops its workers);
if the supervisor is killed outright (SIGKILL), each worker is told by the
kernel to stop too (Linux's PR_SET_PDEATHSIG), so none is left holding the port.
Peak memory is the sum over the process tree: the supervisor, its two
workers and multiprocessing's resource tracker.

The endpoints are plain `def`s, so FastAPI runs each request in its thread
pool, as its documentation advises for blocking calls such as session.run.

One departure from a stock deployment, so that the benchmark measures FastAPI
and not a socket option: uvicorn 0.54's `--workers N` hands its workers a
listening socket whose `proto` is 0, and asyncio then leaves Nagle's algorithm
on for every accepted connection, so each keep-alive request after the first
waits ~40 ms for the client's delayed ACK (uvicorn issue #3149, open; `--workers 1`
is not affected). Importing this module makes asyncio set TCP_NODELAY on TCP
connections whatever their `proto`. WASMODEL_PEER_NAGLE=1 leaves uvicorn as it
ships, to measure that.
"""

import asyncio.base_events
import ctypes
import math
import os
import signal
import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from oip_datatypes import DATATYPES, NUMPY_TO_DATATYPE, ORT_TO_DATATYPE


def set_nodelay_whatever_the_proto():
    """TCP_NODELAY on every TCP connection asyncio accepts (see the docstring)."""

    def set_nodelay(sock):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    asyncio.base_events._set_nodelay = set_nodelay


if os.environ.get("WASMODEL_PEER_NAGLE") != "1":
    set_nodelay_whatever_the_proto()


class InferInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class RequestedOutput(BaseModel):
    name: str


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None = None


class BadRequest(Exception):
    """A request the model cannot answer: 400 and {"error": ..}."""


def load_session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def stop_with_parent():
    """Have the kernel stop this worker if the uvicorn supervisor dies (Linux)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the supervisor died before prctl
            os.kill(os.getpid(), signal.SIGTERM)


model = {}


@asynccontextmanager
async def lifespan(app):
    stop_with_parent()
    path = os.environ.get("WASMODEL_PEER_MODEL")
    if not path:
        raise RuntimeError("set WASMODEL_PEER_MODEL to the .onnx file to serve")
    session = load_session(path)
    model["name"] = os.environ.get("WASMODEL_PEER_NAME") or Path(path).stem
    model["session"] = session
    model["inputs"] = {i.name: i for i in session.get_inputs()}
    model["outputs"] = [o.name for o in session.get_outputs() if o.type in ORT_TO_DATATYPE]
    yield
    model.clear()


app = FastAPI(title="wasmodel benchmark peer", lifespan=lifespan)


@app.exception_handler(BadRequest)
def bad_request(request: Request, exc: BadRequest):
    return JSONResponse(status_code=400, content={"error": str(exc)})


@app.exception_handler(RequestValidationError)
def invalid_request(request: Request, exc: RequestValidationError):
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
    )
    return JSONResponse(status_code=400, content={"error": f"invalid request: {problems}"})


@app.exception_handler(StarletteHTTPException)
def http_error(request: Request, exc: StarletteHTTPException):
    return JSONResponse(status_code=exc.status_code, content={"error": str(exc.detail)})


def known_model(name):
    if name != model.get("name"):
        raise StarletteHTTPException(404, f"unknown model {name!r}")


def tensor_metadata(name, ort_type, shape):
    return {
        "name": name,
        "datatype": ORT_TO_DATATYPE[ort_type],
        "shape": [d if isinstance(d, int) else -1 for d in shape],
    }


@app.get("/v2/health/live")
def live():
    return {"live": True}


@app.get("/v2/health/ready")
def ready():
    return {"ready": bool(model)}


@app.get("/v2/models/{name}")
def metadata(name: str):
    known_model(name)
    session = model["session"]
    return {
        "name": name,
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [tensor_metadata(i.name, i.type, i.shape) for i in session.get_inputs()],
        "outputs": [
            tensor_metadata(o.name, o.type, o.shape)
            for o in session.get_outputs()
            if o.type in ORT_TO_DATATYPE
        ],
    }


@app.get("/v2/models/{name}/ready")
def model_ready(name: str):
    known_model(name)
    return {"name": name, "ready": True}


def to_array(tensor: InferInput):
    expected = model["inputs"].get(tensor.name)
    if expected is None:
        raise BadRequest(f"the model has no input {tensor.name!r} (it has {sorted(model['inputs'])})")
    if tensor.datatype not in DATATYPES:
        raise BadRequest(f"input {tensor.name!r}: unsupported datatype {tensor.datatype!r}")
    dtype, ort_type = DATATYPES[tensor.datatype]
    if ort_type != expected.type:
        want = ORT_TO_DATATYPE.get(expected.type, expected.type)
        raise BadRequest(f"input {tensor.name!r} is {tensor.datatype} but the model wants {want}")
    if any(d < 0 for d in tensor.shape) or math.prod(tensor.shape) != len(tensor.data):
        raise BadRequest(
            f"input {tensor.name!r}: shape {tensor.shape} does not match {len(tensor.data)} data"
        )
    try:
        return np.array(tensor.data, dtype=dtype).reshape(tensor.shape)
    except (TypeError, ValueError, OverflowError) as e:
        raise BadRequest(f"input {tensor.name!r}: {e}") from None


def to_json(name, array):
    data = array.ravel().tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        data = [v if math.isfinite(v) else None for v in data]
    return {
        "name": name,
        "shape": list(array.shape),
        "datatype": NUMPY_TO_DATATYPE[array.dtype],
        "data": data,
    }


@app.post("/v2/models/{name}/infer")
def infer(name: str, request: InferRequest):
    known_model(name)
    feeds = {tensor.name: to_array(tensor) for tensor in request.inputs}
    missing = sorted(set(model["inputs"]) - set(feeds))
    if missing:
        raise BadRequest(f"missing input(s) {missing}")
    if request.outputs:
        names = [o.name for o in request.outputs]
        unknown = [n for n in names if n not in model["outputs"]]
        if unknown:
            raise BadRequest(f"the model has no output(s) {unknown} (it has {model['outputs']})")
    else:
        names = model["outputs"]
    try:
        results = model["session"].run(names, feeds)
    except Exception as e:  # onnxruntime's own errors: bad shapes, values
        raise BadRequest(" ".join(str(e).split())) from None
    answer = {"model_name": name, "outputs": [to_json(n, r) for n, r in zip(names, results)]}
    if request.id is not None:
        answer["id"] = request.id
    return answer
