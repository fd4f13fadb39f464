"""The faithfulness report (textvae.text.faithfulness): its metrics against hand-made paths and
sentences, `textvae interpolate`'s marks and --with-inputs end to end, and a short real training whose
reconstructions beat decodings of prior codes."""

import json
import math
import random
from pathlib import Path

import pytest
import sacrebleu
import torch
from conftest import run_cli

from textvae.registry import load_model
from textvae.text.faithfulness import (
    distinct_n,
    edit_distance,
    is_monotone,
    lm_perplexity,
    measure_faithfulness,
    path_scores,
    self_bleu,
    step_distance,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "text" / "snli-lstm.yaml"
LM_CONFIG = ROOT / "configs" / "text" / "snli-lm.yaml"


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("a man sleeps .", "a man sleeps .", 0),
        ("a man sleeps .", "a woman sleeps .", 1),  # one substitution
        ("a man sleeps .", "a man .", 1),  # one deletion
        ("a man .", "a tall man is here .", 3),  # three insertions
        ("", "two dogs", 2),
        ("dogs run", "run dogs", 2),  # a swap is two edits
        ("a b c d", "x y", 4),
    ],
)
def test_edit_distance_counts_words(a, b, expected):
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


@pytest.mark.parametrize(
    "path, expected",
    [
        (["a b c"], 0.0),
        (["a b c", "a b d", "a e d"], 1.0),
        (["a b", "a b", "x y z"], 1.5),  # 0 then 3
    ],
)
def test_step_distance_is_the_mean_over_consecutive_lines(path, expected):
    assert step_distance(path) == expected


@pytest.mark.parametrize(
    "path, target, expected",
    [
        (["a b c", "a b d", "a e d"], "a e d", True),  # 2, 1, 0
        (["a b c", "a b c", "a e d"], "a e d", True),  # 2, 2, 0: a plateau is no rise
        (["a e d", "a b c", "a e d"], "a e d", False),  # 0, 2, 0
        (["x", "a e d"], "a e d", True),  # 3, 0
        (["a b c", "a b d", "q q q"], "a e d", False),  # 2, 1, 3: the last line strays
    ],
)
def test_monotone_means_the_distance_to_b_never_rises(path, target, expected):
    assert is_monotone(path, target) is expected


@pytest.mark.parametrize(
    "sentences, n, expected",
    [
        (["a b a b", "a b"], 2, 2 / 4),  # (a b) x3, (b a): 2 distinct of 4
        (["a b a b", "a b"], 1, 2 / 6),
        (["a man sleeps .", "a dog sleeps ."], 2, 5 / 6),  # "sleeps ." twice
        (["one"], 2, 0.0),  # no bigram at all
    ],
)
def test_distinct_n(sentences, n, expected):
    assert distinct_n(sentences, n) == expected


def test_self_bleu_by_hand():
    # each sentence against the other: 4/5 unigrams, 3/4 bigrams, 2/3 trigrams, 1/2 4-grams, equal lengths
    assert self_bleu(["a b c d e", "a b c d f"]) == pytest.approx(100 * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25)
    assert self_bleu(["a man sleeps .", "a man sleeps ."]) == pytest.approx(100.0)
    assert self_bleu(["a b c d"]) == 0.0


def test_self_bleu_is_sacrebleus_with_the_others_as_references():
    lines = (ROOT / "textvae" / "data" / "snli" / "valid.txt").read_text(encoding="utf-8").splitlines()
    sents = random.Random(0).sample(lines, 30)
    sents += sents[:3]  # duplicates: the leave-one-out maximum counts must handle ties
    refs = [[s for j, s in enumerate(sents) if j != i] for i in range(len(sents))]  # N hyps x (N-1) refs
    slow = sacrebleu.BLEU(tokenize="none").corpus_score(sents, [list(r) for r in zip(*refs)]).score
    assert self_bleu(sents) == pytest.approx(slow, abs=1e-9)


