"""A BERT encoder's safetensors weights written as the ONNX graph
PyTorch's exporter makes of Hugging Face's `BertModel` (what optimum
writes for feature extraction), with the onnx helper and NumPy: no
PyTorch, which the registries here only ship with gigabytes of CUDA.

Inputs `input_ids`, `attention_mask` and `token_type_ids`, int64
[batch_size, sequence_length]; output `last_hidden_state`, float32
[batch_size, sequence_length, hidden_size]. The operators are the
exporter's at opset 14: embeddings by Gather and the position ids sliced
from their buffer, layer normalization written out (ReduceMean, Sub, Pow,
Sqrt, Div), attention by MatMul and Softmax with the mask added as
(1 - mask) times float32's lowest, GELU by Erf.

`convert_tf_classifier` writes a sequence classifier saved by
TensorFlow's `TFBertForSequenceClassification` (`tf_model.h5`) as the
graph the exporter makes of `BertForSequenceClassification`: the encoder
above, then the pooler (the first token's state through a dense layer and
Tanh) and the classifier's dense layer, output `logits` [batch_size,
num_labels].

Used by models/corpus/fetch.py for corpus entries with
`"convert": "bert"` and `"convert": "tf-bert-classifier"`.
"""

import json
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16}


def read_safetensors(data):
    """The tensors of a .safetensors file's bytes, by name."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=DTYPES[spec["dtype"]])
        tensors[name] = array.reshape(spec["shape"]).astype(np.float32 if spec["dtype"] != "I64"
                                                             else np.int64)
    return tensors


class Graph:
    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def constant(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, **attributes):
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attributes))
        return out


def convert(safetensors_bytes, config):
    """The ONNX model (bytes) of a BERT's .safetensors bytes and its
    config.json (as a dict)."""
    return convert_tensors(read_safetensors(safetensors_bytes), config)


def read_tf_h5(file):
    """The tensors of a Keras BERT's weights file (`tf_model.h5`, a path or
    a file object), under the names PyTorch's `BertFor...` models give
    them, each dense kernel transposed to PyTorch's [out, in]."""
    import h5py  # pinned in models/requirements.txt

    tensors = {}

    def take(name, dataset):
        if not isinstance(dataset, h5py.Dataset):
            return
        # `bert/tf_bert_for_sequence_classification/bert/encoder/layer_._0/
        # attention/self/query/kernel:0` -> `bert.encoder.layer.0.attention.
        # self.query.weight`
        key = name.split("/", 2)[-1].rsplit(":", 1)[0]
        key = key.replace("layer_._", "layer.").replace("/", ".")
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight")
        key = key.replace("LayerNorm.beta", "LayerNorm.bias")
        key = key.replace("_embeddings.embeddings", "_embeddings.weight")
        array = np.asarray(dataset, dtype=np.float32)
        if key.endswith(".kernel"):
            key, array = key[: -len(".kernel")] + ".weight", np.ascontiguousarray(array.T)
        tensors[key] = array

    with h5py.File(file, "r") as f:
        f.visititems(take)
    return tensors


def convert_tf_classifier(h5_file, config):
    """The ONNX model (bytes) of a `TFBertForSequenceClassification`'s
    weights file and its config.json (as a dict)."""
    w = read_tf_h5(h5_file)
    missing = [k for k in ("bert.pooler.dense.weight", "classifier.weight") if k not in w]
    if missing:
        raise ValueError(f"not a BERT sequence classifier's weights: no {', '.join(missing)} "
                         f"among {sorted(w)[:6]}...")
    return convert_tensors(w, config, classifier=True)


