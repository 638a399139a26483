#!/usr/bin/env python3
"""The model zoo: the estimators and pipelines data scientists ship, trained
on small datasets and exported the way their exporters' documentation shows,
with default options (skl2onnx `to_onnx(model, X[:1])`, onnxmltools
`convert_lightgbm` / `convert_xgboost` with only the input type given).

Run with the pinned stack (models/zoo/requirements.txt):

    python3 -m venv /tmp/zoo && /tmp/zoo/bin/pip install -r models/zoo/requirements.txt
    /tmp/zoo/bin/python models/zoo/generate.py              # every model
    /tmp/zoo/bin/python models/zoo/generate.py svc_rbf      # only the named ones

Writes models/zoo/<name>.onnx and, for each, the held-out rows it is tested
on: tests/fixtures/zoo/<name>.json holds those inputs, to which
models/reference.py (run at the end; it needs no training stack) adds the
outputs onnxruntime gives for them. Everything is seeded: a rerun with the same packages writes
the same files. models/zoo/README.md lists what each file is.

Nothing here changes what the exporters produce (no `options`, no
`target_opset`) but the graph's name, which onnxmltools draws at random and
this script sets to the model's. Dynamic dimensions keep the names (or the
absence of names) the exporter gave them.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "models" / "zoo"
FIXTURES = ROOT / "tests" / "fixtures" / "zoo"
SEED = 0
# Held-out rows each model is tested on.
ROWS = 12


# -- datasets -------------------------------------------------------------------

def split(x, y):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=ROWS, random_state=SEED, stratify=y
                            if y.dtype.kind in "iUO" or len(np.unique(y)) < 20 else None)


def iris():
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return split(x.astype(np.float32), y)


def iris_named():
    """Iris with the species' names as labels: string class labels."""
    from sklearn.datasets import load_iris

    data = load_iris()
    names = np.array(data.target_names)[data.target]
    return split(data.data.astype(np.float32), names)


def cancer():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return split(x.astype(np.float32), y)


def wine():
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    return split(x.astype(np.float32), y)


def diabetes():
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    return train_test_split(x.astype(np.float32), y.astype(np.float32),
                            test_size=ROWS, random_state=SEED)


