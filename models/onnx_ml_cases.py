#!/usr/bin/env python3
"""ONNX-ML operators one at a time, on the attribute values and inputs where
onnxruntime's behaviour is easy to get wrong: binary tree classifiers (each
of onnxruntime's label rules), aggregate functions, NaN and missing-value
tracks, every post_transform, linear classifiers with one score, SVMs
without support vectors, LabelEncoder's opsets and NaN keys, one-hot
encoding of unknown and fractional categories, and so on.

    .venv/bin/python models/onnx_ml_cases.py      # write the cases and onnxruntime's outputs

Also models onnxruntime runs and wasmodel refuses on purpose, in
tests/fixtures/onnx_ml/refused/, with the words the refusal must contain.

Each case is a one-node model written with onnx.helper (no exporter makes
these on purpose) in tests/fixtures/onnx_ml/<case>.onnx, with its inputs in
<case>.json, to which models/reference.py adds what onnxruntime answers;
crates/engine/tests/models.rs holds the engine to it. Needs only
models/requirements.txt.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fixtures" / "onnx_ml"
NAN = float("nan")

FLOAT, DOUBLE, INT64, STRING = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.STRING


def model(op, inputs, outputs, ml_opset=3, opset=17, initializers=(), domain="ai.onnx.ml", **attributes):
    """A one-node model: `inputs` and `outputs` are (name, type, shape); an
    output of type "zipmap" is a ZipMap's sequence of maps from strings."""
    node = helper.make_node(op, [i[0] for i in inputs], [o[0] for o in outputs],
                            domain=domain, **attributes)

    def value_info(name, elem_type, shape):
        if elem_type == "zipmap":
            maps = helper.make_map_type_proto(STRING, helper.make_tensor_type_proto(FLOAT, []))
            return helper.make_value_info(name, helper.make_sequence_type_proto(maps))
        return helper.make_tensor_value_info(name, elem_type, shape)

    graph = helper.make_graph(
        [node], op,
        [value_info(*i) for i in inputs if i[0] not in {t.name for t in initializers}],
        [value_info(*o) for o in outputs],
        initializer=list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                helper.make_opsetid("ai.onnx.ml", ml_opset)])
    m.ir_version = 8
    return m


def tensor(data, dtype):
    """A fixture tensor (wasmodel's JSON)."""
    names = {np.float32: "f32", np.float64: "f64", np.int64: "i64", object: "string", np.int32: "i32"}
    array = np.asarray(data, dtype=dtype)
    flat = array.reshape(-1).tolist()
    if dtype in (np.float32, np.float64):
        flat = ["NaN" if isinstance(x, float) and math.isnan(x) else x for x in flat]
    return {"dtype": names[dtype], "shape": list(array.shape), "data": flat}


# -- trees ----------------------------------------------------------------------

def tree_classifier(labels, leaves, post="NONE", base=None, modes=None, mvtt=None,
                    label_attr="classlabels_int64s", input_type=FLOAT):
    """Two trees over features 0 and 1: a split at 0.5 each (mode per
    tree), leaves given as [(tree, node, class_id, weight)]."""
    modes = modes or ["BRANCH_LEQ", "BRANCH_LEQ"]
    attributes = dict(
        nodes_treeids=[0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 0, 1, 2],
        nodes_featureids=[0, 0, 0, 1, 0, 0], nodes_values=[0.5, 0, 0, 0.5, 0, 0],
        nodes_modes=[modes[0], "LEAF", "LEAF", modes[1], "LEAF", "LEAF"],
        nodes_truenodeids=[1, 0, 0, 1, 0, 0], nodes_falsenodeids=[2, 0, 0, 2, 0, 0],
        class_treeids=[l[0] for l in leaves], class_nodeids=[l[1] for l in leaves],
        class_ids=[l[2] for l in leaves], class_weights=[l[3] for l in leaves],
        post_transform=post)
    attributes[label_attr] = labels
    if base is not None:
        attributes["base_values"] = base
    if mvtt is not None:
        attributes["nodes_missing_value_tracks_true"] = mvtt
    label_type = STRING if label_attr == "classlabels_strings" else INT64
    return model("TreeEnsembleClassifier", [("X", input_type, [None, 2])],
                 [("label", label_type, [None]), ("scores", FLOAT, [None, len(labels)])], **attributes)