def test_path_scores_on_hand_made_paths():
    pairs = [("a man sleeps .", "two dogs run ."), ("a cat .", "a dog .")]
    paths = [
        ["a man sleeps .", "a man runs .", "two dogs run ."],  # both ends; distances to b 3, 2, 0
        ["the cat .", "a dog .", "a dog ."],
    ]  # wrong start; 1, 0, 0
    s = path_scores(paths, pairs)
    assert s["endpoint_fidelity"] == 0.5 and s["start_fidelity"] == 0.5 and s["end_fidelity"] == 1.0
    assert s["monotone"] == 1.0
    assert s["step_edit_distance"] == ((1 + 3) / 2 + (2 + 0) / 2) / 2
    assert s["distinct_lines"] == (3 + 2) / 2


def test_encoder_word_deletion_keeps_ends_and_order():
    from tiny_text import SENTENCES, tiny_model

    from textvae.text.tokenizers import WordTokenizer

    tok = WordTokenizer.train(SENTENCES, max_size=500, min_count=1)
    model = tiny_model(tok, encoder_word_deletion=0.5)
    batch = model.batch_from_sentences(SENTENCES[:8])
    ids, lengths = batch["input_ids"], batch["lengths"]
    model.eval()
    assert model.delete_words(ids, lengths)[0] is ids  # evaluation reads the whole sentence
    model.train()
    torch.manual_seed(0)
    kept, new_lengths = model.delete_words(ids, lengths)
    assert (new_lengths < lengths).any() and (new_lengths >= 2).all()
    for row, n, old, m in zip(kept.tolist(), new_lengths.tolist(), ids.tolist(), lengths.tolist()):
        assert row[0] == tok.bos_id and row[n - 1] == tok.eos_id and all(t == tok.pad_id for t in row[n:])
        rest = iter(old[1 : m - 1])
        assert all(t in rest for t in row[1 : n - 1])  # a subsequence, in order
    from textvae.text.decoders import RNNDecoderConfig
    from textvae.text.encoders import NoEncoderConfig
    from textvae.text.model import TextModelConfig

    lm = RNNDecoderConfig(z_to_initial_state=False, z_to_every_input=False)
    with pytest.raises(ValueError, match="encoder_word_deletion"):  # a language model reads no sentence
        TextModelConfig(encoder=NoEncoderConfig(), decoder=lm, encoder_word_deletion=0.1)


def test_word_replacement_replaces_inner_tokens_for_encoder_and_decoder_alike():
    from tiny_text import SENTENCES, tiny_model

    from textvae.core.elbo_module import ElboModule
    from textvae.text.tokenizers import WordTokenizer

    tok = WordTokenizer.train(SENTENCES, max_size=500, min_count=1)
    p = 0.3
    model = tiny_model(tok, word_replacement=p)
    batch = model.batch_from_sentences(SENTENCES * 8)
    ids, lengths = batch["input_ids"], batch["lengths"]
    model.eval()
    assert model.augment(batch) is batch  # evaluation sees the sentence as it is
    model.train()
    torch.manual_seed(0)
    new = model.augment(batch)["input_ids"]
    assert new.shape == ids.shape and torch.equal(model.augment(batch)["lengths"], lengths)
    pos = torch.arange(ids.shape[1])[None, :]
    inner = (pos > 0) & (pos < lengths[:, None] - 1)
    assert torch.equal(new[~inner], ids[~inner])  # bos, eos and padding stay
    special = {tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id}
    changed = new != ids
    assert not any(t in special for t in new[changed].tolist())  # a drawn token is a word
    # a token is kept when the draw hits a special id or the same word: rate p * (1 - 4/V - 1/V)
    expected = p * (1 - 5 / tok.vocab_size)
    assert abs(changed.sum().item() / inner.sum().item() - expected) < 0.05
    # the objective augments in training only: in eval mode its loss is the plain sentences'
    elbo = ElboModule(model).eval()
    torch.manual_seed(1)
    z = model.encode(batch).rsample()
    plain = -model.log_likelihood(z[None], batch)[0]
    torch.manual_seed(1)
    assert torch.allclose(elbo(batch)["rec_each"], plain)
    elbo.train()
    torch.manual_seed(1)
    assert not torch.allclose(elbo(batch)["rec_each"], plain)
    from textvae.text.model import TextModelConfig
    from textvae.text.pretrained import PretrainedEncoderConfig

    with pytest.raises(ValueError, match="word_replacement"):
        TextModelConfig(encoder=PretrainedEncoderConfig(path="x"), word_replacement=0.1)


