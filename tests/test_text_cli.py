"""Text VAEs through the command line, end to end on real SNLI sentences: train, every verb, exact
resume (word dropout, KL schedule, data order) and two processes under `accelerate launch`."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TEXT_CONFIG as CONFIG
from conftest import run_cli, tiny_text
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent


def tiny(corpus):
    return tiny_text(corpus)


@pytest.fixture(scope="module")
def model_dir(text_run):
    return text_run  # conftest's: 30 steps, logged every 5


def test_training_writes_a_loadable_model_folder(model_dir):
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer/vocab.json",
        "train_config.yaml",
        "logs/train.jsonl",
        "interpolation.txt",
    ):
        assert (model_dir / name).is_file(), name
    losses = [
        r["train/loss"]
        for r in map(json.loads, (model_dir / "logs" / "train.jsonl").read_text().splitlines())
        if "train/loss" in r
    ]
    assert len(losses) == 6 and all(np.isfinite(losses))


def test_interpolate_prints_steps_plus_two_sentences(model_dir):
    """The ends are the reconstructions of the two sentences (marked '~ ' when not the sentence itself), or
    with --with-inputs the sentences; every line is words of the model's vocabulary; the path is seeded."""
    import textvae

    a, b = "a man is sleeping .", "two dogs are running ."
    lines = run_cli("interpolate", model_dir, a, b, "--steps", "4").stdout.splitlines()
    assert len(lines) == 6 and lines == run_cli("interpolate", model_dir, a, b, "--steps", "4").stdout.splitlines()
    vae = textvae.load(model_dir)
    ends = vae.reconstruct([a, b])
    for line, given, end in ((lines[0], a, ends[0]), (lines[-1], b, ends[1])):
        assert line == given if end == given else line == "~ " + end
    vocabulary = set(vae.model.tokenizer.tokens)
    for line in lines:  # a 30-step model may decode an empty sentence, never a word it does not know
        assert set(line.removeprefix("~ ").split()) <= vocabulary, line
    assert [line.removeprefix("~ ") for line in lines] == vae.interpolate(a, b, steps=4)
    shown = run_cli("interpolate", model_dir, a, b, "--steps", "4", "--with-inputs").stdout.splitlines()
    assert shown[0] == a and shown[-1] == b and shown[1:-1] == lines[1:-1]


def test_reconstruct_sample_and_encode(model_dir, tmp_path):
    proc = run_cli(
        "reconstruct", model_dir, "a man is sleeping .", "a woman sings .", "--strategy", "beam", "--beam-size", "3"
    )
    assert len(proc.stdout.splitlines()) == 2
    proc = run_cli("sample", model_dir, "-n", "4", "--top-p", "0.9", "--seed", "1")
    again = run_cli("sample", model_dir, "-n", "4", "--top-p", "0.9", "--seed", "1")
    assert len(proc.stdout.splitlines()) == 4 and proc.stdout == again.stdout  # seeded
    (tmp_path / "in.txt").write_text("a man is sleeping .\nthe dog runs .\na child plays .\n")
    run_cli("encode", model_dir, "--input", tmp_path / "in.txt", "--output", tmp_path / "codes.npy")
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (3, 8) and codes.dtype == np.float32


def test_evaluate_on_the_recorded_validation_file(model_dir, tmp_path):
    out = tmp_path / "eval.json"
    proc = run_cli("evaluate", model_dir, "--iw-samples", "5", "--output", out)
    assert "perplexity" in proc.stdout
    res = json.loads(out.read_text())
    assert res["sentences"] == 61 and res["num_examples"] == 61
    assert res["perplexity"] == pytest.approx(np.exp(res["nll"] * 61 / (res["words"] + 61)), rel=1e-6)
    refined = tmp_path / "refined.json"
    run_cli("evaluate", model_dir, "--iw-samples", "5", "--refine-steps", "3", "--output", refined)
    refined = json.loads(refined.read_text())
    assert refined["refine_steps"] == 3 and refined["nll"] != res["nll"]
    assert refined["neg_elbo"] == pytest.approx(res["neg_elbo"]) and refined["mi"] == pytest.approx(res["mi"])
    wider = tmp_path / "wider.json"
    proc = run_cli("evaluate", model_dir, "--iw-samples", "5", "--proposal-scale", "1.3", "--output", wider)
    assert "NLL (nats/sentence, k=5, proposal x1.3)" in proc.stdout
    wider = json.loads(wider.read_text())
    assert wider["proposal_scale"] == 1.3 and wider["nll"] != res["nll"]
    assert wider["neg_elbo"] == pytest.approx(res["neg_elbo"]) and wider["kl"] == pytest.approx(res["kl"])
    bad = run_cli("evaluate", model_dir, "--proposal-scale", "0", check=False)
    assert bad.returncode != 0 and "--proposal-scale must be > 0" in bad.stderr and "Traceback" not in bad.stderr


