"""The Python package against onnxruntime: the same component, the same
numbers; and its errors, limits and cache."""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
import onnxruntime as ort
import pytest
import wasmodel
from wasmodel import _cache
from conftest import FIXTURES, MODELS, REPO, array, fixture, wasmodel_bin


def assert_matches(got: dict, expected: dict, rtol: float, atol: float) -> None:
    assert list(got) == list(expected), "outputs differ by name or order"
    for name, want in expected.items():
        have = got[name]
        assert have.shape == want.shape, f"{name}: shape {have.shape}, expected {want.shape}"
        if want.dtype.kind in "iuUSOb":
            # Labels, counts, masks: exactly.
            np.testing.assert_array_equal(have, want, err_msg=name)
        else:
            np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("name", list(MODELS))
def test_predicts_onnxruntimes_reference_outputs(model, name):
    f = fixture(name)
    inputs = {k: array(t) for k, t in f["inputs"].items()}
    expected = {k: array(t) for k, t in f["outputs"].items()}
    got = model(name).predict(inputs)
    assert_matches(got, expected, f["tolerance"]["rtol"], f["tolerance"]["atol"])


def onnxruntime_outputs(name: str, inputs: dict, info: wasmodel.ModelInfo) -> dict:
    """onnxruntime's outputs, a ZipMap's list of dicts as the probability
    tensor the component gives (columns in class-label order)."""
    session = ort.InferenceSession(str(REPO / "models" / MODELS[name]), providers=["CPUExecutionProvider"])
    outputs = {}
    for meta, value, declared in zip(session.get_outputs(), session.run(None, inputs), info.outputs):
        if isinstance(value, list):
            value = np.array([[row[label] for label in declared.class_labels] for row in value], dtype=np.float32)
        outputs[meta.name] = np.asarray(value)
    return outputs


@pytest.mark.parametrize("name", ["iris", "multi_io", "dtypes", "digits_cnn", "logreg_string_labels"])
def test_matches_onnxruntime_on_made_up_inputs(model, name):
    m = model(name)
    rng = np.random.default_rng(7)
    batch = 9
    inputs = {}
    for t in m.info.inputs:
        shape = [batch if isinstance(d, str) else d for d in t.shape]
        if t.element_type == "bool":
            inputs[t.name] = rng.random(shape) < 0.5
        elif t.element_type in ("u8", "i32", "i64"):
            inputs[t.name] = rng.integers(0, 4, shape).astype(t.dtype)
        else:
            inputs[t.name] = (rng.random(shape) * 4).astype(t.dtype)
    expected = onnxruntime_outputs(name, inputs, m.info)
    assert_matches(m.predict(inputs), expected, rtol=1e-4, atol=1e-5)


def test_metadata_says_what_the_model_takes_and_gives(model):
    info = model("iris").info
    assert info.name == "iris"
    assert info.digest.startswith("sha256:")
    assert [(t.name, t.element_type, t.shape) for t in info.inputs] == [("features", "f32", ("batch", 4))]
    probabilities = info.outputs[1]
    assert probabilities.class_labels == (0, 1, 2)
    strings = model("logreg_string_labels").info
    assert all(isinstance(label, str) for label in strings.outputs[1].class_labels)


def test_one_input_can_be_given_alone_and_lists_take_the_declared_type(model):
    m = model("iris")
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    by_name = m.predict(features=np.array(rows, dtype=np.float32))
    alone = m.predict(rows)
    np.testing.assert_array_equal(alone["probabilities"], by_name["probabilities"])
    assert alone["probabilities"].dtype == np.float32


def test_a_wrong_element_type_is_a_typed_error_naming_the_input(model):
    with pytest.raises(wasmodel.InvalidInputError) as e:
        model("iris").predict(features=np.zeros((2, 4)))  # float64
    assert (e.value.kind, e.value.input, e.value.expected, e.value.got) == ("element-type", "features", "f32", "f64")