def digits_counts():
    """The 8x8 digits as pixel counts 0..16: for multinomial naive Bayes."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return split(x.astype(np.float32), y)


def with_missing(x_train, x_test, rate=0.1):
    """The same data with about `rate` of the values missing (NaN), seeded;
    every test row keeps at least one value and some lose several."""
    rng = np.random.default_rng(SEED)
    x_train, x_test = x_train.copy(), x_test.copy()
    x_train[rng.random(x_train.shape) < rate] = np.nan
    x_test[rng.random(x_test.shape) < 3 * rate] = np.nan
    return x_train, x_test


def customers():
    """A churn-like table with numeric and string columns, some numbers
    missing: the shape of data a ColumnTransformer pipeline is made for.
    Returns pandas frames (one ONNX input per column) and a binary target."""
    import pandas as pd

    rng = np.random.default_rng(SEED)
    n = 600
    plan = rng.choice(["basic", "plus", "premium"], size=n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], size=n)
    channel = rng.choice(["web", "store", "phone"], size=n, p=[0.6, 0.3, 0.1])
    age = rng.normal(42, 12, size=n).clip(18, 90)
    tenure = rng.exponential(24, size=n)
    monthly = 20 + 15 * (plan == "plus") + 40 * (plan == "premium") + rng.normal(0, 5, size=n)
    logit = (-0.04 * tenure + 0.02 * (monthly - 40) + 0.8 * (channel == "phone")
             - 0.5 * (region == "north") + rng.normal(0, 0.5, size=n))
    churn = (logit > np.median(logit)).astype(np.int64)
    frame = pd.DataFrame({
        "age": age.astype(np.float32),
        "tenure": tenure.astype(np.float32),
        "monthly": monthly.astype(np.float32),
        "plan": plan,
        "region": region,
        "channel": channel,
    })
    missing = rng.random(n) < 0.08
    frame.loc[missing, "tenure"] = np.nan
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(frame, churn, test_size=ROWS,
                                                        random_state=SEED, stratify=churn)
    # Two held-out customers with no tenure on record: the imputer's case.
    x_test = x_test.copy()
    x_test.iloc[[0, 5], x_test.columns.get_loc("tenure")] = np.nan
    return x_train, x_test, y_train, y_test


def customers_seats():
    """The customers with one more column: how many seats each account
    has, an integer that a pipeline one-hot encodes as a category."""
    x_train, x_test, y_train, y_test = customers()
    rng = np.random.default_rng(SEED + 1)
    x_train, x_test = x_train.copy(), x_test.copy()
    x_train["seats"] = rng.integers(1, 6, size=len(x_train)).astype(np.int64)
    x_test["seats"] = rng.integers(1, 6, size=len(x_test)).astype(np.int64)
    return x_train, x_test, y_train, y_test


# Short texts on three topics, for the text pipelines: sentences drawn from
# each topic's words and common ones. The held-out texts are not drawn:
# they are what a text model meets (capitals, punctuation, accents, emoji,
# CJK, tabs and newlines, underscores and digits, empty and blank strings).
TOPICS = {
    "sport": "match goal team striker coach league tennis players cup season scored won lost final referee",
    "food": "recipe pasta pizza salad soup bake bread roast chicken chef kitchen dinner spicy sauce cheese",
    "tech": "software laptop gpu drivers update battery smartphone app cloud server code bug chip speed network",
}
COMMON = "the a and of in with after new great big today this week our my".split()
HELD_OUT_TEXTS = [
    "The striker scored a late GOAL in the final!",
    "Crème brûlée and café au lait at the bistro",
    "New GPU drivers \U0001F680 boost the laptop's speed",
    "",
    "   ",
    "İSTANBUL STRASSE straße ΣΟΦΙΑ ǅ",
    "pasta, pizza; salad... and SOUP?!",
    "the_match ended 2-1 after extra_time",
    "深度学习 模型 and a new smartphone",
    "Tennis\tplayers\nwon the cup",
    "cooking recipes: bake the bread, roast the chicken",
    "software update fixes the battery bug; the team lost",
]


def texts():
    rng = np.random.default_rng(SEED)
    x_train, y_train = [], []
    for label, words in TOPICS.items():
        words = words.split()
        for _ in range(60):
            n = int(rng.integers(4, 11))
            sentence = [str(rng.choice(words)) if rng.random() < 0.6 else str(rng.choice(COMMON))
                        for _ in range(n)]
            if rng.random() < 0.5:
                sentence[0] = sentence[0].capitalize()
            x_train.append(" ".join(sentence) + str(rng.choice([".", "!", "", "?"])))
            y_train.append(label)
    x_test = np.array(HELD_OUT_TEXTS)
    return np.array(x_train), x_test, np.array(y_train), np.array(["sport"] * len(x_test))


NUMERIC = ["age", "tenure", "monthly"]
CATEGORICAL = ["plan", "region", "channel"]


# -- exporters -------------------------------------------------------------------

def skl2onnx_default(model, x_train):
    """skl2onnx's documented one-liner: the input types from one row."""
    from skl2onnx import to_onnx

    return to_onnx(model, x_train[:1])


def lightgbm_default(model, x_train):
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    return convert_lightgbm(model, initial_types=[("input", FloatTensorType([None, x_train.shape[1]]))])


def xgboost_default(model, x_train):
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    return convert_xgboost(model, initial_types=[("input", FloatTensorType([None, x_train.shape[1]]))])


# -- the zoo ---------------------------------------------------------------------
# Each entry: dataset, a function making the unfitted estimator, exporter, and
# one line for models/zoo/README.md.

