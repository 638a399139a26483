#!/usr/bin/env python3
"""Tokenizers and the token ids the `tokenizers` package gives, for
crates/tokenizer (its tests hold its ids to these, text by text and as
padded batches).

    .venv/bin/python models/tokenizer_cases.py           # write them
    .venv/bin/python models/tokenizer_cases.py --check   # still the same?

Writes tests/fixtures/tokenizers/:
- bert_uncased.json: WordPiece trained here on CORPUS, BertNormalizer
  (lowercase, accents stripped), BertPreTokenizer, a `[CLS] $A [SEP]`
  template, truncation at 24, padding to the batch's longest;
- bert_cased.json: the same vocabulary's cased twin (no lowercasing, no
  accent stripping), BertProcessing, truncation at 16 from the left,
  padding to 20 on the left with its own pad id;
- sequence.json: a Sequence normalizer (NFKC, NFD, StripAccents, Lowercase,
  Strip) and a Sequence pre-tokenizer, no post-processor, no truncation;
- roberta.json: a byte-level BPE trained here (RoBERTa's way: no prefix
  space, `<mask>` taking the space before it, `<s> $A </s>`), truncation
  at 24, padding to the longest with id 1;
- gpt2.json: the same merges GPT-2's way: a prefix space, no special
  tokens, the `ByteLevel` post-processor, no truncation;
- t5.json: a Unigram (SentencePiece) model trained here, NFKC, Metaspace
  (a `▁` before every word and the text), `$A </s>`, truncation at 32;
- xlmr.json: the same pieces XLM-RoBERTa's way: NFKC and lowercase,
  WhitespaceSplit then Metaspace, `<s> $A </s>`;
- llama3.json: the BPE merges Llama 3's way: NFC, its regular expression
  `Split` (lookahead included) before a byte-level map;
- splits.json: the same merges split by each other `Split` behavior
  (merged with the next or previous word, contiguous, removed and
  inverted), string and regex patterns;
- replace.json: the Unigram pieces with T5's normalizer but for its
  `Precompiled` table (Strip right, a regex Replace of runs of spaces, a
  string Replace), and no pre-tokenizer;
- llama2.json: a BPE trained here Llama 2's way: a Prepend and a Replace
  normalizer making spaces `▁`, no pre-tokenizer, byte fallback (the 256
  `<0x..>` tokens in its vocabulary, a small alphabet so that accents, CJK
  and emoji fall back to bytes), unknown tokens fused, `<s> $A`;
- llama2_no_bytes.json: the same without the byte tokens (every character
  outside the alphabet unknown, runs of them one `<unk>`);
- mistral.json: the same merges as newer Llama and Mistral files write
  them: no normalizer, Metaspace with the `first` prepend scheme (not after
  an added token: `[MASK]`, `[CLS]` and `[SEP]` are ones here), no split;
- refused_*.json: what crates/tokenizer does not implement (Metaspace's
  `first` prepend scheme inside a Sequence, or after a normalizer that can
  drop leading characters), each with the stage and kind its error must
  name;
- expected.json: TEXTS, and each tokenizer's encoding of each (ids, type
  ids, attention mask) and of the first BATCH of them as one batch.

`--check` encodes TEXTS again with the files as they are and fails if
anything differs from expected.json (scripts/test.sh runs it). Needs the
`tokenizers` package scripts/setup.sh --tests installs (pinned, without
its Hub client).
"""

import json
import sys
from pathlib import Path

import tokenizers
from tokenizers import (AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors,
                        trainers)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "tokenizers"
VERSION = "0.23.3"

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A model in a component answers requests without a server of its own.",
    "Tokenizers split text into words, and words into pieces of a vocabulary.",
    "Unaffable, unbelievable, unthinkable: prefixes and suffixes repeat.",
    "Café, naïve, résumé and jalapeño keep their accents when cased.",
    "Numbers like 3.14159, 2026 and 1,000,000 are split at punctuation.",
    "東京 and 北京 are cities; ideographs are words of their own.",
    "Emails like someone@example.com and URLs like https://example.com/a?b=c.",
    "It's a don't-stop, can't-wait kind of day!",
    "Straße, İstanbul, Ωμέγα and Ελληνικά have their own case rules.",
] * 3

TEXTS = [
    "Hello, world!",
    "",
    "   ",
    "The QUICK brown fox jumps over the lazy dog.",
    "Café naïve résumé jalapeño",
    "CAFÉ NAÏVE",
    "東京 北京 is in 中国, and かな and 한국어 are not ideographs",
    "emoji: 😀 🥲 🫠 👍🏽 ❤️",
    "control\u0000chars\u0007and\u200bzero\u200dwidth\ufffd",
    "tabs\tand\nnewlines\r\nand\u00a0non-breaking\u3000spaces",
    "Straße İstanbul ΩΜΈΓΑ ﬁne ①②",
    "[MASK] is special, and so are [CLS] and[SEP]inside",
    "[mask] in lower case is not",
    "unaffable unbelievably unthinkable",
    "someone@example.com https://example.com/a?b=c",
    "¿Qué? ¡Sí! «guillemets» — dashes – and … ellipses",
    "e\u0301 combining and e\u0308\u0323 stacked marks",
    "x" * 150 + " a word longer than one hundred characters",
    " ".join(["a long text past the truncation limit"] * 12),
    " ".join(f"word{i}" for i in range(300)) + " past every model's limit of tokens",
    "1,000,000 and 3.14159 and 2026",
    "I'd say we'll see, WE'LL SEE, they're here and it'S fine",
    "हिन्दी पाठ, ภาษาไทย and العربية",
    "  leading, trailing and   inner spaces  ",
]


