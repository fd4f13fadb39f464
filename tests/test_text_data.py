"""Text data: tokenizers round-trip real sentences and save/load exactly; files of every format are
read with their counts; bad files are one-line user errors; batches are padded right; the text task
trains its tokenizer once and reuses it; the text verbs keep their promises."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from textvae.config import from_dict
from textvae.errors import UserError
from textvae.text.data import (
    TextDataConfig,
    collate_ids,
    read_lines,
    read_sentences,
    shipped_corpus,
    split_heldout,
    tokenize_sentences,
)
from textvae.text.tokenizers import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    SentencePieceTokenizer,
    WordTokenizer,
    load_tokenizer,
)

# Real sentences: the shipped SNLI validation file (lower-cased, tokenized, rare words as <unk>).
SNLI = shipped_corpus("valid").read_text(encoding="utf-8").splitlines()[:400]
WITH_UNK = [s for s in SNLI if "<unk>" in s]
SNLI_COUNTS = pd.Series(" ".join(SNLI).split()).value_counts().to_dict()


@pytest.fixture(scope="module")
def word_tok():
    return WordTokenizer.train(SNLI)


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def sp_tok(request):
    return SentencePieceTokenizer.train(SNLI, vocab_size=400, model_type=request.param)


# -- tokenizers -------------------------------------------------------------------------------------
def test_shipped_corpus_is_there():
    assert len(shipped_corpus("train").read_text(encoding="utf-8").splitlines()) == 10_000
    assert len(shipped_corpus("valid").read_text(encoding="utf-8").splitlines()) == 10_000
    assert (shipped_corpus("train").parent / "NOTICE").is_file()
    assert WITH_UNK, "the SNLI sample has literal <unk> words"


def test_word_tokenizer_round_trips_and_saves(word_tok, tmp_path):
    assert (word_tok.pad_id, word_tok.bos_id, word_tok.eos_id, word_tok.unk_id) == (0, 1, 2, 3)
    for s in SNLI:
        assert word_tok.decode(word_tok.encode(s)) == " ".join(s.split())
    assert word_tok.encode("a  man\tis\n sleeping .") == word_tok.encode("a man is sleeping .")
    word_tok.save(tmp_path)
    assert (tmp_path / "vocab.json").is_file()
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, WordTokenizer) and loaded.vocab_size == word_tok.vocab_size
    assert [loaded.encode(s) for s in SNLI] == [word_tok.encode(s) for s in SNLI]


def test_word_tokenizer_max_size_and_min_count():
    tok = WordTokenizer.train(SNLI, max_size=50)
    assert tok.vocab_size == 54 and tok.tokens[4] == "a"  # the most frequent SNLI word
    rare = WordTokenizer.train(SNLI, min_count=3)
    assert all(SNLI_COUNTS[w] >= 3 for w in rare.tokens[4:])
    assert WordTokenizer.train(["b a", "a c"]).tokens[4:] == ["a", "b", "c"]  # ties alphabetical


def test_sentencepiece_round_trips_and_saves(sp_tok, tmp_path):
    assert (sp_tok.pad_id, sp_tok.bos_id, sp_tok.eos_id, sp_tok.unk_id) == (0, 1, 2, 3)
    ids = [sp_tok.encode(s) for s in SNLI]
    assert [sp_tok.decode(i) for i in ids] == SNLI
    assert sp_tok.encode_batch(SNLI) == ids
    assert all(i >= 4 or i == UNK_ID for row in ids for i in row)  # never pad/bos/eos
    sp_tok.save(tmp_path)
    assert (tmp_path / "tokenizer.model").is_file()
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, SentencePieceTokenizer) and loaded.vocab_size == sp_tok.vocab_size
    assert [loaded.encode(s) for s in SNLI] == ids


def test_sentencepiece_training_is_deterministic_and_small_corpora_do_not_fail():
    a = SentencePieceTokenizer.train(SNLI, vocab_size=300)
    b = SentencePieceTokenizer.train(SNLI, vocab_size=300)
    assert a.model_proto == b.model_proto
    small = SentencePieceTokenizer.train(SNLI[:5], vocab_size=8000)  # fewer pieces, no error
    assert 4 < small.vocab_size < 8000
    assert small.decode(small.encode(SNLI[0])) == SNLI[0]


def test_literal_unk_is_the_unknown_word(word_tok, sp_tok):
    for tok in (word_tok, sp_tok):
        ids = tok.encode("a <unk> is sleeping <unk>")
        assert ids.count(UNK_ID) == 2 and ids[1] == UNK_ID and ids[-1] == UNK_ID
        assert tok.decode(ids) == "a <unk> is sleeping <unk>"
        assert tok.decode([BOS_ID, *tok.encode("<unk> a"), EOS_ID, PAD_ID, PAD_ID]) == "<unk> a"
        for s in WITH_UNK:
            assert tok.decode(tok.encode(s)) == s
        assert tok.encode("<unk>") == [UNK_ID]
    assert word_tok.encode("zyzzyva") == [UNK_ID]
    assert word_tok.encode("<pad> <bos> <eos>") == [UNK_ID] * 3  # typed specials are words, not controls


def test_lowercase_is_kept_by_the_saved_tokenizer(tmp_path):
    text = ["A Man is SLEEPING .", "Two dogs run ."]
    for tok in (
        WordTokenizer.train(text, lowercase=True),
        SentencePieceTokenizer.train(text * 5, vocab_size=40, lowercase=True),
    ):
        tok.save(tmp_path / tok.kind)
        loaded = load_tokenizer(tmp_path / tok.kind)
        assert loaded.encode("a MAN is sleeping .") == tok.encode("A man IS sleeping .")
        assert loaded.decode(loaded.encode("A Man is SLEEPING .")) == "a man is sleeping ."


def test_tokenizer_folder_errors(tmp_path, word_tok, sp_tok):
    with pytest.raises(UserError, match="holds no tokenizer"):
        load_tokenizer(tmp_path)
    sp_tok.save(tmp_path)
    word_tok.save(tmp_path)  # replaces the other kind: one folder, one tokenizer
    assert not (tmp_path / "tokenizer.model").exists()
    assert isinstance(load_tokenizer(tmp_path), WordTokenizer)
    (tmp_path / "vocab.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not a textvae word vocabulary"):
        load_tokenizer(tmp_path)


def test_sentencepiece_errors_are_user_errors():
    with pytest.raises(UserError, match="vocab_size 10 is smaller"):
        SentencePieceTokenizer.train(SNLI, vocab_size=10)
    with pytest.raises(UserError, match="no sentences"):
        SentencePieceTokenizer.train([], vocab_size=100)


# -- reading files ----------------------------------------------------------------------------------
def write_formats(tmp_path, sentences, column="sentence"):
    """The same sentences (one blank row among them) as text, jsonl, json, csv and parquet files."""
    rows = sentences[:3] + [""] + sentences[3:]
    paths = {
        "text": tmp_path / "s.txt",
        "jsonl": tmp_path / "s.jsonl",
        "json": tmp_path / "s.json",
        "csv": tmp_path / "s.csv",
        "parquet": tmp_path / "s.parquet",
    }
    paths["text"].write_text("\n".join(rows) + "\n", encoding="utf-8")
    frame = pd.DataFrame({"id": range(len(rows)), column: rows})
    frame.to_json(paths["jsonl"], orient="records", lines=True, force_ascii=False)
    paths["json"].write_text(json.dumps(frame.to_dict(orient="records")), encoding="utf-8")
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"])
    return paths


@pytest.mark.parametrize("fmt", ["text", "jsonl", "json", "csv", "parquet"])
def test_every_format_reads_the_same_sentences(tmp_path, fmt):
    sentences = SNLI[:20] + ['a sentence with "quotes", commas and ü']
    path = write_formats(tmp_path, sentences)[fmt]
    got, report = read_sentences(path, text_column="sentence")
    assert got == sentences
    assert (report.rows, report.blank, report.kept) == (len(sentences) + 1, 1, len(sentences))
    assert "1 blank" in report.describe()


def test_format_can_be_forced(tmp_path):
    path = tmp_path / "sentences.data"
    pd.DataFrame({"text": SNLI[:4]}).to_json(path, orient="records", lines=True)
    assert read_sentences(path, fmt="jsonl")[0] == SNLI[:4]
    assert read_sentences(path)[0][0].startswith('{"text"')  # unknown extension: plain text


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_missing_column_names_the_columns(tmp_path, fmt):
    path = write_formats(tmp_path, SNLI[:5])[fmt]
    with pytest.raises(UserError, match=r"no column 'text' \(its columns: id, sentence\); set data.text_column"):
        read_sentences(path, text_column="text", what="data.train_file")


def test_a_column_of_numbers_is_refused(tmp_path):
    path = write_formats(tmp_path, SNLI[:5])["jsonl"]
    with pytest.raises(UserError, match="column 'id' .* not text"):
        read_sentences(path, text_column="id")


def test_broken_json_is_a_user_error(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "a man ."}\nnot json\n', encoding="utf-8")
    with pytest.raises(UserError, match="could not read .* as jsonl"):
        read_sentences(path)


@pytest.mark.parametrize("content,match", [("", "holds nothing"), ("\n  \n\t\n\n", "holds only blank lines")])
def test_empty_text_files_are_user_errors(tmp_path, content, match):
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=f"data.train_file: .*{match}"):
        read_sentences(path)


def test_empty_structured_files_are_user_errors(tmp_path):
    (tmp_path / "e.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="is empty"):
        read_sentences(tmp_path / "e.jsonl")
    (tmp_path / "blank.csv").write_text('text\n\n""\n', encoding="utf-8")
    with pytest.raises(UserError, match="no text in column 'text'"):
        read_sentences(tmp_path / "blank.csv")


def test_missing_file_and_directory_are_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"data.valid_file: .*nope.txt does not exist"):
        read_sentences(tmp_path / "nope.txt", what="data.valid_file")
    with pytest.raises(UserError, match="is a directory; give a file"):
        read_sentences(tmp_path)


def test_non_utf8_text_is_decoded_with_replacement_and_counted(tmp_path):
    path = tmp_path / "latin1.txt"
    lines = [s.encode("utf-8") for s in SNLI[:6]]
    lines[2] = "a café is open .".encode("latin-1")
    lines[4] = "a naïve man .".encode("latin-1")
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")  # Windows line ends too
    got, report = read_sentences(path)
    assert len(got) == 6 and got[0] == SNLI[0] and got[2] == "a caf\ufffd is open ."
    assert (report.bad_utf8, report.first_bad_line) == (2, 3)
    assert "2 lines were not valid UTF-8 (first: line 3), decoded with replacement" in report.describe()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_non_utf8_structured_files_are_refused(tmp_path, fmt):
    path = tmp_path / f"latin1.{fmt}"
    head = b"text\n" if fmt == "csv" else b""
    row = (lambda s: s + b"\n") if fmt == "csv" else (lambda s: b'{"text": "' + s + b'"}\n')
    path.write_bytes(head + row(b"a man .") + row("a caf\xe9 .".encode("latin-1")))
    first = 3 if fmt == "csv" else 2  # the csv header is line 1
    with pytest.raises(UserError, match=rf"1 line that is not valid UTF-8 \(first: line {first}\).*iconv"):
        read_sentences(path)


def test_read_lines_keeps_every_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes("\ufeffa\n\nb \nc".encode("utf-8"))
    assert read_lines(path)[0] == ["a", "", "b ", "c"]


def test_gzipped_text_reads_like_plain_text(tmp_path):
    """PTB ships as .txt.gz: it is read as it is, and a damaged one is a one-line error."""
    import gzip

    plain, packed = tmp_path / "s.txt", tmp_path / "s.txt.gz"
    plain.write_text("\n".join(SNLI[:20]) + "\n", encoding="utf-8")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_sentences(packed)[0] == read_sentences(plain)[0] == SNLI[:20]
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(packed.read_bytes()[:30])
    with pytest.raises(UserError, match="is not a readable gzip file"):
        read_sentences(broken)


def test_heldout_split_is_seeded_and_disjoint():
    train, valid = split_heldout(SNLI[:100], 0.1, seed=3)
    assert len(valid) == 10 and len(train) == 90 and sorted(train + valid) == sorted(SNLI[:100])
    assert split_heldout(SNLI[:100], 0.1, seed=3) == (train, valid)
    assert split_heldout(SNLI[:100], 0.1, seed=4)[1] != valid
    with pytest.raises(UserError, match="at least two"):
        split_heldout(SNLI[:1], 0.1, seed=0)


# -- tokenizing, length policy, batches -------------------------------------------------------------
def test_long_sentences_are_truncated_or_dropped_and_counted(word_tok):
    sentences = SNLI[:50]
    lengths = [len(s.split()) for s in sentences]
    limit = 8
    n_long = sum(n > limit for n in lengths)
    assert 0 < n_long < len(sentences)
    cut, report = tokenize_sentences(sentences, word_tok, max_length=limit, long_policy="truncate")
    assert (report.truncated, report.dropped, len(cut)) == (n_long, 0, len(sentences))
    assert max(len(x) for x in cut.ids) == limit
    assert cut.ids[0] == word_tok.encode(sentences[0])[:limit]
    kept, report = tokenize_sentences(sentences, word_tok, max_length=limit, long_policy="drop")
    assert (report.truncated, report.dropped, len(kept)) == (0, n_long, len(sentences) - n_long)
    assert kept.texts == [s for s, n in zip(sentences, lengths) if n <= limit]
    assert f"{n_long} longer than {limit} tokens dropped" in report.describe()
    with pytest.raises(UserError, match="every sentence is longer"):
        tokenize_sentences(sentences, word_tok, max_length=1, long_policy="drop")


def test_collate_pads_to_the_longest_with_bos_and_eos(word_tok):
    data, _ = tokenize_sentences(SNLI[:3], word_tok)
    batch = collate_ids([data[0], data[1], data[2]], PAD_ID, BOS_ID, EOS_ID)
    lengths = [len(x) + 2 for x in data.ids]
    assert batch["input_ids"].shape == (3, max(lengths)) and batch["input_ids"].dtype == torch.long
    assert batch["lengths"].tolist() == lengths == data.lengths
    for row, ids, n in zip(batch["input_ids"].tolist(), data.ids, lengths):
        assert row[:n] == [BOS_ID, *ids, EOS_ID]
        assert row[n:] == [PAD_ID] * (max(lengths) - n)


def test_data_config_defaults_and_checks(tmp_path):
    cfg = from_dict(TextDataConfig, {})
    assert cfg.train_file == str(shipped_corpus("train")) and cfg.valid_file == str(shipped_corpus("valid"))
    own = from_dict(TextDataConfig, {"train_file": str(tmp_path / "t.txt")})
    assert own.valid_file is None  # a user's corpus is never validated on SNLI by default
    with pytest.raises(UserError, match="^data: long_policy must be truncate or drop"):
        from_dict(TextDataConfig, {"long_policy": "cut"}, "data.")
    with pytest.raises(UserError, match="^data.tokenizer: kind must be sentencepiece or word"):
        from_dict(TextDataConfig, {"tokenizer": {"kind": "bytes"}}, "data.")
    with pytest.raises(UserError, match="did you mean 'data.tokenizer.vocab_size'"):
        from_dict(TextDataConfig, {"tokenizer": {"vocab_sise": 10}}, "data.")


# -- the text task ----------------------------------------------------------------------------------
def make_task(tmp_path, **data):
    from textvae.registry import task_class
    from textvae.training.config import build_config

    raw = {
        "task": "text",
        "data": {
            "train_file": str(tmp_path / "train.txt"),
            "valid_fraction": 0.2,
            "max_length": 12,
            "tokenizer": {"kind": "word"},
            **data,
        },
        "model": {
            "embed_size": 16,
            "latent_size": 4,
            "encoder": {"kind": "gru", "hidden_size": 16},
            "decoder": {"kind": "gru", "hidden_size": 16},
        },
        "train": {"output_dir": str(tmp_path / "run")},
    }
    cfg = build_config(raw)
    return task_class("text")(cfg)


def test_text_task_builds_data_model_and_batches(tmp_path):
    from accelerate import Accelerator

    (tmp_path / "train.txt").write_text("\n".join(SNLI[:60]) + "\n", encoding="utf-8")
    task = make_task(tmp_path)
    acc = Accelerator(cpu=True)
    task.setup(acc)
    assert len(task.train_dataset()) == 48 and len(task.eval_dataset()) == 12
    assert (tmp_path / "run" / "tokenizer" / "vocab.json").is_file()
    model = task.build_model()
    assert model.config.vocab_size == task.tokenizer.vocab_size == task.config.model.vocab_size
    ds = task.train_dataset()
    batch = task.collate([ds[i] for i in range(4)], train=True)
    assert task.count_units(batch) == sum(len(ds[i]) + 1 for i in range(4))
    assert task.lengths(ds) == ds.lengths and max(ds.lengths) <= 12 + 2
    post = model.encode(batch)
    assert post.mean.shape == (4, 4)

    task.after_training(model, tmp_path / "run", acc)
    lines = (tmp_path / "run" / "interpolation.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 + 7 + 1 + 1 + 5  # header, a and b; the path; gap; header; samples
    assert lines[1] == f"# a: {task.eval_dataset().texts[0]}"

    # a resumed run reuses the tokenizer; other settings in the same folder are refused
    again = make_task(tmp_path)
    again.setup(acc)
    assert again.tokenizer.tokens == task.tokenizer.tokens
    with pytest.raises(UserError, match=r"other settings or data \(changed: min_count\)"):
        make_task(tmp_path, tokenizer={"kind": "word", "min_count": 2}).setup(acc)


# -- the text verbs ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, word_tok):
    from textvae.text.decoders import RNNDecoderConfig
    from textvae.text.encoders import RNNEncoderConfig
    from textvae.text.model import TextModelConfig, TextVAE

    torch.manual_seed(0)
    config = TextModelConfig(
        embed_size=16,
        latent_size=4,
        encoder=RNNEncoderConfig(kind="gru", hidden_size=16),
        decoder=RNNDecoderConfig(kind="gru", hidden_size=16),
    )
    folder = tmp_path_factory.mktemp("model")
    TextVAE(config, word_tok).save_pretrained(folder)
    return folder


def test_encode_writes_one_row_per_line(model_dir, tmp_path):
    from conftest import run_cli

    (tmp_path / "in.txt").write_text("\n".join(SNLI[:7]) + "\n", encoding="utf-8")
    out = tmp_path / "codes.npy"
    run_cli("encode", model_dir, "--input", tmp_path / "in.txt", "--output", out, "--batch-size", "3")
    codes = np.load(out)
    assert codes.shape == (7, 4) and codes.dtype == np.float32
    (tmp_path / "gap.txt").write_text(f"{SNLI[0]}\n\n{SNLI[1]}\n", encoding="utf-8")
    proc = run_cli("encode", model_dir, "--input", tmp_path / "gap.txt", "--output", out, check=False)
    assert proc.returncode == 2 and "line 2 of" in proc.stderr and "is empty" in proc.stderr


def test_generation_verbs_print_one_sentence_a_line(model_dir):
    from conftest import run_cli

    import textvae

    vae = textvae.load(model_dir)
    gen = ["--max-length", "6", "--beam-size", "2"]
    sampled = run_cli("sample", model_dir, "-n", "3", *gen).stdout.splitlines()
    assert sampled == vae.sample(3, max_length=6, beam_size=2) and len(sampled) == 3
    assert run_cli("reconstruct", model_dir, *SNLI[:2], *gen).stdout.splitlines() == vae.reconstruct(
        SNLI[:2], max_length=6
    )
    path = run_cli("interpolate", model_dir, SNLI[0], SNLI[1], "--steps", "3", *gen).stdout.splitlines()
    assert len(path) == 5 and [line.removeprefix("~ ") for line in path] == vae.interpolate(
        SNLI[0], SNLI[1], steps=3, max_length=6
    )


def test_evaluate_reports_perplexity_and_bleu(model_dir, tmp_path):
    from conftest import run_cli

    import textvae

    data = tmp_path / "eval.txt"
    data.write_text("\n".join(SNLI[:12]) + "\n\n", encoding="utf-8")
    res = textvae.load(model_dir).evaluate(data, iw_samples=4, batch_size=5)
    words = sum(len(s.split()) for s in SNLI[:12])
    assert (res["sentences"], res["words"], res["blank_lines_skipped"]) == (12, words, 1)
    assert res["perplexity"] == pytest.approx(np.exp(res["nll"] * 12 / (words + 12)))
    assert 0 <= res["bleu"] <= 100 and 0 <= res["exact_match"] <= 1
    with pytest.raises(UserError, match="--data FILE"):  # the folder records no validation file
        textvae.load(model_dir).evaluate(iw_samples=4)
    out = tmp_path / "metrics" / "eval.json"  # its folder is made
    proc = run_cli("evaluate", model_dir, "--data", data, "--iw-samples", "4", "--batch-size", "5", "--output", out)
    assert "perplexity" in proc.stdout and json.loads(out.read_text())["nll"] == pytest.approx(res["nll"])