def zoo():
    from sklearn import ensemble, linear_model, naive_bayes, neighbors, neural_network, svm, tree
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (Binarizer, MaxAbsScaler, MinMaxScaler, Normalizer,
                                       OneHotEncoder, OrdinalEncoder, PolynomialFeatures,
                                       RobustScaler, StandardScaler)

    def column_pipeline(final, encoder):
        numeric = make_pipeline(SimpleImputer(), StandardScaler())
        return make_pipeline(
            ColumnTransformer([("num", numeric, NUMERIC), ("cat", encoder, CATEGORICAL)]),
            final,
        )

    sk = skl2onnx_default
    return {
        # Linear models and their preprocessing.
        "logreg_scaled_binary": (cancer, lambda: make_pipeline(StandardScaler(), linear_model.LogisticRegression()), sk,
                                 "`make_pipeline(StandardScaler(), LogisticRegression())` on breast cancer (binary): skl2onnx's first example"),
        "logreg_multiclass": (iris, lambda: make_pipeline(MinMaxScaler(), linear_model.LogisticRegression()), sk,
                              "`MinMaxScaler` + `LogisticRegression` on iris (3 classes)"),
        "logreg_string_labels": (iris_named, lambda: make_pipeline(RobustScaler(), linear_model.LogisticRegression()), sk,
                                 "`RobustScaler` + `LogisticRegression` on iris with the species' names as labels (string labels)"),
        "sgd_classifier": (wine, lambda: make_pipeline(MaxAbsScaler(), linear_model.SGDClassifier(random_state=SEED)), sk,
                           "`MaxAbsScaler` + `SGDClassifier` (hinge loss) on wine"),
        "linear_regression": (diabetes, lambda: linear_model.LinearRegression(), sk,
                              "`LinearRegression` on diabetes"),
        "ridge_scaled": (diabetes, lambda: make_pipeline(StandardScaler(), linear_model.Ridge()), sk,
                         "`StandardScaler` + `Ridge` on diabetes"),
        "imputer_logreg": (lambda: missing_cancer(), lambda: make_pipeline(SimpleImputer(), StandardScaler(), linear_model.LogisticRegression()), sk,
                           "`SimpleImputer` + `StandardScaler` + `LogisticRegression` on breast cancer with 10 % of values missing"),
        "pca_logreg": (digits_counts, lambda: make_pipeline(StandardScaler(), PCA(n_components=16, random_state=SEED), linear_model.LogisticRegression(max_iter=500)), sk,
                       "`StandardScaler` + `PCA(16)` + `LogisticRegression` on digits (10 classes)"),
        "columns_onehot_logreg": (customers, lambda: column_pipeline(linear_model.LogisticRegression(), OneHotEncoder(handle_unknown="ignore")), sk,
                                  "`ColumnTransformer` (numeric: `SimpleImputer` + `StandardScaler`; strings: `OneHotEncoder`) + `LogisticRegression`, one input per column"),
        "columns_ordinal_forest": (customers, lambda: column_pipeline(ensemble.RandomForestClassifier(n_estimators=20, max_depth=6, random_state=SEED), OrdinalEncoder()), sk,
                                   "`ColumnTransformer` (numeric: imputer + scaler; strings: `OrdinalEncoder`) + `RandomForestClassifier`"),
        "columns_onehot_integers": (customers_seats, lambda: make_pipeline(
                                        ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
                                                           ("cat", OneHotEncoder(handle_unknown="ignore"), ["seats"])]),
                                        linear_model.LogisticRegression()), sk,
                                    "`ColumnTransformer` (numeric: imputer + scaler; an integer column: `OneHotEncoder`) + `LogisticRegression`"),
        "poly_ridge": (diabetes, lambda: make_pipeline(PolynomialFeatures(), linear_model.Ridge()), sk,
                       "`PolynomialFeatures` (degree 2) + `Ridge` on diabetes"),
        # Support vector machines.
        "svc_rbf": (cancer, lambda: make_pipeline(StandardScaler(), svm.SVC()), sk,
                    "`StandardScaler` + `SVC()` (RBF kernel, no probabilities) on breast cancer (binary)"),
        "svc_poly_proba": (iris, lambda: make_pipeline(StandardScaler(), svm.SVC(kernel="poly", probability=True, random_state=SEED)), sk,
                           "`StandardScaler` + `SVC(kernel='poly', probability=True)` on iris"),
        "svc_sigmoid": (wine, lambda: make_pipeline(StandardScaler(), svm.SVC(kernel="sigmoid")), sk,
                        "`StandardScaler` + `SVC(kernel='sigmoid')` on wine"),
        "svc_linear_proba": (cancer, lambda: make_pipeline(StandardScaler(), svm.SVC(kernel="linear", probability=True, random_state=SEED)), sk,
                             "`StandardScaler` + `SVC(kernel='linear', probability=True)` on breast cancer (binary)"),
        "svr_rbf": (diabetes, lambda: make_pipeline(StandardScaler(), svm.SVR()), sk,
                    "`StandardScaler` + `SVR()` (RBF) on diabetes"),
        "linear_svr": (diabetes, lambda: make_pipeline(StandardScaler(), svm.LinearSVR(random_state=SEED)), sk,
                       "`StandardScaler` + `LinearSVR` on diabetes"),
        # Neighbours, naive Bayes, neural networks.
        "knn_classifier": (iris, lambda: make_pipeline(StandardScaler(), neighbors.KNeighborsClassifier()), sk,
                           "`StandardScaler` + `KNeighborsClassifier` on iris"),
        "knn_regressor": (diabetes, lambda: neighbors.KNeighborsRegressor(), sk,
                          "`KNeighborsRegressor` on diabetes"),
        "gaussian_nb": (wine, lambda: naive_bayes.GaussianNB(), sk,
                        "`GaussianNB` on wine"),
        "bernoulli_nb": (cancer, lambda: make_pipeline(StandardScaler(), Binarizer(), naive_bayes.BernoulliNB()), sk,
                         "`StandardScaler` + `Binarizer` + `BernoulliNB` on breast cancer"),
        "multinomial_nb": (digits_counts, lambda: naive_bayes.MultinomialNB(), sk,
                           "`MultinomialNB` on the digits' pixel counts"),
        "mlp_classifier": (wine, lambda: make_pipeline(StandardScaler(), neural_network.MLPClassifier(max_iter=500, random_state=SEED)), sk,
                           "`StandardScaler` + `MLPClassifier` on wine"),
        "mlp_regressor": (diabetes, lambda: make_pipeline(StandardScaler(), Normalizer(), neural_network.MLPRegressor(max_iter=1000, random_state=SEED)), sk,
                          "`StandardScaler` + `Normalizer` + `MLPRegressor` on diabetes"),
        # Trees and ensembles.
        "decision_tree_classifier": (wine, lambda: tree.DecisionTreeClassifier(max_depth=5, random_state=SEED), sk,
                                     "`DecisionTreeClassifier` on wine"),
        "decision_tree_regressor": (diabetes, lambda: tree.DecisionTreeRegressor(max_depth=6, random_state=SEED), sk,
                                    "`DecisionTreeRegressor` on diabetes"),
        "random_forest_binary": (cancer, lambda: ensemble.RandomForestClassifier(n_estimators=25, max_depth=6, random_state=SEED), sk,
                                 "`RandomForestClassifier` on breast cancer (binary)"),
        "random_forest_regressor": (diabetes, lambda: ensemble.RandomForestRegressor(n_estimators=25, max_depth=6, random_state=SEED), sk,
                                    "`RandomForestRegressor` on diabetes"),
        "extra_trees_classifier": (iris_named, lambda: ensemble.ExtraTreesClassifier(n_estimators=25, max_depth=5, random_state=SEED), sk,
                                   "`ExtraTreesClassifier` on iris with string labels"),
        "extra_trees_regressor": (diabetes, lambda: ensemble.ExtraTreesRegressor(n_estimators=25, max_depth=6, random_state=SEED), sk,
                                  "`ExtraTreesRegressor` on diabetes"),
        "gradient_boosting_binary": (cancer, lambda: ensemble.GradientBoostingClassifier(n_estimators=30, random_state=SEED), sk,
                                     "`GradientBoostingClassifier` on breast cancer (binary)"),
        "gradient_boosting_multiclass": (wine, lambda: ensemble.GradientBoostingClassifier(n_estimators=20, random_state=SEED), sk,
                                         "`GradientBoostingClassifier` on wine (3 classes)"),
        "gradient_boosting_regressor": (diabetes, lambda: ensemble.GradientBoostingRegressor(n_estimators=40, random_state=SEED), sk,
                                        "`GradientBoostingRegressor` on diabetes"),
        "hist_gradient_boosting_binary": (lambda: missing_cancer(), lambda: ensemble.HistGradientBoostingClassifier(max_iter=30, random_state=SEED), sk,
                                          "`HistGradientBoostingClassifier` on breast cancer with 10 % of values missing (binary)"),
        "hist_gradient_boosting_multiclass": (wine, lambda: ensemble.HistGradientBoostingClassifier(max_iter=20, random_state=SEED), sk,
                                              "`HistGradientBoostingClassifier` on wine (3 classes)"),
        "hist_gradient_boosting_regressor": (diabetes, lambda: ensemble.HistGradientBoostingRegressor(max_iter=40, random_state=SEED), sk,
                                             "`HistGradientBoostingRegressor` on diabetes"),
        # Text: skl2onnx's StringNormalizer, Tokenizer and TfIdfVectorizer.
        "text_tfidf_logreg": (texts, lambda: make_pipeline(TfidfVectorizer(), linear_model.LogisticRegression(max_iter=1000)), sk,
                              "`make_pipeline(TfidfVectorizer(), LogisticRegression())` on short texts of three topics"),
        "text_counts_nb": (texts, lambda: make_pipeline(CountVectorizer(), naive_bayes.MultinomialNB()), sk,
                           "`CountVectorizer` + `MultinomialNB` on the same texts"),
        "text_bigrams_sgd": (texts, lambda: make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), linear_model.SGDClassifier(random_state=SEED)), sk,
                             "`TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)` + `SGDClassifier` (a linear SVM) on the same texts"),
        "text_chars_logreg": (texts, lambda: make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3)), linear_model.LogisticRegression(max_iter=1000)), sk,
                              "`TfidfVectorizer(analyzer='char', ngram_range=(1, 3))` + `LogisticRegression` on the same texts"),
        "text_binary_counts": (texts, lambda: make_pipeline(CountVectorizer(binary=True, lowercase=False), linear_model.LogisticRegression(max_iter=1000)), sk,
                               "`CountVectorizer(binary=True, lowercase=False)` + `LogisticRegression` on the same texts (case kept)"),
        # LightGBM and XGBoost, through onnxmltools.
        "lightgbm_binary": (cancer, lambda: lightgbm("LGBMClassifier", n_estimators=30), lightgbm_default,
                            "LightGBM `LGBMClassifier` on breast cancer (binary)"),
        "lightgbm_multiclass": (wine, lambda: lightgbm("LGBMClassifier", n_estimators=20), lightgbm_default,
                                "LightGBM `LGBMClassifier` on wine (3 classes)"),
        "lightgbm_regressor": (diabetes, lambda: lightgbm("LGBMRegressor", n_estimators=40), lightgbm_default,
                               "LightGBM `LGBMRegressor` on diabetes"),
        "xgboost_binary": (lambda: missing_cancer(), lambda: xgboost("XGBClassifier", n_estimators=30), xgboost_default,
                           "XGBoost `XGBClassifier` on breast cancer with 10 % of values missing (binary)"),
        "xgboost_multiclass": (wine, lambda: xgboost("XGBClassifier", n_estimators=20), xgboost_default,
                               "XGBoost `XGBClassifier` on wine (3 classes)"),
        "xgboost_regressor": (diabetes, lambda: xgboost("XGBRegressor", n_estimators=40), xgboost_default,
                              "XGBoost `XGBRegressor` on diabetes"),
    }