@pytest.mark.parametrize("targets", ["original", "skipped"])
def test_word_replacement_targets_teach_the_sentence_or_nothing_where_a_word_was_replaced(targets):
    from tiny_text import SENTENCES, tiny_model

    from textvae.text.model import TextModelConfig
    from textvae.text.tokenizers import WordTokenizer

    tok = WordTokenizer.train(SENTENCES, max_size=500, min_count=1)
    model = tiny_model(tok, word_replacement=0.3, word_replacement_targets=targets).train()
    batch = model.batch_from_sentences(SENTENCES * 4)
    torch.manual_seed(0)
    noised = model.augment(batch)
    replaced = noised["input_ids"] != batch["input_ids"]
    assert replaced.any()
    z = torch.randn(1, len(SENTENCES) * 4, model.config.latent_size)
    model.eval()  # no dropout: the same decoder for every likelihood below
    got = model.log_likelihood(z, noised)[0]
    # the decoder reads the drawn words; it is scored on the sentence's own (original) or not at all
    # (skipped) where one was drawn: by hand, from the per-position log-probabilities of the noised input
    ids, lengths = noised["input_ids"], noised["lengths"]
    h = model.decoder.features(ids[:, :-1], z[0])
    logp = model.decoder.target_log_probs(h.flatten(0, 1), batch["input_ids"][:, 1:].flatten()).view(h.shape[:2])
    real = torch.arange(ids.shape[1] - 1)[None, :] < (lengths[:, None] - 1)
    if targets == "skipped":
        real &= ~replaced[:, 1:]
    assert torch.allclose(got, (logp * real).sum(1), atol=1e-4)
    # and unlike the drawn word as the target (the default)
    assert not torch.allclose(got, model.log_likelihood(z, {**batch, "input_ids": ids})[0], atol=1e-2)
    with pytest.raises(ValueError, match="word_replacement_targets must be replaced, original or skipped"):
        TextModelConfig(word_replacement=0.1, word_replacement_targets="clean")


# -- a real short training ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """64 short SNLI training sentences (3 to 8 words): a corpus a small model learns in seconds."""
    from textvae.text.data import shipped_corpus

    lines = shipped_corpus("train").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("short") / "short.txt"
    path.write_text("\n".join([s for s in lines if 3 <= len(s.split()) <= 8][:64]) + "\n", encoding="utf-8")
    return path


def small(data, lm=False):
    """Overrides for a small model on `data`; `lm`: for LM_CONFIG, whose encoder (kind none) has no size."""
    return [
        f"data.train_file={data}",
        f"data.valid_file={data}",
        "data.tokenizer.kind=word",
        "data.tokenizer.min_count=1",
        "model.embed_size=64",
        *([] if lm else ["model.encoder.hidden_size=64"]),
        "model.decoder.hidden_size=64",
        "train.batch_size=16",
        "train.eval_batch_size=64",
        "train.progress_bar=false",
        "train.select_best=false",
        "train.threads=1",
        "train.log_every=50",
        "train.lr=3e-3",
        "train.fit_prior=0",
        "train.mixed_precision=no",
    ]