@pytest.mark.parametrize(
    "inputs, kind, input",
    [
        ({}, "missing", "features"),
        ({"features": np.zeros((1, 4), np.float32), "extra": np.zeros(1, np.float32)}, "unknown", "extra"),
        ({"features": np.zeros((1, 5), np.float32)}, "shape", "features"),
        ({"features": np.zeros((0, 4), np.float32)}, "empty", "features"),
        ({"features": np.zeros((1, 4), np.float16)}, "element-type", "features"),
    ],
)
def test_bad_inputs_are_typed_errors_and_the_model_still_answers(model, inputs, kind, input):
    m = model("iris")
    with pytest.raises(wasmodel.InvalidInputError) as e:
        m.predict(inputs)
    assert (e.value.kind, e.value.input) == (kind, input), str(e.value)
    assert m.predict(features=np.zeros((1, 4), np.float32))["label"].shape == (1,)


def test_inputs_over_the_size_limit_are_refused_before_the_call(component, cache_dir):
    m = wasmodel.Model(component("iris"), cache_dir=cache_dir, max_input_bytes=1000)
    with pytest.raises(wasmodel.InvalidInputError) as e:
        m.predict(features=np.zeros((100, 4), np.float32))
    assert e.value.kind == "too-large"
    assert m.predict(features=np.zeros((10, 4), np.float32))["label"].shape == (10,)


def test_a_call_over_the_time_limit_traps_and_the_next_runs_fresh(model):
    m = model("digits_cnn")
    images = np.zeros((2000, 1, 8, 8), np.float32)
    m.timeout = 0.0
    try:
        with pytest.raises(wasmodel.ModelTrap, match="time limit"):
            m.predict(image=images)
    finally:
        m.timeout = 60.0
    assert m.predict(image=images[:3])["logits"].shape == (3, 10)


def test_a_call_over_the_memory_limit_traps_and_the_next_runs_fresh(component, cache_dir):
    m = wasmodel.Model(component("digits_cnn"), cache_dir=cache_dir, max_memory=96 << 20)
    with pytest.raises(wasmodel.ModelTrap, match="memory limit"):
        m.predict(image=np.zeros((200_000, 1, 8, 8), np.float32))
    assert m.predict(image=np.zeros((3, 1, 8, 8), np.float32))["logits"].shape == (3, 10)


def test_compiled_code_is_cached_and_a_damaged_cache_file_is_compiled_again(component, tmp_path, monkeypatch):
    path = component("iris")
    # A cache with room for one entry: the store removes the one before.
    older = tmp_path / f"python-wasmtime-{_cache.WASMTIME_VERSION}" / "older.cwasm"
    older.parent.mkdir()
    older.write_bytes(b"compiled before")
    monkeypatch.setenv("WASMODEL_CACHE_SIZE", "0")
    first = wasmodel.Model(path, cache_dir=tmp_path)
    assert not first.cache_hit
    (cached,) = tmp_path.glob("python-wasmtime-*/*.cwasm")
    assert not older.exists()
    assert wasmodel.Model(path, cache_dir=tmp_path).cache_hit

    cached.write_bytes(cached.read_bytes()[:-1000])  # truncated
    again = wasmodel.Model(path, cache_dir=tmp_path)
    assert not again.cache_hit
    assert again.predict([[5.1, 3.5, 1.4, 0.2]])["label"].tolist() == [0]
    assert wasmodel.Model(path, cache_dir=tmp_path).cache_hit


