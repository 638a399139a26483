//! Token ids as the `tokenizers` package gives them, for the texts of
//! models/tokenizer_cases.py: each text alone, and the first ones as one
//! padded batch. The tokenizers are that script's (tests/fixtures/
//! tokenizers/) and the real ones of the corpus's packages
//! (models/corpus/corpus.json, fetched by scripts/setup.sh --tests). What
//! the crate does not implement is refused, naming the stage and its kind.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmodel_tokenizer::{Encoding, Tokenizer};

#[derive(Deserialize)]
struct Expected {
    texts: Vec<String>,
    tokenizers: std::collections::BTreeMap<String, Encodings>,
    refused: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Encodings {
    single: Vec<Record>,
    batch: Vec<Record>,
}

#[derive(Deserialize, Debug, PartialEq, Eq)]
struct Record {
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    attention_mask: Vec<u32>,
}

impl From<Encoding> for Record {
    fn from(e: Encoding) -> Record {
        Record {
            ids: e.ids,
            type_ids: e.type_ids,
            attention_mask: e.attention_mask,
        }
    }
}

#[path = "../../../benches/common/corpus_dir.rs"]
mod corpus_dir;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokenizers")
}

fn expected() -> Expected {
    read_expected(&fixtures().join("expected.json"))
}

fn read_expected(path: &Path) -> Expected {
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (scripts/setup.sh --tests writes it)",
            path.display()
        )
    });
    serde_json::from_slice(&bytes).unwrap()
}

/// Every tokenizer of `expected` gives its ids for its texts.
fn assert_same_ids(expected: &Expected, load: impl Fn(&str) -> Tokenizer) {
    assert!(!expected.tokenizers.is_empty());
    for (name, encodings) in &expected.tokenizers {
        let tokenizer = load(name);
        for (text, want) in expected.texts.iter().zip(&encodings.single) {
            let got = Record::from(tokenizer.encode(text));
            assert_eq!(&got, want, "{name}: {text:?}");
        }
        // The first texts, as many as the batch has.
        let batch: Vec<Record> = tokenizer
            .encode_batch(&expected.texts[..encodings.batch.len()])
            .into_iter()
            .map(Record::from)
            .collect();
        assert_eq!(batch, encodings.batch, "{name}: the batch");
    }
}

fn tokenizer(name: &str) -> Result<Tokenizer, wasmodel_tokenizer::Error> {
    Tokenizer::from_json(&std::fs::read(fixtures().join(format!("{name}.json"))).unwrap())
}

#[test]
fn token_ids_are_those_of_the_tokenizers_package() {
    let expected = expected();
    assert!(expected.tokenizers.len() >= 3);
    assert_same_ids(&expected, |name| {
        tokenizer(name).unwrap_or_else(|e| panic!("{name}: {e}"))
    });
}

#[test]
fn the_corpus_tokenizers_give_the_ids_of_the_tokenizers_package() {
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/corpus/corpus.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let entries = manifest["tokenizers"].as_array().unwrap();
    assert!(!entries.is_empty());
    let corpus = corpus_dir::corpus_dir().expect("HOME or WASMODEL_CORPUS is set");
    for entry in entries {
        let dir = corpus
            .join("tokenizers")
            .join(entry["id"].as_str().unwrap());
        let expected = read_expected(&dir.join("expected.json"));
        assert_same_ids(&expected, |name| {
            let json = std::fs::read(dir.join("tokenizer.json")).unwrap();
            Tokenizer::from_json(&json).unwrap_or_else(|e| panic!("{name}: {e}"))
        });
    }
}

#[test]
fn what_is_not_implemented_is_refused_by_name() {
    let expected = expected();
    assert!(!expected.refused.is_empty());
    for (name, why) in &expected.refused {
        match tokenizer(name) {
            Ok(_) => panic!("{name} was accepted"),
            Err(e) => assert!(e.to_string().contains(why), "{name}: {e}"),
        }
    }
}

#[test]
fn a_file_that_is_not_a_tokenizer_is_said_so() {
    for bytes in [
        &b""[..],
        b"{}",
        b"[1, 2]",
        b"{\"model\": {\"type\": \"WordPiece\"}}",
    ] {
        let e = Tokenizer::from_json(bytes).unwrap_err();
        assert!(matches!(e, wasmodel_tokenizer::Error::Invalid(_)), "{e}");
    }
}
