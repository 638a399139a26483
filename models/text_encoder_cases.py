#!/usr/bin/env python3
"""Tiny transformer encoders with a tokenizer in front, for `wasmodel build
--tokenizer` (crates/engine/src/text_input.rs): what a component that takes
text must answer, by the `tokenizers` package and onnxruntime.

    .venv/bin/python models/text_encoder_cases.py           # write them
    .venv/bin/python models/text_encoder_cases.py --check   # still the same?

Writes tests/fixtures/text_encoder/:
- bert.onnx: a 2-layer BERT (hidden size 16, random weights from a seeded
  generator) over the vocabulary of tests/fixtures/tokenizers/
  bert_uncased.json, written by models/corpus/bert_to_onnx.py as PyTorch's
  exporter writes `BertModel`: inputs input_ids, attention_mask,
  token_type_ids [batch_size, sequence_length], output last_hidden_state;
- roberta.onnx: the same over roberta.json's byte-level BPE vocabulary,
  without token_type_ids (a RoBERTa-like encoder's inputs);
- bert_int8.onnx: bert.onnx as onnxruntime's `quantize_dynamic` writes it
  with its defaults (int8 weights: `MatMulInteger` after
  `DynamicQuantizeLinear` of the activations, embedding tables behind
  `DequantizeLinear`), a model that arrives already quantized;
- bert_classifier.onnx: bert.onnx with the head of Hugging Face's
  `BertForSequenceClassification` (the first token's state through the
  pooler, a dense layer and tanh, then the classifier's dense layer, each a
  `Gemm` of the weight transposed as PyTorch writes `nn.Linear`) ending
  at `logits` [batch_size, 3], and bert_classifier_config.json, the
  `config.json` whose `id2label` names the three classes;
- <case>.json: the model, its tokenizer, and calls: texts (the first ten of
  models/tokenizer_cases.py's TEXTS as one batch, then texts past the
  tokenizer's truncation), and onnxruntime's outputs given the token ids the
  `tokenizers` package makes of them, padded to each call's longest as the
  files say, and the poolings of `--pooling` (POOLINGS) computed from
  them in NumPy as sentence-transformers computes them.

`--check` recomputes the outputs from the stored models and texts and fails
if they moved beyond the tolerance (scripts/test.sh runs it). Needs
models/requirements.txt and the `tokenizers` package scripts/setup.sh
--tests installs.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "models"))
sys.path.insert(0, str(ROOT / "models" / "corpus"))
import bert_to_onnx  # noqa: E402
from tokenizer_cases import TEXTS  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "text_encoder"
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}
CASES = {
    "bert": ("bert_uncased.json", True),
    "roberta": ("roberta.json", False),
}
# Sequence classifiers: case -> (the encoder it puts a head on, id2label).
CLASSIFIERS = {"bert_classifier": ("bert", {"0": "negative", "1": "neutral", "2": "positive"})}
# Quantized twins: case -> the case it quantizes.
QUANTIZED = {"bert_int8": "bert"}
# onnxruntime's dynamically quantized operators quantize their own
# intermediate values: a value that differs in its last float bit can land
# on the neighbouring int8 level (as in models/reference.py).
QUANTIZED_TOLERANCE = {"rtol": 1e-3, "atol": 1e-3}
POOLINGS = ["mean", "mean normalize", "cls", "cls normalize"]
CALLS = [
    TEXTS[:10],
    ["a text that runs on " * 20, "short"],
]


def weights(vocabulary, seed):
    """A BERT's tensors by name, random from a seeded generator."""
    rng = np.random.default_rng(seed)
    hidden, inner, layers = 16, 32, 2

    def normal(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {
        "embeddings.word_embeddings.weight": normal(vocabulary, hidden, scale=1.0),
        "embeddings.position_embeddings.weight": normal(64, hidden, scale=1.0),
        "embeddings.token_type_embeddings.weight": normal(2, hidden, scale=1.0),
    }

    def layer_norm(prefix):
        w[f"{prefix}.weight"] = 1 + normal(hidden, scale=0.1)
        w[f"{prefix}.bias"] = normal(hidden, scale=0.1)

    def dense(prefix, into, out):
        w[f"{prefix}.weight"] = normal(out, into)
        w[f"{prefix}.bias"] = normal(out, scale=0.1)

    layer_norm("embeddings.LayerNorm")
    for i in range(layers):
        p = f"encoder.layer.{i}"
        for part in ("query", "key", "value"):
            dense(f"{p}.attention.self.{part}", hidden, hidden)
        dense(f"{p}.attention.output.dense", hidden, hidden)
        layer_norm(f"{p}.attention.output.LayerNorm")
        dense(f"{p}.intermediate.dense", hidden, inner)
        dense(f"{p}.output.dense", inner, hidden)
        layer_norm(f"{p}.output.LayerNorm")
    config = {"hidden_size": hidden, "num_attention_heads": 4, "num_hidden_layers": layers,
              "max_position_embeddings": 64, "layer_norm_eps": 1e-12}
    return w, config


def classifier(encoder, labels, seed):
    """`encoder` (an ONNX file) with BertForSequenceClassification's head,
    random from a seeded generator."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    model = onnx.load(str(OUT / f"{encoder}.onnx"))
    graph = model.graph
    states = graph.output[0].name
    hidden = next(t for t in graph.initializer if t.name.endswith("pooler.dense.weight")
                  or t.name.endswith("LayerNorm.weight")).dims[-1]
    weights = {
        "head.first": np.array(0, np.int64),
        "pooler.dense.weight": rng.normal(0, 0.2, (hidden, hidden)).astype(np.float32),
        "pooler.dense.bias": rng.normal(0, 0.2, hidden).astype(np.float32),
        "classifier.weight": rng.normal(0, 0.5, (len(labels), hidden)).astype(np.float32),
        "classifier.bias": rng.normal(0, 0.2, len(labels)).astype(np.float32),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in weights.items())
    # `nn.Linear` on a matrix, as PyTorch's exporter writes it: a Gemm of
    # the weight as stored ([out, in]), transposed.
    graph.node.extend([
        helper.make_node("Gather", [states, "head.first"], ["head.cls"], axis=1),
        helper.make_node("Gemm", ["head.cls", "pooler.dense.weight", "pooler.dense.bias"],
                         ["head.pooler.dense"], transB=1),
        helper.make_node("Tanh", ["head.pooler.dense"], ["head.pooled"]),
        helper.make_node("Gemm", ["head.pooled", "classifier.weight", "classifier.bias"],
                         ["logits"], alpha=1.0, beta=1.0, transB=1),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(
        "logits", TensorProto.FLOAT, ["batch_size", len(labels)]))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def tensor(array):
    if array.dtype == object:
        return {"dtype": "string", "shape": list(array.shape), "data": array.ravel().tolist()}
    return {"dtype": "f32", "shape": list(array.shape),
            "data": [float(x) for x in array.ravel().tolist()]}


def outputs(model_path, tokenizer_path, texts):
    """onnxruntime's outputs for the texts, tokenized by `tokenizers`."""
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    encodings = tokenizer.encode_batch(texts)
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    fields = {"input_ids": "ids", "attention_mask": "attention_mask",
              "token_type_ids": "type_ids"}
    feeds = {i.name: np.array([getattr(e, fields[i.name]) for e in encodings], np.int64)
             for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def pooled(states, mask, pooling):
    """sentence-transformers' `Pooling` (and `Normalize`) of token states."""
    kind, *normalize = pooling.split()
    if kind == "mean":
        mask = mask[:, :, None].astype(np.float32)
        embedding = (states * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
    else:
        embedding = states[:, 0]
    if normalize:
        norm = np.sqrt((embedding * embedding).sum(axis=1, keepdims=True))
        embedding = embedding / np.maximum(norm, 1e-12)
    return embedding.astype(np.float32)


def fixture(stem, tokenizer_file, tolerance=TOLERANCE):
    model = OUT / f"{stem}.onnx"
    tokenizer = ROOT / "tests" / "fixtures" / "tokenizers" / tokenizer_file
    calls = []
    for texts in CALLS:
        got = outputs(model, tokenizer, texts)
        mask = np.array([e.attention_mask for e in Tokenizer.from_file(str(tokenizer))
                         .encode_batch(texts)])
        calls.append({"inputs": {"text": tensor(np.array(texts, dtype=object))},
                      "outputs": {name: tensor(value) for name, value in got.items()},
                      "pooled": {p: tensor(pooled(got["last_hidden_state"], mask, p))
                                 for p in POOLINGS} if "last_hidden_state" in got else {}})
    return {"model": model.relative_to(ROOT).as_posix(),
            "tokenizer": tokenizer.relative_to(ROOT).as_posix(),
            "generated_by": f"onnxruntime {onnxruntime.__version__}",
            "tolerance": tolerance, "calls": calls}


def all_cases():
    """Every case: (stem, tokenizer file, tolerance)."""
    cases = [(stem, tokenizer, TOLERANCE) for stem, (tokenizer, _) in CASES.items()]
    cases += [(stem, CASES[of][0], QUANTIZED_TOLERANCE) for stem, of in QUANTIZED.items()]
    cases += [(stem, CASES[of][0], TOLERANCE) for stem, (of, _) in CLASSIFIERS.items()]
    return cases


def check():
    failures = []
    for stem, tokenizer_file, tolerance in all_cases():
        stored = json.loads((OUT / f"{stem}.json").read_text())
        now = fixture(stem, tokenizer_file, tolerance)
        for k, (old, new) in enumerate(zip(stored["calls"], now["calls"])):
            if old["inputs"] != new["inputs"]:
                failures.append(f"{stem}, call {k}: the texts differ from CALLS")
            for name, want in [*old["outputs"].items(), *old["pooled"].items()]:
                got = new["outputs"].get(name, new["pooled"].get(name))
                if got is None or got["shape"] != want["shape"] or not np.allclose(
                        got["data"], want["data"], **tolerance):
                    failures.append(f"{stem}, call {k}: {name} moved")
    if failures:
        raise SystemExit("\n".join(failures))
    print(f"text encoders: {len(all_cases())} cases still match onnxruntime and tokenizers")


def main():
    if sys.argv[1:] == ["--check"]:
        return check()
    OUT.mkdir(parents=True, exist_ok=True)
    for seed, (stem, (tokenizer_file, token_types)) in enumerate(CASES.items()):
        tokenizer = json.loads((ROOT / "tests" / "fixtures" / "tokenizers" / tokenizer_file)
                               .read_text())
        w, config = weights(len(tokenizer["model"]["vocab"]), seed)
        (OUT / f"{stem}.onnx").write_bytes(
            bert_to_onnx.convert_tensors(w, config, token_types=token_types))
        (OUT / f"{stem}.json").write_text(
            json.dumps(fixture(stem, tokenizer_file), ensure_ascii=False) + "\n")
        print(f"wrote {stem}.onnx and {stem}.json")
    from onnxruntime.quantization import quantize_dynamic
    for stem, of in QUANTIZED.items():
        quantize_dynamic(OUT / f"{of}.onnx", OUT / f"{stem}.onnx")
        (OUT / f"{stem}.json").write_text(json.dumps(
            fixture(stem, CASES[of][0], QUANTIZED_TOLERANCE), ensure_ascii=False) + "\n")
        print(f"wrote {stem}.onnx and {stem}.json")
    for seed, (stem, (of, labels)) in enumerate(CLASSIFIERS.items()):
        (OUT / f"{stem}.onnx").write_bytes(classifier(of, labels, 100 + seed))
        (OUT / f"{stem}_config.json").write_text(json.dumps(
            {"architectures": ["BertForSequenceClassification"], "id2label": labels,
             "label2id": {name: int(i) for i, name in labels.items()}}, indent=2) + "\n")
        (OUT / f"{stem}.json").write_text(
            json.dumps(fixture(stem, CASES[of][0]), ensure_ascii=False) + "\n")
        print(f"wrote {stem}.onnx, {stem}_config.json and {stem}.json")


if __name__ == "__main__":
    main()
