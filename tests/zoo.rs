//! The model zoo (`models/zoo/`): the estimators and pipelines users ship,
//! exported by skl2onnx and onnxmltools with their default options, each
//! built into a component and run under wasmtime against onnxruntime's
//! outputs (labels exactly, scores within the fixture's tolerance), with
//! the class labels of every ZipMap in the metadata; then what `wasmodel
//! check` does, on 16 made-up rows: onnxruntime must agree there too.

use wasmodel::ClassLabels;
use wasmodel_cli::check::compare::compare;
use wasmodel_cli::check::inputs::sample_inputs;
use wasmodel_cli::check::reference;

use crate::support::{assert_outputs_match, fixture, load_onnx, repo};

fn matches_onnxruntime(stem: &str) {
    let path = repo().join("models/zoo").join(format!("{stem}.onnx"));
    let onnx = std::fs::read(&path).unwrap();
    let model = load_onnx(&path);
    let fixture = fixture(&format!("zoo/{stem}"));
    let outputs = model
        .predict(fixture.inputs.clone())
        .unwrap_or_else(|e| panic!("predict {stem}: {e}"));
    assert_outputs_match(&outputs, &fixture.outputs, fixture.rtol, fixture.atol);

    // What `wasmodel check` does: every operator supported, and made-up
    // inputs (beyond the fixture's rows) answered as onnxruntime answers.
    let ops = wasmodel::graph::operators(&onnx).unwrap();
    assert!(ops.iter().all(|o| o.supported), "{stem}: {ops:?}");
    let graph = wasmodel::graph::decode_model(&onnx).unwrap().graph.unwrap();
    let inputs = sample_inputs(model.info(), &graph, 16, 1, &[]).unwrap();
    let got = model
        .predict(inputs.clone())
        .unwrap_or_else(|e| panic!("{stem}: {e}"));
    let python = repo().join(".venv/bin/python");
    let (_, expected) = reference::onnxruntime(&python, &path, &inputs)
        .unwrap_or_else(|e| panic!("{stem}: onnxruntime: {e:?}"));
    for c in compare(&got, &expected, fixture.rtol, fixture.atol) {
        assert!(c.passed(), "{stem}, made-up inputs: {c:?}");
    }

    // A ZipMap's labels are the class labels of the probabilities.
    let stored = fixture_class_labels(stem);
    for info in &model.info().outputs {
        if let Some(labels) = stored.iter().find(|(name, _)| *name == info.name) {
            assert_eq!(
                info.class_labels.as_ref(),
                Some(&labels.1),
                "{stem}: {}",
                info.name
            );
        }
    }
}

/// The `class_labels` the fixture stores for ZipMap outputs.
fn fixture_class_labels(stem: &str) -> Vec<(String, ClassLabels)> {
    let path = repo()
        .join("tests/fixtures/zoo")
        .join(format!("{stem}.json"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["outputs"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, t)| {
            let labels = t.get("class_labels")?.as_array()?;
            let labels = if labels.iter().all(|l| l.is_i64()) {
                ClassLabels::I64(labels.iter().filter_map(|l| l.as_i64()).collect())
            } else {
                ClassLabels::String(
                    labels
                        .iter()
                        .filter_map(|l| Some(l.as_str()?.to_owned()))
                        .collect(),
                )
            };
            Some((name.clone(), labels))
        })
        .collect()
}

macro_rules! zoo_tests {
    ($($stem:ident),* $(,)?) => {
        $(
            #[test]
            fn $stem() {
                matches_onnxruntime(stringify!($stem));
            }
        )*

        /// Every model in models/zoo/ has its test above.
        #[test]
        fn every_zoo_model_is_tested() {
            let tested = [$(stringify!($stem)),*];
            let mut files: Vec<String> = std::fs::read_dir(repo().join("models/zoo"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
                .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let mut tested: Vec<String> = tested.iter().map(|s| s.to_string()).collect();
            tested.sort();
            assert_eq!(files, tested);
        }
    };
}

zoo_tests!(
    bernoulli_nb,
    columns_onehot_integers,
    columns_onehot_logreg,
    columns_ordinal_forest,
    decision_tree_classifier,
    decision_tree_regressor,
    extra_trees_classifier,
    extra_trees_regressor,
    gaussian_nb,
    gradient_boosting_binary,
    gradient_boosting_multiclass,
    gradient_boosting_regressor,
    hist_gradient_boosting_binary,
    hist_gradient_boosting_multiclass,
    hist_gradient_boosting_regressor,
    imputer_logreg,
    knn_classifier,
    knn_regressor,
    lightgbm_binary,
    lightgbm_multiclass,
    lightgbm_regressor,
    linear_regression,
    linear_svr,
    logreg_multiclass,
    logreg_scaled_binary,
    logreg_string_labels,
    mlp_classifier,
    mlp_regressor,
    multinomial_nb,
    pca_logreg,
    poly_ridge,
    random_forest_binary,
    random_forest_regressor,
    ridge_scaled,
    sgd_classifier,
    svc_linear_proba,
    svc_poly_proba,
    svc_rbf,
    svc_sigmoid,
    svr_rbf,
    text_binary_counts,
    text_bigrams_sgd,
    text_chars_logreg,
    text_counts_nb,
    text_tfidf_logreg,
    xgboost_binary,
    xgboost_multiclass,
    xgboost_regressor,
);