def test_bench_bound_tightens_with_k_for_every_proposal(model_dir, corpus, tmp_path):
    """scripts/bench_bound.py end to end: the bound of each proposal at k = 1 and 40 from one stream."""
    import subprocess

    proc = subprocess.run(
        [
            sys.executable,
            ROOT / "scripts" / "bench_bound.py",
            model_dir,
            "--data",
            corpus / "valid.txt",
            "--sentences",
            "12",
            "--samples",
            "1",
            "40",
            "--refine-steps",
            "2",
            "--scales",
            "1",
            "1.5",
            "--precision",
            "no",
            "--out",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "bound.json").read_text())
    assert res["sentences"] == 12
    assert [(r["refine_steps"], r["scale"]) for r in res["rows"]] == [(0, 1), (0, 1.5), (2, 1), (2, 1.5)]
    for row in res["rows"]:  # averaged over 12 sentences, 40 samples bound log p(x) far better than one
        assert np.isfinite(row["nll"]["1"]) and row["nll"]["40"] < row["nll"]["1"], row
    table = (tmp_path / "bound.md").read_text()
    assert "| q refined, 2 steps, 1.5x wider |" in table and "| q(z\\|x) |" in table  # no bare | in a cell
    (tmp_path / "bound.md").unlink()
    subprocess.run([sys.executable, ROOT / "scripts" / "bench_bound.py", "--table-only", "--out", tmp_path], check=True)
    assert (tmp_path / "bound.md").read_text() == table


def test_fit_prior_writes_a_model_whose_prior_evaluate_and_sample_use(model_dir, tmp_path):
    from textvae.registry import load_model

    out = tmp_path / "fitted"
    proc = run_cli("fit-prior", model_dir, "--components", "3", "--samples-per-example", "2", "--output", out)
    assert "fitted mixture" in proc.stdout
    report = json.loads((out / "prior_fit.json").read_text())
    assert report["codes"] == 2 * 320 and report["log_p_fitted"] > report["log_p_standard_normal"]
    fitted, plain = load_model(out), load_model(model_dir)
    assert fitted.config.prior_components == 3 and plain.prior is None
    weights = load_file(str(out / "model.safetensors"))
    assert torch.equal(weights["prior.means"], fitted.prior.means) and weights["prior.means"].shape == (3, 8)
    for name, tensor in plain.state_dict().items():  # encoder and decoder untouched
        assert torch.equal(tensor, fitted.state_dict()[name]), name
    # evaluate: the bound and the KL use the fitted prior, reconstruction is the same
    a, b = tmp_path / "plain.json", tmp_path / "fitted.json"
    run_cli("evaluate", model_dir, "--iw-samples", "5", "--output", a)
    run_cli("evaluate", out, "--iw-samples", "5", "--output", b)
    a, b = json.loads(a.read_text()), json.loads(b.read_text())
    assert b["prior"].startswith("Gaussian mixture, 3") and a["prior"].startswith("standard normal")
    assert a["rec"] == pytest.approx(b["rec"]) and a["nll"] != b["nll"] and a["kl"] != b["kl"]
    assert a["mi"] == pytest.approx(b["mi"]) and a["active_units"] == b["active_units"]
    # sampling draws from the mixture, seeded
    z = fitted.sample_prior(4000, torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), torch.softmax(fitted.prior.logits, 0) @ fitted.prior.means, atol=0.1)
    first = run_cli("sample", out, "-n", "3", "--seed", "2").stdout
    assert len(first.splitlines()) == 3 and first == run_cli("sample", out, "-n", "3", "--seed", "2").stdout
    proc = run_cli(
        "fit-prior",
        model_dir,
        "--components",
        "400",
        "--samples-per-example",
        "1",
        "--output",
        tmp_path / "too-many",
        check=False,
    )
    assert proc.returncode == 2 and "too few codes" in proc.stderr.splitlines()[-1]
    assert not (tmp_path / "too-many").exists()
    proc = run_cli("fit-prior", model_dir, "--output", tmp_path / "two", check=False, env_extra={"WORLD_SIZE": "2"})
    assert proc.returncode == 2 and "without `accelerate launch`" in proc.stderr and not (tmp_path / "two").exists()