# The batch is the first texts (the long ones would pad every other one of
# the untruncated tokenizers to a thousand tokens).
BATCH = 10

# Llama 3's word splitter (GPT-4's, with Unicode classes), as its
# tokenizer.json writes it.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def bare(model):
    """A tokenizer of a trained model (its JSON) and nothing else."""
    return Tokenizer.from_str(json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": None, "post_processor": None,
        "decoder": None, "model": model}))


def stored_model(name):
    """The model of a tokenizer written before, if there is one: training
    is not repeatable from one run to the next, and the tokenizers made
    from a trained model share it."""
    path = OUT / f"{name}.json"
    return json.loads(path.read_text())["model"] if path.exists() else None


def bert_vocabulary():
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=600, min_frequency=1, show_progress=False,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(CORPUS + [t.lower() for t in CORPUS], trainer)
    return tokenizer


def build():
    base = bert_vocabulary()
    vocab = base.get_vocab()
    ids = {t: vocab[t] for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]}

    def wordpiece():
        return models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100)

    def with_specials(t):
        t.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        return t

    uncased = with_specials(Tokenizer(wordpiece()))
    uncased.normalizer = normalizers.BertNormalizer(lowercase=True)
    uncased.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    uncased.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    uncased.enable_truncation(max_length=24)
    uncased.enable_padding(pad_id=ids["[PAD]"], pad_token="[PAD]")

    cased = with_specials(Tokenizer(wordpiece()))
    cased.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    cased.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cased.post_processor = processors.BertProcessing(
        ("[SEP]", ids["[SEP]"]), ("[CLS]", ids["[CLS]"]))
    cased.enable_truncation(max_length=16, direction="left")
    cased.enable_padding(direction="left", length=20, pad_id=ids["[MASK]"], pad_type_id=1,
                         pad_token="[MASK]")

    sequence = with_specials(Tokenizer(wordpiece()))
    sequence.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.NFD(), normalizers.StripAccents(),
        normalizers.Lowercase(), normalizers.Strip()])
    sequence.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.BertPreTokenizer()])

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.train_from_iterator(CORPUS + TEXTS, trainers.BpeTrainer(
        vocab_size=600, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"]))
    bpe_model = stored_model("roberta") or json.loads(trained.to_str())["model"]

    roberta = bare(bpe_model)
    roberta.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    roberta.add_special_tokens([AddedToken("<mask>", lstrip=True, normalized=False)])
    roberta.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    roberta.post_processor = processors.RobertaProcessing(
        ("</s>", roberta.token_to_id("</s>")), ("<s>", roberta.token_to_id("<s>")))
    roberta.enable_truncation(max_length=24)
    roberta.enable_padding(pad_id=roberta.token_to_id("<pad>"), pad_token="<pad>")

    gpt2 = bare(bpe_model)
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    gpt2.post_processor = processors.ByteLevel(trim_offsets=True)

    llama3 = bare(bpe_model)
    llama3.normalizer = normalizers.NFC()
    llama3.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(LLAMA3_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    llama3.post_processor = processors.ByteLevel(trim_offsets=False)

    # Each other way a Split treats its matches, one after the other.
    splits = bare(bpe_model)
    splits.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", behavior="merged_with_next"),
        pre_tokenizers.Split(tokenizers.Regex(r"[\p{P}\p{S}]"), behavior="merged_with_previous"),
        pre_tokenizers.Split(tokenizers.Regex(r"\p{N}"), behavior="contiguous"),
        pre_tokenizers.Split(tokenizers.Regex(r"\s+"), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trained = Tokenizer(models.Unigram())
    trained.normalizer = normalizers.NFKC()
    trained.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    trained.train_from_iterator(CORPUS + TEXTS, trainers.UnigramTrainer(
        vocab_size=400, unk_token="<unk>", special_tokens=["<pad>", "</s>", "<unk>", "<s>"],
        show_progress=False))
    unigram_model = stored_model("t5") or json.loads(trained.to_str())["model"]

    t5 = bare(unigram_model)
    t5.add_special_tokens(["<pad>", "</s>", "<unk>"])
    t5.normalizer = normalizers.NFKC()
    t5.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    t5.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", t5.token_to_id("</s>"))])
    t5.enable_truncation(max_length=32)
    t5.enable_padding(pad_id=t5.token_to_id("<pad>"), pad_token="<pad>")

    xlmr = bare(unigram_model)
    xlmr.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    xlmr.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    xlmr.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="always")])
    xlmr.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        special_tokens=[("<s>", xlmr.token_to_id("<s>")), ("</s>", xlmr.token_to_id("</s>"))])

    # SentencePiece's spaces as the T5 files write them: a run of spaces
    # one `▁`, and no pre-tokenizer.
    replace = bare(unigram_model)
    replace.normalizer = normalizers.Sequence([
        normalizers.Strip(left=False, right=True),
        normalizers.Replace(tokenizers.Regex(" {2,}"), "\u2581"),
        normalizers.Replace(" ", "\u2581")])

    # Llama 2's way: spaces made `▁` by the normalizer, byte fallback.
    llama_normalizer = normalizers.Sequence([
        normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    trained = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    trained.normalizer = llama_normalizer
    trained.train_from_iterator(CORPUS + TEXTS, trainers.BpeTrainer(
        vocab_size=400, limit_alphabet=60, show_progress=False,
        special_tokens=["<unk>", "<s>", "</s>"]))
    llama_model = stored_model("llama2")
    if llama_model is None:
        llama_model = json.loads(trained.to_str())["model"]
        vocab = llama_model["vocab"]
        for b in range(256):
            vocab.setdefault(f"<0x{b:02X}>", len(vocab))

    def llama(model, specials):
        t = bare(model)
        t.add_special_tokens(specials)
        t.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", t.token_to_id("<s>"))])
        return t

    llama2 = llama(llama_model, ["<unk>", "<s>", "</s>"])
    llama2.normalizer = llama_normalizer
    no_bytes_model = dict(llama_model, vocab={
        t: i for t, i in llama_model["vocab"].items() if not t.startswith("<0x")})
    llama2_no_bytes = llama(no_bytes_model, ["<unk>", "<s>", "</s>"])
    llama2_no_bytes.normalizer = llama_normalizer
    mistral = llama(llama_model, ["<unk>", "<s>", "</s>", "[MASK]", "[CLS]", "[SEP]"])
    mistral.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)

    first_in_sequence = bare(unigram_model)
    first_in_sequence.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="first")])
    first_after_strip = bare(unigram_model)
    first_after_strip.normalizer = normalizers.Strip()
    first_after_strip.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")

    return (
        {"bert_uncased": uncased, "bert_cased": cased, "sequence": sequence,
         "roberta": roberta, "gpt2": gpt2, "t5": t5, "xlmr": xlmr, "llama3": llama3,
         "splits": splits, "replace": replace, "llama2": llama2,
         "llama2_no_bytes": llama2_no_bytes, "mistral": mistral},
        {"refused_first_in_sequence": (
            first_in_sequence,
            "pre_tokenizer is `Metaspace with prepend_scheme first inside a Sequence`"),
         "refused_first_after_strip": (
             first_after_strip,
             "pre_tokenizer is `Metaspace with prepend_scheme first after a normalizer")},
    )


