#!/usr/bin/env python3
"""The text operators one node at a time, in the attributes skl2onnx's
defaults leave out, for crates/engine/src/text/ (crates/engine/tests/
models.rs holds them to onnxruntime's answers; the zoo's text pipelines,
models/zoo/, cover what skl2onnx writes by default):

- normalize_upper_stopwords.onnx: StringNormalizer, UPPER, stop words
  matched without case, on a [1, C] input with accents, `ß` and Greek;
- normalize_all_stopped.onnx: case-sensitive stop words that drop every
  string (onnxruntime answers one empty string);
- tokenize_separators_marks.onnx: Tokenizer with plain separators, start
  and end marks, `mincharnum` 2 and a pad value, on [N, C];
- tfidf_skips_int64.onnx: TfIdfVectorizer, TFIDF weights, 1- to 3-grams
  with up to 2 skips, over integers;
- tfidf_idf_strings.onnx: IDF of 2-grams with a skip, over strings [C];
- case_mapping.onnx: StringNormalizer LOWER and UPPER of every code point
  of Unicode 14 below U+30000 that has a case, and some that have none,
  in strings of 64: the case mapping against glibc's (onnxruntime maps
  case with the en_US.UTF-8 locale).

    .venv/bin/python models/text_cases.py

writes tests/fixtures/text/<case>.onnx and <case>.json with the inputs, to
which models/reference.py adds onnxruntime's outputs (it needs the locale
scripts/setup.sh --tests puts in .venv/locale). Needs only
models/requirements.txt.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fixtures" / "text"
TYPES = {TensorProto.STRING: "string", TensorProto.INT64: "i64", TensorProto.FLOAT: "f32"}


def case(stem, nodes, inputs, outputs, feeds):
    """`inputs`/`outputs`: (name, element type, shape) of the graph;
    `feeds`: the input values, as lists."""
    graph = helper.make_graph(
        nodes, stem,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="models/text_cases.py", ir_version=10)
    onnx.checker.check_model(model)
    onnx.save(model, CASES / f"{stem}.onnx")
    fixture = {"model": f"tests/fixtures/text/{stem}.onnx", "inputs": {}, "outputs": {}}
    for name, elem, _ in inputs:
        array = np.array(feeds[name], dtype=object if elem == TensorProto.STRING else np.int64)
        fixture["inputs"][name] = {"dtype": TYPES[elem], "shape": list(array.shape),
                                   "data": array.ravel().tolist()}
    (CASES / f"{stem}.json").write_text(json.dumps(fixture, ensure_ascii=False) + "\n")
    print(f"wrote tests/fixtures/text/{stem}.onnx and its inputs")
    return stem


def refused():
    """Models the engine refuses when it loads them, with the words its
    message must contain (tests/fixtures/text/refused/)."""
    S, F = TensorProto.STRING, TensorProto.FLOAT
    dir = CASES / "refused"
    dir.mkdir(parents=True, exist_ok=True)
    for stem, node, output, message in [
        # scikit-learn's default pattern as written, not as skl2onnx writes it.
        ("tokenizer_custom_pattern",
         helper.make_node("Tokenizer", ["x"], ["y"], domain="com.microsoft", mark=0,
                          pad_value="#", mincharnum=1, tokenexp="(?u)\\b\\w\\w+\\b"),
         ("y", S, [None, None]), "is not supported"),
        ("normalizer_turkish_locale",
         helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="LOWER",
                          locale="tr_TR"),
         ("y", S, [None]), "is not supported"),
        ("tfidf_too_wide",
         helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="TF", min_gram_length=1,
                          max_gram_length=1, max_skip_count=0, ngram_counts=[0],
                          ngram_indexes=[1 << 30], pool_strings=["a"]),
         ("y", F, [None]), "supported"),
    ]:
        graph = helper.make_graph([node], stem, [helper.make_tensor_value_info("x", S, [None])],
                                  [helper.make_tensor_value_info(*output)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                        helper.make_opsetid("com.microsoft", 1)],
                                  producer_name="models/text_cases.py", ir_version=10)
        onnx.save(model, dir / f"{stem}.onnx")
        (dir / f"{stem}.json").write_text(json.dumps({"message": message}) + "\n")
        print(f"wrote tests/fixtures/text/refused/{stem}.onnx")


def main():
    CASES.mkdir(parents=True, exist_ok=True)
    refused()
    S, I, F = TensorProto.STRING, TensorProto.INT64, TensorProto.FLOAT
    # Every code point with a case (Python's full mappings change it), and
    # every 97th of the others: code points of Unicode 14, the version of
    # this Python and of glibc 2.36 (onnxruntime's case data here). The
    # engine maps case as Rust's standard library does, Unicode 16, whose
    # new case pairs glibc 2.36 does not know: new letters (Garay, U+A7DC
    # and others, unassigned in 14) and two old ones given a partner,
    # U+019B and U+0264.
    import unicodedata
    every = [chr(c) for c in range(1, 0x30000) if not 0xD800 <= c < 0xE000]
    gained_a_partner = {"\u019b", "\u0264"}
    cased = [c for i, c in enumerate(every)
             if (c.lower() != c or c.upper() != c or i % 97 == 0)
             and unicodedata.category(c) != "Cn" and c not in gained_a_partner]
    texts = ["".join(cased[i:i + 64]) for i in range(0, len(cased), 64)]
    stems = [
        case("normalize_upper_stopwords",
             [helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="UPPER",
                               is_case_sensitive=0, stopwords=["the", "A", "ünter"])],
             [("x", S, [1, None])], [("y", S, [1, None])],
             {"x": [["The", "cat", "a", "ÜNTER", "straße", "ᾳ ǅ ı", "Crème brûlée", "", "THE end"]]}),
        case("normalize_all_stopped",
             [helper.make_node("StringNormalizer", ["x"], ["y"], is_case_sensitive=1,
                               stopwords=["stop", "Go"])],
             [("x", S, [3])], [("y", S, [None])],
             {"x": ["stop", "Go", "stop"]}),
        case("tokenize_separators_marks",
             [helper.make_node("Tokenizer", ["x"], ["y"], domain="com.microsoft", mark=1,
                               pad_value="<pad>", mincharnum=2, separators=[" ", ", "])],
             [("x", S, [None, None])], [("y", S, [None, None, None])],
             {"x": [["a bc, def ghij", "x"], ["", "one, two,three  four"]]}),
        case("tfidf_skips_int64",
             [helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="TFIDF", min_gram_length=1,
                               max_gram_length=3, max_skip_count=2, ngram_counts=[0, 4, 8],
                               ngram_indexes=[8, 7, 6, 5, 4, 3, 2, 1, 0],
                               pool_int64s=[2, 3, 5, 4, 2, 3, 5, 4, 3, 5, 2, 5, 4, 2, 3, 4, 5],
                               weights=[0.5, 1.0, 1.5, 2.0, 0.25, 0.75, 3.0, 1.25, 0.1])],
             [("x", I, [None, None])], [("y", F, [None, 9])],
             {"x": [[1, 2, 3, 5, 4, 5, 2, 3], [2, 5, 3, 4, 2, 3, 5, 4]]}),
        case("tfidf_idf_strings",
             [helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="IDF", min_gram_length=2,
                               max_gram_length=2, max_skip_count=1, ngram_counts=[0, 2],
                               ngram_indexes=[3, 0, 1, 2], pool_strings=["a", "b", "a", "b", "b", "c"],
                               weights=[0.5, 2.0, 3.0, 4.0])],
             [("x", S, [None])], [("y", F, [4])],
             {"x": ["a", "x", "b", "c", "a", "b", "#"]}),
        case("case_mapping",
             [helper.make_node("StringNormalizer", ["x"], ["lower"], case_change_action="LOWER"),
              helper.make_node("StringNormalizer", ["x"], ["upper"], case_change_action="UPPER")],
             [("x", S, [None])], [("lower", S, [None]), ("upper", S, [None])],
             {"x": texts}),
    ]
    # onnxruntime's answers.
    subprocess.run([sys.executable, str(ROOT / "models" / "reference.py"), *stems], check=True)


if __name__ == "__main__":
    main()