def test_training_further_against_a_fitted_prior(model_dir, corpus, tmp_path):
    """A fitted model trains on against its mixture (held fixed): `fit-prior`'s folder (no tokenizer/
    folder, only the tokenizer's file: init_from refused it before) starts the run, the validation KL is the
    mixture's (evaluate's estimate of the saved model agrees), and the prior must come from that folder."""
    from textvae.registry import load_model

    fitted, tuned = tmp_path / "fitted", tmp_path / "tuned"
    run_cli("fit-prior", model_dir, "--components", "3", "--samples-per-example", "2", "--output", fitted)
    assert not (fitted / "tokenizer").exists()
    run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        tuned,
        *tiny(corpus),
        "train.max_steps=4",
        "train.lr_warmup_steps=0",
        f"train.init_from={fitted}",
        "model.prior_components=3",
        "loss.free_bits=0.25",
        "loss.free_bits_per=example",
    )
    before, after = load_model(fitted), load_model(tuned)
    assert after.config.prior_components == 3
    for name in ("logits", "means", "scale_tril"):  # the mixture held fixed
        assert torch.allclose(getattr(before.prior, name), getattr(after.prior, name)), name
    assert not torch.allclose(before.decoder.rnn.weight_hh_l0, after.decoder.rnn.weight_hh_l0)
    logged = [json.loads(line) for line in (tuned / "logs" / "train.jsonl").read_text().splitlines()]
    valid_kl = [r["val/kl"] for r in logged if "val/kl" in r][-1]
    out = tmp_path / "eval.json"
    run_cli("evaluate", tuned, "--iw-samples", "2", "--output", out)
    res = json.loads(out.read_text())
    # both estimates (16 and 64 draws a sentence) scatter by ~0.08 here; the KL against N(0, I) is ~2 nats away
    assert abs(res["kl"] - valid_kl) < 0.4 and abs(sum(res["kl_per_dim"]) - valid_kl) > 1.0, (res, valid_kl)
    bad = run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        tmp_path / "bad",
        *tiny(corpus),
        "train.max_steps=1",
        f"train.init_from={fitted}",
        "model.prior_components=3",
        "train.init_parts=[encoder]",
        check=False,
    )
    assert bad.returncode == 2 and "add prior to train.init_parts" in bad.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "args,message",
    [
        (["fit-prior", "{model}", "--output", "{model}"], "is the model folder itself"),
        (["fit-prior", "{model}", "--components", "0"], "--components must be >= 1"),
        (["encode", "{model}", "--input", "{tmp}/empty.txt", "--output", "{tmp}/c.npy"], "is empty"),
        (["interpolate", "{model}", "", "a man ."], "empty"),
        (["reconstruct", "{model}", "zzzq qqqz"], "unknown"),
    ],
)
def test_text_verbs_fail_in_one_line(model_dir, tmp_path, args, message):
    (tmp_path / "empty.txt").write_text("")
    proc = run_cli(*[a.format(model=model_dir, tmp=tmp_path) for a in args], check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_resume_is_exact_with_word_dropout_and_cyclical_kl(corpus, tmp_path):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    args = [
        "train",
        "--config",
        CONFIG,
        *tiny(corpus),
        "train.max_steps=24",
        "train.save_every=7",
        "train.keep_last=5",
        "loss.kl.cycles=2",
    ]
    run_cli(*args, "--output-dir", full)
    run_cli(*args, "--output-dir", resumed, "--resume", full / "checkpoints" / "step-7")
    wa, wb = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_two_processes_train_one_text_model(corpus, tmp_path):
    """Through the shipped accelerate config file, as the README shows it."""
    out = tmp_path / "ddp"
    launcher = [
        str(Path(sys.executable).with_name("accelerate")),
        "launch",
        "--config_file",
        str(ROOT / "configs" / "accelerate" / "cpu-2-processes.yaml"),
    ]
    proc = run_cli(
        "train", "--config", CONFIG, "--output-dir", out, *tiny(corpus), "train.max_steps=6", launcher=launcher
    )
    assert "2 process(es)" in proc.stdout
    assert (out / "model.safetensors").is_file() and (out / "tokenizer" / "vocab.json").is_file()
    records = [json.loads(line) for line in (out / "logs" / "train.jsonl").read_text().splitlines()]
    # one writer: each step logged once (step 5, and the last partial window at step 6)
    assert [r["step"] for r in records if "train/loss" in r] == [5, 6]


def test_init_from_copies_the_chosen_parts_of_a_saved_model(model_dir, corpus, tmp_path):
    """Li et al. 2019's start: the encoder of a trained model, a fresh decoder. With a learning rate of
    1e-12 one step leaves the copied tensors as they were saved."""
    out = tmp_path / "init"
    proc = run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        out,
        *tiny(corpus),
        "train.max_steps=1",
        "train.lr=1e-12",
        "train.lr_warmup_steps=0",
        f"train.init_from={model_dir}",
        "train.init_parts=[encoder,to_posterior]",
    )
    assert "initialised" in proc.stdout and "(encoder, to_posterior)" in proc.stdout
    source, started = load_file(str(model_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    copied = [k for k in source if k.startswith(("encoder.", "to_posterior."))]
    assert copied and all(torch.allclose(started[k], source[k], atol=1e-6) for k in copied)
    assert not torch.allclose(started["decoder.rnn.weight_hh_l0"], source["decoder.rnn.weight_hh_l0"], atol=1e-3)


def test_init_from_an_encoder_with_its_own_embedding_leaves_the_whole_decoder_fresh(corpus, tmp_path):
    """bench_ptb's LI_RECIPE (its start, and free bits per example): with model.share_embeddings=false the
    encoder's embedding is enc_embedding, taken with the encoder; the decoder's embedding (its tied output
    layer) is not. The source has another seed, so a fresh tensor cannot equal its saved one by sharing an
    initialisation."""
    own = [*tiny(corpus), "model.share_embeddings=false", "loss.free_bits=0.25", "loss.free_bits_per=example"]
    source_dir, out = tmp_path / "ae", tmp_path / "vae"
    run_cli("train", "--config", CONFIG, "--output-dir", source_dir, *own, "train.max_steps=3", "train.seed=1")
    run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        out,
        *own,
        "train.max_steps=1",
        "train.lr=1e-12",
        "train.lr_warmup_steps=0",
        f"train.init_from={source_dir}",
        "train.init_parts=[enc_embedding,encoder,to_posterior]",
    )
    source, started = load_file(str(source_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    copied = [k for k in source if k.startswith(("enc_embedding.", "encoder.", "to_posterior."))]
    assert "enc_embedding.weight" in copied and all(torch.allclose(started[k], source[k], atol=1e-6) for k in copied)
    assert not torch.allclose(started["decoder.embedding.weight"], source["decoder.embedding.weight"], atol=1e-3)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["train.init_parts=[encoderz]"], "names no parameter of this model; its parts are"),
        (["data.tokenizer.max_size=50"], "another tokenizer"),
        (["model.latent_size=4"], "other shapes: to_posterior"),
    ],
)
def test_init_from_refuses_weights_that_do_not_fit_in_one_line(model_dir, corpus, tmp_path, extra, message):
    proc = run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        tmp_path / "bad",
        *tiny(corpus),
        "train.max_steps=1",
        f"train.init_from={model_dir}",
        *extra,
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