def convert_tensors(w, config, token_types=True, classifier=False):
    """The ONNX model (bytes) of a BERT's tensors by name. Without
    `token_types` the graph has no `token_type_ids` input and adds type 0's
    embedding to every token (a RoBERTa-like encoder's inputs). With
    `classifier` it ends as `BertForSequenceClassification` does, in
    `logits`: the first token's state through the pooler (`bert.pooler.dense`
    and Tanh) and the classifier (`classifier`), each dense layer a Gemm
    with transB, as the exporter writes `nn.Linear`."""
    top = {k: v for k, v in w.items() if k.startswith(("bert.pooler.", "classifier."))}
    # Keys are `embeddings...` (sentence-transformers) or `bert.embeddings...`.
    if "bert.embeddings.word_embeddings.weight" in w:
        w = {k[len("bert."):]: v for k, v in w.items() if k.startswith("bert.")}
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head = hidden // heads
    eps = config.get("layer_norm_eps", 1e-12)
    g = Graph()
    c = g.constant

    one_f, two_f = c("one", np.float32(1.0)), c("two", np.float32(2.0))

    def layer_norm(x, prefix):
        mean = g.op("ReduceMean", [x], axes=[-1])
        centered = g.op("Sub", [x, mean])
        variance = g.op("ReduceMean", [g.op("Pow", [centered, two_f])], axes=[-1])
        std = g.op("Sqrt", [g.op("Add", [variance, c(f"{prefix}.eps", np.float32(eps))])])
        normed = g.op("Div", [centered, std])
        return g.op("Add", [g.op("Mul", [normed, c(f"{prefix}.weight", w[f"{prefix}.weight"])]),
                            c(f"{prefix}.bias", w[f"{prefix}.bias"])])

    def dense(x, prefix):
        weight = c(f"{prefix}.weight", np.ascontiguousarray(w[f"{prefix}.weight"].T))
        return g.op("Add", [g.op("MatMul", [x, weight]), c(f"{prefix}.bias", w[f"{prefix}.bias"])])

    # Embeddings.
    seq_len = g.op("Gather", [g.op("Shape", ["input_ids"]), c("index_1", np.array([1], np.int64))],
                   axis=0)
    position_ids = g.op("Slice", [
        c("position_ids", w.get("embeddings.position_ids",
                                np.arange(config["max_position_embeddings"])[None])),
        c("zero_1d", np.array([0], np.int64)), seq_len, c("axis_1", np.array([1], np.int64))])
    words = g.op("Gather", [c("word_embeddings", w["embeddings.word_embeddings.weight"]),
                            "input_ids"])
    type_table = w["embeddings.token_type_embeddings.weight"]
    types = (g.op("Gather", [c("token_type_embeddings", type_table), "token_type_ids"])
             if token_types else c("token_type_0", type_table[0]))
    positions = g.op("Gather", [c("position_embeddings", w["embeddings.position_embeddings.weight"]),
                                position_ids])
    h = layer_norm(g.op("Add", [g.op("Add", [words, types]), positions]), "embeddings.LayerNorm")

    # The mask, added to every head's scores.
    mask = g.op("Cast", [g.op("Unsqueeze", ["attention_mask", c("axes_12", np.array([1, 2], np.int64))])],
                to=TensorProto.FLOAT)
    mask = g.op("Mul", [g.op("Sub", [one_f, mask]),
                        c("lowest", np.float32(np.finfo(np.float32).min))])

    split_heads = c("split_heads", np.array([0, 0, heads, head], np.int64))
    merge_heads = c("merge_heads", np.array([0, 0, hidden], np.int64))
    scale = c("scale", np.float32(np.sqrt(head)))
    sqrt2 = c("sqrt2", np.float32(np.sqrt(2.0)))
    half = c("half", np.float32(0.5))
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        q = g.op("Transpose", [g.op("Reshape", [dense(h, f"{p}.attention.self.query"), split_heads])],
                 perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [dense(h, f"{p}.attention.self.key"), split_heads])],
                 perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [dense(h, f"{p}.attention.self.value"), split_heads])],
                 perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("Div", [g.op("MatMul", [q, k]), scale]), mask])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        context = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        h = layer_norm(g.op("Add", [dense(context, f"{p}.attention.output.dense"), h]),
                       f"{p}.attention.output.LayerNorm")
        inner = dense(h, f"{p}.intermediate.dense")
        gelu = g.op("Mul", [g.op("Mul", [inner, g.op("Add", [g.op("Erf", [g.op("Div", [inner, sqrt2])]),
                                                             one_f])]), half])
        h = layer_norm(g.op("Add", [dense(gelu, f"{p}.output.dense"), h]), f"{p}.output.LayerNorm")
    dims = ["batch_size", "sequence_length"]
    if classifier:
        first = g.op("Gather", [h, c("first_token", np.int64(0))], axis=1)
        pooled = g.op("Tanh", [g.op("Gemm", [first, c("pooler.dense.weight", top["bert.pooler.dense.weight"]),
                                              c("pooler.dense.bias", top["bert.pooler.dense.bias"])],
                                     transB=1)])
        g.nodes.append(helper.make_node("Gemm", [pooled, c("classifier.weight", top["classifier.weight"]),
                                                 c("classifier.bias", top["classifier.bias"])],
                                        ["logits"], transB=1))
        output = helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                               ["batch_size", top["classifier.weight"].shape[0]])
    else:
        g.nodes.append(helper.make_node("Identity", [h], ["last_hidden_state"]))
        output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [hidden])
    graph = helper.make_graph(
        g.nodes, "bert",
        [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
         for n in ("input_ids", "attention_mask", "token_type_ids")[:3 if token_types else 2]],
        [output], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)],
                              producer_name="models/corpus/bert_to_onnx.py", ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()