def missing_cancer():
    x_train, x_test, y_train, y_test = cancer()
    x_train, x_test = with_missing(x_train, x_test)
    return x_train, x_test, y_train, y_test


def lightgbm(kind, **params):
    import lightgbm as lgb

    return getattr(lgb, kind)(random_state=SEED, n_jobs=1, verbose=-1, **params)


def xgboost(kind, **params):
    import xgboost as xgb

    return getattr(xgb, kind)(random_state=SEED, n_jobs=1, **params)


# -- output ----------------------------------------------------------------------

def fixture_inputs(onnx_model, x_test) -> dict:
    """The held-out rows as the model's inputs, by the names and element
    types the exported graph declares."""
    import onnx

    elem = {onnx.TensorProto.FLOAT: "f32", onnx.TensorProto.DOUBLE: "f64",
            onnx.TensorProto.INT64: "i64", onnx.TensorProto.STRING: "string"}
    numpy_type = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "string": str}
    inputs = {}
    graph_inputs = [i for i in onnx_model.graph.input
                    if i.name not in {init.name for init in onnx_model.graph.initializer}]
    for value in graph_inputs:
        dtype = elem[value.type.tensor_type.elem_type]
        if hasattr(x_test, "columns"):
            column = x_test[value.name].to_numpy().reshape(-1, 1)
        else:
            column = np.asarray(x_test)
        array = column.astype(numpy_type[dtype])
        data = array.reshape(-1).tolist()
        if dtype in ("f32", "f64"):
            data = ["NaN" if x != x else x for x in data]
        inputs[value.name] = {"dtype": dtype, "shape": list(array.shape), "data": data}
    return inputs