def encodings(tokenizer):
    """Each text alone (no padding), and all of them as one batch (padded
    as the file says, or to the longest with id 0)."""
    alone = Tokenizer.from_str(tokenizer.to_str())
    alone.no_padding()
    batcher = Tokenizer.from_str(tokenizer.to_str())
    if batcher.padding is None:
        batcher.enable_padding(pad_id=0)

    def record(e):
        return {"ids": e.ids, "type_ids": e.type_ids, "attention_mask": e.attention_mask}

    return {
        "single": [record(alone.encode(t)) for t in TEXTS],
        "batch": [record(e) for e in batcher.encode_batch(TEXTS[:BATCH])],
    }


def expected_of(tokenizers_by_name, refused):
    return {
        "tokenizers_version": tokenizers.__version__,
        "texts": TEXTS,
        "tokenizers": {name: encodings(t) for name, t in tokenizers_by_name.items()},
        "refused": refused,
    }


def main():
    if tokenizers.__version__ != VERSION:
        sys.exit(f"tokenizers {tokenizers.__version__}, not the pinned {VERSION}: "
                 "run scripts/setup.sh --tests")
    check = "--check" in sys.argv[1:]
    expected_path = OUT / "expected.json"
    if check:
        stored = json.loads(expected_path.read_text())
        loaded = {name: Tokenizer.from_file(str(OUT / f"{name}.json"))
                  for name in stored["tokenizers"]}
        now = expected_of(loaded, stored["refused"])
        if now != stored:
            sys.exit(f"{expected_path} no longer matches tokenizers {VERSION}: "
                     "run models/tokenizer_cases.py and review the difference")
        print(f"{expected_path.relative_to(ROOT)}: tokenizers {VERSION} agrees")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    kept, refused = build()
    # A tokenizer written before is kept as it is (delete its file to make
    # it again): training is not repeatable, and tests/fixtures/
    # text_encoder's models are made over these vocabularies.
    for name, t in kept.items():
        path = OUT / f"{name}.json"
        if path.exists():
            kept[name] = Tokenizer.from_file(str(path))
        else:
            t.save(str(path))
    for name, (t, _) in refused.items():
        path = OUT / f"{name}.json"
        if not path.exists():
            t.save(str(path))
    expected = expected_of(kept, {name: why for name, (_, why) in refused.items()})
    expected_path.write_text(json.dumps(expected, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {len(kept)} tokenizers, {len(refused)} refused ones and "
          f"{expected_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