@pytest.fixture(scope="module")
def trained(short, tmp_path_factory):
    """A VAE with a low KL weight (0.05) and 16 dimensions, 300 steps on the 64 sentences, which are also
    its validation sentences (so faithfulness.json measures them)."""
    out = tmp_path_factory.mktemp("faithful") / "vae"
    run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        out,
        *small(short),
        "train.max_steps=300",
        "loss.kl.kind=constant",
        "loss.kl.max_weight=0.05",
        "loss.free_bits=0",
        "model.latent_size=16",
        "model.word_dropout=0.3",
        "model.word_replacement=0",  # 300 steps to learn 64 sentences by heart: no augmentation
        "model.decoder.z_to_output=false",
        "train.lr_schedule=constant",
        timeout=600,
    )
    return out


def test_training_writes_faithfulness_and_reconstructions_beat_prior_codes(trained):
    report = json.loads((trained / "faithfulness.json").read_text())
    rec = report["reconstruction"]
    assert rec["sentences"] == 64
    assert rec["bleu"] > rec["bleu_of_prior_codes"] + 20 and rec["exact_match"] > 0.1
    assert set(report["paths"]) >= {"endpoint_fidelity", "monotone", "step_edit_distance"}
    assert 0 <= report["samples"]["distinct_2"] <= 1 and "fluency" not in report


def _reconstructed(model_dir, sentences):
    from textvae.registry import load_model
    from textvae.text.faithfulness import as_read

    model = load_model(model_dir)
    outs = model.reconstruct(sentences, strategy="greedy", max_length=66)
    return [s for s, o in zip(sentences, outs) if o == as_read(model.tokenizer, s)], [
        s for s, o in zip(sentences, outs) if o != as_read(model.tokenizer, s)
    ]


def test_interpolate_marks_an_end_it_does_not_reconstruct(trained, short):
    good, bad = _reconstructed(trained, short.read_text().splitlines())
    assert len(good) >= 2 and bad, (len(good), len(bad))
    plain = ["--fit-steps", "0"]  # the posterior means, as _reconstructed decodes them
    proc = run_cli("interpolate", trained, good[0], good[1], "--steps", "3", *plain)
    lines = proc.stdout.splitlines()
    assert len(lines) == 5 and lines[0] == good[0] and lines[-1] == good[1]
    assert "~ " not in proc.stdout and "warning" not in proc.stderr

    proc = run_cli("interpolate", trained, good[0], bad[0], "--steps", "3", *plain)
    lines = proc.stdout.splitlines()
    assert lines[0] == good[0] and lines[-1].startswith("~ ") and lines[-1][2:] != bad[0]
    assert not any(line.startswith("~ ") for line in lines[:-1])
    assert "does not reconstruct sentence B" in proc.stderr and "sentence A" not in proc.stderr

    with_inputs = run_cli("interpolate", trained, bad[0], good[0], "--steps", "3", "--with-inputs", *plain)
    again = run_cli("interpolate", trained, bad[0], good[0], "--steps", "3", *plain)
    printed, marked = with_inputs.stdout.splitlines(), again.stdout.splitlines()
    assert printed[0] == bad[0] and printed[-1] == good[0] and printed[1:-1] == marked[1:-1]
    assert marked[0].startswith("~ ") and "does not reconstruct sentence A" in with_inputs.stderr