def make(name, spec) -> None:
    import onnx

    dataset, estimator, exporter, _ = spec
    x_train, x_test, y_train, _ = dataset()
    model = estimator()
    model.fit(x_train, y_train)
    onnx_model = exporter(model, x_train)
    onnx_model.doc_string = ""
    # onnxmltools names the graph with a random UUID; name it after the
    # model, so a rerun writes the same bytes (the name changes nothing).
    onnx_model.graph.name = name
    onnx.checker.check_model(onnx_model)
    ZOO.mkdir(parents=True, exist_ok=True)
    path = ZOO / f"{name}.onnx"
    onnx.save(onnx_model, path)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    fixture = {"model": f"zoo/{name}.onnx", "inputs": fixture_inputs(onnx_model, x_test)}
    (FIXTURES / f"{name}.json").write_text(json.dumps(fixture, indent=1) + "\n")
    ops = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in onnx_model.graph.node})
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes): {' '.join(ops)}")


# -- refused on purpose ---------------------------------------------------------
# Real exports that wasmodel refuses, for the tests of its messages.

UNSUPPORTED = ROOT / "tests" / "fixtures" / "unsupported"


def dict_vectorizer():
    """A `DictVectorizer` pipeline: its input is a map (one dictionary per
    row), which no tensor interface can carry, and wasmodel has no
    `DictVectorizer`."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DictionaryType, FloatTensorType, StringTensorType
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows = [{"city": "north", "rooms": 3.0}, {"city": "south", "rooms": 2.0},
            {"city": "north", "rooms": 5.0}, {"city": "east", "rooms": 1.0}]
    pipe = make_pipeline(DictVectorizer(sparse=False), LogisticRegression())
    pipe.fit(rows, [1, 0, 1, 0])
    # A map input has no "one row" to infer its type from: it is named.
    return to_onnx(pipe, initial_types=[("features", DictionaryType(StringTensorType([]),
                                                                     FloatTensorType([])))])


def make_unsupported() -> None:
    import onnx

    UNSUPPORTED.mkdir(parents=True, exist_ok=True)
    for name, export in {"dict_vectorizer": dict_vectorizer}.items():
        model = export()
        model.doc_string = ""
        path = UNSUPPORTED / f"{name}.onnx"
        onnx.save(model, path)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def main() -> int:
    # The exporters iterate over Python sets (opset_import's order, for
    # one): a fixed hash seed makes a rerun write the same bytes.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    models = zoo()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help=f"make only these (default: all {len(models)})")
    names = parser.parse_args().models or list(models)
    if unknown := sorted(set(names) - set(models)):
        parser.error(f"unknown model {', '.join(unknown)}")
    for name in names:
        make(name, models[name])
    if not parser.parse_args().models:
        make_unsupported()
    write_readme(models)
    # onnxruntime's outputs for the held-out rows just stored.
    import subprocess

    subprocess.run([sys.executable, str(ROOT / "models" / "reference.py"), *names], check=True)
    return 0


README_HEAD = """# The model zoo