def test_a_full_cache_loses_the_files_used_least_recently(tmp_path, monkeypatch):
    def entry(name, size, age):
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    a, b, c = entry("a.cwasm", 100, 300), entry("b.cwasm", 100, 200), entry("c.cwasm", 100, 100)
    new = entry("new.cwasm", 100, 0)
    abandoned, writing = entry("x.cwasm.1.partial", 10, 7200), entry("y.cwasm.2.partial", 10, 0)
    _cache.trim(tmp_path, new, 250)
    assert [p.exists() for p in (a, b, c, new)] == [False, False, True, True]
    assert not abandoned.exists() and writing.exists()
    _cache.trim(tmp_path, new, 0)  # an entry over the limit is kept, alone
    assert not c.exists() and new.exists()

    for bad in ["lots", "-1", "1.5"]:
        monkeypatch.setenv("WASMODEL_CACHE_SIZE", bad)
        with pytest.raises(ValueError, match=f"WASMODEL_CACHE_SIZE must be a whole number of MiB, not '{bad}'"):
            _cache.max_size()
    monkeypatch.setenv("WASMODEL_CACHE_SIZE", "3")
    assert _cache.max_size() == 3 << 20


def test_files_that_are_not_model_components_are_refused_clearly(tmp_path):
    text = tmp_path / "model.onnx"
    text.write_bytes(b"\x08\x07not wasm")
    with pytest.raises(wasmodel.LoadError, match="not WebAssembly"):
        wasmodel.Model(text)
    core = tmp_path / "core.wasm"
    core.write_bytes(b"\0asm\x01\0\0\0")
    with pytest.raises(wasmodel.LoadError, match="core WebAssembly module"):
        wasmodel.Model(core)


def test_the_readme_example_runs(tmp_path, monkeypatch, cache_dir):
    """The README's Python example, as written there, in a directory where
    `wasmodel build models/iris.onnx -o iris.wasm` was run."""
    readme = (REPO / "README.md").read_text()
    start = readme.index("```python\n", readme.index("### From Python")) + len("```python\n")
    example = readme[start : readme.index("```", start)]
    subprocess.run(
        [wasmodel_bin(), "build", str(REPO / "models" / "iris.onnx"), "-o", str(tmp_path / "iris.wasm")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASMODEL_CACHE_DIR", str(cache_dir))
    exec(compile(example, "README.md", "exec"), {})


def test_string_inputs_take_str_or_utf8_bytes_and_nothing_else(model):
    m = model("columns_onehot_logreg")
    f = fixture("columns_onehot_logreg")
    inputs = {k: array(t) for k, t in f["inputs"].items()}
    as_str = m.predict(inputs)
    as_bytes = m.predict({**inputs, "plan": inputs["plan"].astype("S")})
    np.testing.assert_array_equal(as_bytes["output_probability"], as_str["output_probability"])
    with pytest.raises(wasmodel.InvalidInputError) as e:
        m.predict({**inputs, "plan": np.array([[None]] * len(inputs["plan"]), dtype=object)})
    assert (e.value.kind, e.value.input, e.value.expected) == ("element-type", "plan", "string")


def test_a_text_embedder_takes_a_list_of_str(tmp_path, cache_dir):
    # The tiny BERT of models/text_encoder_cases.py, built with its
    # tokenizer and mean pooling: `predict(text=[...])` gives the
    # embeddings sentence-transformers makes of onnxruntime's outputs.
    case = json.loads((FIXTURES / "text_encoder" / "bert.json").read_text())
    out = tmp_path / "embedder.wasm"
    subprocess.run(
        [wasmodel_bin(), "build", str(REPO / case["model"]), "--tokenizer", str(REPO / case["tokenizer"]),
         "--pooling", "mean", "--normalize", "-o", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    m = wasmodel.Model(out, cache_dir=cache_dir)
    assert [(i.name, i.element_type) for i in m.info.inputs] == [("text", "string")]
    tolerance = case["tolerance"]
    for call in case["calls"]:
        texts = call["inputs"]["text"]["data"]
        want = call["pooled"]["mean normalize"]
        got = m.predict(text=texts)["sentence_embedding"]
        assert list(got.shape) == want["shape"]
        np.testing.assert_allclose(got.ravel(), want["data"], rtol=tolerance["rtol"], atol=tolerance["atol"])