def test_fitted_codes_raise_the_likelihood_and_bring_back_sentences_the_means_miss(trained, short):
    from textvae.core.objectives import fit_codes
    from textvae.registry import load_model
    from textvae.text.faithfulness import as_read

    model = load_model(trained).eval()
    good, bad = _reconstructed(trained, short.read_text().splitlines())
    batch = model.batch_from_sentences(bad)
    with torch.no_grad():
        means = model.encode(batch).mean
        before = model.log_likelihood(means[None], batch)[0]
        fitted = fit_codes(model, batch, means, steps=25)
        after = model.log_likelihood(fitted[None], batch)[0]
    assert (after > before).all(), (before, after)  # every sentence's own likelihood rises
    outs = model.reconstruct(bad, fit_steps=25, strategy="greedy", max_length=66)
    back = [s for s, o in zip(bad, outs) if o == as_read(model.tokenizer, s)]
    assert back, f"none of {len(bad)} missed sentences came back with fitted codes"
    # the command line fits by default: a sentence it brings back is printed unmarked
    proc = run_cli("interpolate", trained, good[0], back[0], "--steps", "3")
    assert proc.stdout.splitlines()[-1] == as_read(model.tokenizer, back[0]) and "warning" not in proc.stderr
    bad_steps = run_cli("reconstruct", trained, good[0], "--fit-steps", "-1", check=False)
    assert bad_steps.returncode == 2 and "fit_steps must be >= 0" in bad_steps.stderr
    assert "Traceback" not in bad_steps.stderr


def test_evaluate_faithfulness_with_a_language_model(trained, short, tmp_path):
    lm = tmp_path / "lm"
    run_cli(
        "train",
        "--config",
        LM_CONFIG,
        "--output-dir",
        lm,
        *small(short, lm=True),
        "train.max_steps=20",
        "train.mixed_precision=no",
    )
    out = tmp_path / "eval.json"
    proc = run_cli("evaluate", trained, "--iw-samples", "0", "--fluency-lm", lm, "--output", out)
    assert "fluency ratio" in proc.stdout
    f = json.loads(out.read_text())["faithfulness"]
    fl = f["fluency"]
    assert fl["ratio"] == pytest.approx(fl["sample_perplexity"] / fl["validation_perplexity"])
    assert all(math.isfinite(v) and v > 1 for v in (fl["sample_perplexity"], fl["validation_perplexity"]))
    assert fl["path_middle_ratio"] == pytest.approx(fl["path_middle_perplexity"] / fl["validation_perplexity"])
    assert "path middles fluency ratio" in proc.stdout
    # the report's stages on a progress bar (minutes of silence for a Transformer decoder otherwise)
    assert "faithfulness: 100%" in proc.stderr and "4/4" in proc.stderr
    bad = run_cli("evaluate", trained, "--iw-samples", "0", "--fluency-lm", trained, check=False)
    assert bad.returncode == 2 and "not a language model" in bad.stderr
    # the path middles' perplexity is the language model's over every path line but the two ends
    model, language_model = load_model(trained), load_model(lm)
    sentences = short.read_text(encoding="utf-8").splitlines()
    report = measure_faithfulness(model, sentences, language_model, reconstructions=20, pairs=3, samples=20)
    middles = [line for ex in report["paths"]["examples"] for line in ex["path"][1:-1]]
    assert len(middles) == 3 * report["paths"]["steps"]
    expected = lm_perplexity(language_model, middles)["perplexity"]
    assert report["fluency"]["path_middle_perplexity"] == pytest.approx(expected, rel=1e-9)


def test_train_fit_prior_leaves_the_model_with_a_fitted_mixture(short, tmp_path):
    out = tmp_path / "fitted"
    proc = run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        out,
        *small(short),
        "train.max_steps=10",
        "model.latent_size=4",
        "train.fit_prior=3",
    )
    assert "3-component Gaussian mixture fitted to 256 training codes" in proc.stdout + proc.stderr
    assert json.loads((out / "config.json").read_text())["config"]["prior_components"] == 3
    report = json.loads((out / "prior_fit.json").read_text())
    assert report["components"] == 3 and report["log_p_fitted"] > report["log_p_standard_normal"]
    assert len(run_cli("sample", out, "-n", "3").stdout.splitlines()) == 3
    lm = run_cli(
        "train",
        "--config",
        LM_CONFIG,
        "--output-dir",
        tmp_path / "lm",
        *small(short, lm=True),
        "train.max_steps=2",
        "train.fit_prior=3",
        check=False,
    )
    assert lm.returncode == 2 and "has no codes" in lm.stderr