# Rows crossing both splits, and a NaN in each feature.
TREE_ROWS = [[0.1, 0.1], [0.1, 0.9], [0.9, 0.1], [0.9, 0.9], [0.5, 0.5], [NAN, 0.9], [0.9, NAN]]


def tree_regressor(aggregate, targets=1, leaves=None, base=None, post="NONE"):
    leaves = leaves or [(0, 1, 0, 1.0), (0, 2, 0, 4.0), (1, 1, 0, -2.0), (1, 2, 0, 3.0)]
    attributes = dict(
        nodes_treeids=[0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 0, 1, 2],
        nodes_featureids=[0, 0, 0, 1, 0, 0], nodes_values=[0.5, 0, 0, 0.5, 0, 0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LT", "LEAF", "LEAF"],
        nodes_truenodeids=[1, 0, 0, 1, 0, 0], nodes_falsenodeids=[2, 0, 0, 2, 0, 0],
        target_treeids=[l[0] for l in leaves], target_nodeids=[l[1] for l in leaves],
        target_ids=[l[2] for l in leaves], target_weights=[l[3] for l in leaves],
        n_targets=targets, aggregate_function=aggregate, post_transform=post)
    if base is not None:
        attributes["base_values"] = base
    return model("TreeEnsembleRegressor", [("X", FLOAT, [None, 2])],
                 [("Y", FLOAT, [None, targets])], **attributes)


def cases():
    rows = {"X": tensor(TREE_ROWS, np.float32)}
    double_rows = {"X": tensor(TREE_ROWS, np.float64)}
    int_rows = {"X": tensor([[0, 1], [1, 0], [2, 2]], np.int64)}
    yield "tree_binary_positive_weights", tree_classifier(
        [10, 20], [(0, 1, 0, 0.1), (0, 2, 0, 0.4), (1, 1, 0, 0.1), (1, 2, 0, 0.3)]), rows
    yield "tree_binary_logistic_one_base", tree_classifier(
        [0, 1], [(0, 1, 0, -0.8), (0, 2, 0, 0.6), (1, 1, 0, -0.3), (1, 2, 0, 0.5)],
        post="LOGISTIC", base=[0.2]), rows
    yield "tree_binary_two_ids", tree_classifier(
        [7, 9], [(0, 1, 0, 0.8), (0, 2, 1, 0.6), (1, 1, 0, 0.1), (1, 2, 1, 0.3)]), rows
    yield "tree_binary_string_labels", tree_classifier(
        ["no", "yes"], [(0, 1, 0, 0.2), (0, 2, 0, 0.7), (1, 1, 0, 0.1), (1, 2, 0, 0.3)],
        label_attr="classlabels_strings"), rows
    yield "tree_multiclass_softmax_base", tree_classifier(
        [0, 1, 2], [(0, 1, 0, 0.5), (0, 2, 1, 0.9), (1, 1, 2, 0.7), (1, 2, 0, 0.2)],
        post="SOFTMAX", base=[0.1, -0.1, 0.3]), rows
    yield "tree_multiclass_voteless_class", tree_classifier(
        [0, 1, 2], [(0, 1, 0, -0.2), (0, 2, 2, -0.3), (1, 1, 0, -0.1), (1, 2, 2, -0.4)]), rows
    yield "tree_modes_and_missing_tracks", tree_classifier(
        [0, 1, 2], [(0, 1, 0, 1.0), (0, 2, 1, 1.0), (1, 1, 2, 1.0), (1, 2, 1, 0.5)],
        modes=["BRANCH_GT", "BRANCH_NEQ"], mvtt=[1, 0, 0, 0, 0, 0]), rows
    yield "tree_softmax_zero", tree_classifier(
        [0, 1, 2], [(0, 1, 0, 0.0), (0, 2, 1, 0.9), (1, 1, 2, 0.7), (1, 2, 0, -0.2)],
        post="SOFTMAX_ZERO"), rows
    yield "tree_double_input", tree_classifier(
        [0, 1, 2], [(0, 1, 0, 0.5), (0, 2, 1, 0.9), (1, 1, 2, 0.7), (1, 2, 0, 0.2)],
        modes=["BRANCH_GTE", "BRANCH_EQ"], input_type=DOUBLE), double_rows
    yield "tree_int64_input", tree_classifier(
        [0, 1, 2], [(0, 1, 0, 0.5), (0, 2, 1, 0.9), (1, 1, 2, 0.7), (1, 2, 0, 0.2)],
        input_type=INT64), int_rows
    for aggregate in ["SUM", "AVERAGE", "MIN", "MAX"]:
        yield f"tree_regressor_{aggregate.lower()}", tree_regressor(aggregate, base=[0.5]), rows
    yield "tree_regressor_two_targets_voteless", tree_regressor(
        "SUM", targets=2, leaves=[(0, 1, 0, 1.0), (0, 2, 0, 4.0), (1, 1, 0, -2.0), (1, 2, 1, 3.0)],
        base=[0.5, 0.25], post="LOGISTIC"), rows
    yield "tree_regressor_probit", tree_regressor(
        "SUM", leaves=[(0, 1, 0, 0.1), (0, 2, 0, 0.4), (1, 1, 0, 0.2), (1, 2, 0, 0.3)],
        post="PROBIT"), rows

    # -- linear ---------------------------------------------------------------
    x3 = {"X": tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [-3.0, 1.5, 0.2], [10.0, 10.0, -10.0]], np.float32)}
    def linear_classifier(intercepts, coefficients, labels=None, post="NONE", label_attr="classlabels_ints"):
        attributes = dict(coefficients=coefficients, intercepts=intercepts, post_transform=post)
        if labels is not None:
            attributes[label_attr] = labels
        n = len(intercepts)
        columns = 2 if n == 1 and labels is not None and len(labels) == 2 else n
        label_type = STRING if label_attr == "classlabels_strings" else INT64
        return model("LinearClassifier", [("X", FLOAT, [None, 3])],
                     [("label", label_type, [None]), ("scores", FLOAT, [None, columns])], **attributes)
    w3 = [0.2, -0.5, 0.3, 0.1, 0.4, -0.2, -0.6, 0.1, 0.05]
    for post in ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"]:
        yield f"linear_classifier_{post.lower()}", linear_classifier([0.1, -0.2, 0.05], w3, [3, 5, 8], post), x3
    for post in ["NONE", "LOGISTIC", "SOFTMAX"]:
        yield f"linear_classifier_one_score_two_labels_{post.lower()}", linear_classifier(
            [0.1], [0.2, -0.5, 0.3], ["neg", "pos"], post, "classlabels_strings"), x3
    yield "linear_classifier_one_score_no_labels", linear_classifier([0.1], [0.2, -0.5, 0.3], None, "NONE"), x3
    for post, targets in [("NONE", 1), ("LOGISTIC", 1), ("PROBIT", 1), ("SOFTMAX", 3)]:
        yield f"linear_regressor_{post.lower()}_{targets}", model(
            "LinearRegressor", [("X", FLOAT, [None, 3])], [("Y", FLOAT, [None, targets])],
            coefficients=w3[:3 * targets], intercepts=[0.5, -0.5, 0.1][:targets], targets=targets,
            post_transform=post), x3

    # -- SVM ------------------------------------------------------------------
    yield "svm_linear_binary", model(
        "SVMClassifier", [("X", FLOAT, [None, 3])], [("label", INT64, [None]), ("scores", FLOAT, [None, 2])],
        coefficients=[0.2, -0.5, 0.3, -0.2, 0.5, -0.3], rho=[0.1], kernel_type="LINEAR",
        kernel_params=[0.0, 0.0, 0.0], classlabels_ints=[0, 1]), x3
    yield "svm_regressor_one_class", model(
        "SVMRegressor", [("X", FLOAT, [None, 3])], [("Y", FLOAT, [None, 1])],
        support_vectors=[1.0, 0.0, 0.5, -1.0, 0.5, 0.0], coefficients=[0.7, -0.4], rho=[-0.1],
        n_supports=2, one_class=1, kernel_type="RBF", kernel_params=[0.3, 0.0, 3.0]), x3
    yield "svm_regressor_poly", model(
        "SVMRegressor", [("X", FLOAT, [None, 3])], [("Y", FLOAT, [None, 1])],
        support_vectors=[1.0, 0.0, 0.5, -1.0, 0.5, 0.0], coefficients=[0.7, -0.4], rho=[-0.1],
        n_supports=2, kernel_type="POLY", kernel_params=[0.3, 1.0, 2.5]), x3

    # -- encoders -------------------------------------------------------------
    words = {"X": tensor([["north"], ["south"], ["nowhere"], ["east"]], object)}
    yield "label_encoder_v2_strings_to_floats", model(
        "LabelEncoder", [("X", STRING, [None, 1])], [("Y", FLOAT, [None, 1])], ml_opset=2,
        keys_strings=["north", "south", "east", "north"], values_floats=[1.5, 2.5, 3.5, 9.0],
        default_float=-7.0), words
    floats_nan = {"X": tensor([[0.5], [NAN], [-0.0], [2.0]], np.float32)}
    yield "label_encoder_v2_nan_key", model(
        "LabelEncoder", [("X", FLOAT, [None, 1])], [("Y", INT64, [None, 1])], ml_opset=2,
        keys_floats=[0.5, NAN, 0.0], values_int64s=[1, 2, 3]), floats_nan
    yield "label_encoder_v4_nan_key_default_tensor", model(
        "LabelEncoder", [("X", FLOAT, [None, 1])], [("Y", STRING, [None, 1])], ml_opset=4,
        keys_floats=[0.5, NAN, 0.0], values_strings=["half", "missing", "zero"],
        default_tensor=helper.make_tensor("d", STRING, [1], [b"other"])), floats_nan
    yield "label_encoder_v1_to_int", model(
        "LabelEncoder", [("X", STRING, [None, 1])], [("Y", INT64, [None, 1])], ml_opset=1,
        classes_strings=["east", "north", "south"], default_int64=-5), words
    yield "label_encoder_v1_to_string", model(
        "LabelEncoder", [("X", INT64, [None])], [("Y", STRING, [None])], ml_opset=1,
        classes_strings=["east", "north", "south"]), {"X": tensor([0, 2, 7, -1], np.int64)}
    yield "one_hot_encoder_strings_unknown", model(
        "OneHotEncoder", [("X", STRING, [None, 1])], [("Y", FLOAT, [None, 1, 3])],
        cats_strings=["east", "north", "south"], zeros=1), words
    yield "one_hot_encoder_truncates_floats", model(
        "OneHotEncoder", [("X", DOUBLE, [None, 2])], [("Y", FLOAT, [None, 2, 3])],
        cats_int64s=[1, 2, 5], zeros=1), {"X": tensor([[1.9, 2.0], [5.5, -1.2], [2.2, 0.0]], np.float64)}

    # -- preprocessing --------------------------------------------------------
    x_nan = {"X": tensor([[1.0, NAN, 3.0], [NAN, 0.0, -1.0]], np.float32)}
    yield "imputer_nan", model(
        "Imputer", [("X", FLOAT, [None, 3])], [("Y", FLOAT, [None, 3])],
        imputed_value_floats=[10.0, 20.0, 30.0], replaced_value_float=NAN), x_nan
    yield "imputer_value_broadcast", model(
        "Imputer", [("X", FLOAT, [None, 3])], [("Y", FLOAT, [None, 3])],
        imputed_value_floats=[7.0], replaced_value_float=0.0), x_nan
    yield "imputer_int64", model(
        "Imputer", [("X", INT64, [None, 2])], [("Y", INT64, [None, 2])],
        imputed_value_int64s=[5, 6], replaced_value_int64=-1), \
        {"X": tensor([[-1, 3], [4, -1]], np.int64)}
    yield "scaler_broadcast", model(
        "Scaler", [("X", DOUBLE, [None, 3])], [("Y", FLOAT, [None, 3])], offset=[1.0], scale=[0.5]), \
        {"X": tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 1e10]], np.float64)}
    yield "binarizer", model(
        "Binarizer", [("X", FLOAT, [None, 3])], [("Y", FLOAT, [None, 3])], threshold=0.5), \
        {"X": tensor([[0.5, 0.50001, -1.0], [2.0, 0.0, 0.4999]], np.float32)}
    rows_signs = {"X": tensor([[1.0, -2.0, 3.0], [-1.0, -2.0, -4.0], [0.0, 0.0, 0.0]], np.float32)}
    for norm in ["MAX", "L1", "L2"]:
        yield f"normalizer_{norm.lower()}", model(
            "Normalizer", [("X", FLOAT, [None, 3])], [("Y", FLOAT, [None, 3])], norm=norm), rows_signs
    yield "feature_vectorizer", model(
        "FeatureVectorizer", [("A", FLOAT, [None, 2]), ("B", FLOAT, [None, 3])], [("Y", FLOAT, [None, 6])],
        inputdimensions=[3, 3]), \
        {"A": tensor([[1, 2], [3, 4]], np.float32), "B": tensor([[5, 6, 7], [8, 9, 10]], np.float32)}
    yield "array_feature_extractor_scalar_index", model(
        "ArrayFeatureExtractor", [("X", FLOAT, [None, 3]), ("I", INT64, [])], [("Y", FLOAT, [None, 1])],
        initializers=[numpy_helper.from_array(np.array(2, dtype=np.int64), "I")]), x3
    yield "array_feature_extractor_1d", model(
        "ArrayFeatureExtractor", [("X", STRING, [4]), ("I", INT64, [2])], [("Y", STRING, [1, 2])],
        initializers=[numpy_helper.from_array(np.array([3, 0], dtype=np.int64), "I")]), \
        {"X": tensor(["a", "b", "c", "d"], object)}
    big = {"X": tensor([[1000.0, 999.0, -5.0], [-1000.0, -1001.0, -999.0]], np.float32)}
    yield "reduce_log_sum_exp_large_values", model(
        "ReduceLogSumExp", [("X", FLOAT, [None, 3]), ("axes", INT64, [1])], [("Y", FLOAT, [None])],
        domain="", opset=18, keepdims=0,
        initializers=[numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")]), big
    yield "reduce_log_sum_exp_attribute_axes", model(
        "ReduceLogSumExp", [("X", FLOAT, [None, 3])], [("Y", FLOAT, [None, 1])],
        domain="", opset=13, axes=[-1]), big
    yield "zipmap_strings", model(
        "ZipMap", [("X", FLOAT, [None, 3])], [("Y", "zipmap", None)], classlabels_strings=["a", "b", "c"]), \
        {"X": tensor([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], np.float32)}


def refused():
    """Models onnxruntime runs that wasmodel refuses on purpose, and what
    its message must name."""
    leaves = [(0, 1, 0, 0.1), (0, 2, 0, 0.4), (1, 1, 0, 0.1), (1, 2, 0, 0.3)]
    yield "tree_binary_probit", tree_classifier([0, 1], leaves, post="PROBIT"), "attribute `post_transform`"
    odd = tree_regressor("SUM")
    odd.graph.node[0].attribute.append(helper.make_attribute("nodes_comments", ["a"] * 6))
    yield "tree_unknown_attribute", odd, "attribute `nodes_comments` is not supported"
    v5 = model("TreeEnsemble", [("X", FLOAT, [None, 2])], [("Y", FLOAT, [None, 1])], ml_opset=5,
               nodes_featureids=[0], nodes_splits=helper.make_tensor("s", FLOAT, [1], [0.5]),
               nodes_modes=helper.make_tensor("m", TensorProto.UINT8, [1], [0]),
               nodes_truenodeids=[0], nodes_falsenodeids=[1], nodes_trueleafs=[1], nodes_falseleafs=[1],
               tree_roots=[0], leaf_targetids=[0, 0],
               leaf_weights=helper.make_tensor("w", FLOAT, [2], [1.0, 2.0]), n_targets=1)
    yield "tree_ensemble_v5", v5, "ai.onnx.ml:TreeEnsemble"
    bad = model("LinearClassifier", [("X", FLOAT, [None, 3])],
                [("label", INT64, [None]), ("scores", FLOAT, [None, 2])],
                coefficients=[0.1] * 5, intercepts=[0.0, 1.0], classlabels_ints=[0, 1])
    yield "linear_classifier_bad_coefficients", bad, "attribute `coefficients`"


def main():
    CASES.mkdir(parents=True, exist_ok=True)
    (CASES / "refused").mkdir(exist_ok=True)
    for name, case, message in refused():
        path = CASES / "refused" / f"{name}.onnx"
        onnx.save(case, path)
        (CASES / "refused" / f"{name}.json").write_text(json.dumps({"message": message}) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    for name, case, inputs in cases():
        onnx.checker.check_model(case)
        path = CASES / f"{name}.onnx"
        onnx.save(case, path)
        (CASES / f"{name}.json").write_text(
            json.dumps({"model": str(path.relative_to(ROOT)), "inputs": inputs}, indent=1) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    # onnxruntime's outputs for the inputs just stored.
    names = sorted(p.stem for p in CASES.glob("*.onnx"))
    subprocess.run([sys.executable, str(ROOT / "models" / "reference.py"), *names], check=True)


if __name__ == "__main__":
    main()