The estimators and pipelines users ship, each trained on a small dataset
(scikit-learn's bundled ones, or a generated table) and exported with its
exporter's **default options**: skl2onnx 1.20 `to_onnx(model, X[:1])`,
onnxmltools 1.16 `convert_lightgbm` / `convert_xgboost` with only the input
type given. Every one is built into a component and checked against
onnxruntime by the tests (`tests/zoo.rs`, and natively
`crates/engine/tests/models.rs`), on the held-out rows stored with
onnxruntime's outputs in `tests/fixtures/zoo/<model>.json`.

    python3 -m venv /tmp/zoo && /tmp/zoo/bin/pip install -r models/zoo/requirements.txt
    /tmp/zoo/bin/python models/zoo/generate.py       # re-export (seeded: the same bytes), and
                                                     # onnxruntime's outputs into the fixtures

Written by `generate.py`, with the operators each file uses (`ml:` is
`ai.onnx.ml`) and its sha256. Licence: Apache-2.0, like wasmodel; the
datasets are scikit-learn's (BSD-3-Clause; UCI Machine Learning Repository)
or generated by the script.

Exports that fail with the exporters' defaults, so are not in the zoo:
`LinearSVC` (skl2onnx 1.20 offers it a `zipmap` option it then refuses:
`NameError: Option 'zipmap' not in [...]`), and HistGradientBoosting with
protobuf 7 (see `requirements.txt`).

| Model | What it is | Operators | Size | sha256 |
|---|---|---|---|---|
"""


def write_readme(models) -> None:
    """models/zoo/README.md: every file of the zoo, what it is, its sha256."""
    import hashlib

    import onnx

    rows = []
    for name, (_, _, _, description) in models.items():
        path = ZOO / f"{name}.onnx"
        if not path.exists():
            continue
        model = onnx.load(path)
        ops = sorted({("ml:" if n.domain == "ai.onnx.ml" else "") + n.op_type for n in model.graph.node})
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append(f"| `{name}.onnx` | {description} | {', '.join(ops)} | "
                    f"{path.stat().st_size} | `{digest}` |")
    (ZOO / "README.md").write_text(README_HEAD + "\n".join(rows) + "\n")
    print(f"wrote {(ZOO / 'README.md').relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
