"""textvae's Python API (textvae.load, textvae.train) on tiny trained models: each method gives what the
command-line verb prints for the same options, images round-trip as tensors, bad input is one UserError."""

import json

import pytest
import torch
from conftest import IMAGE_CONFIG, IMAGE_SAMPLE, TINY_IMAGE, run_cli

import textvae
from textvae.errors import UserError
from textvae.pipelines.image import ImagePipeline
from textvae.pipelines.text import TextPipeline

A, B = "a man is sleeping .", "two dogs are running ."


@pytest.fixture(scope="module")
def vae(text_run):
    return textvae.load(text_run)


def test_load_gives_the_pipeline_of_the_modality(vae, image_run):
    assert isinstance(vae, TextPipeline) and vae.latent_size == 8
    assert isinstance(textvae.load(image_run), ImagePipeline)
    with pytest.raises(UserError):
        textvae.load(image_run / "logs")


def test_text_methods_match_the_command_line(vae, text_run, tmp_path):
    z = vae.encode([A, B, "a woman sings ."])
    assert z.shape == (3, 8) and z.dtype == torch.float32 and z.device.type == "cpu"
    assert torch.allclose(vae.encode(A), z[:1], atol=1e-5)  # one string is a list of one (unpadded)
    (tmp_path / "in.txt").write_text(f"{A}\n{B}\n")
    run_cli("encode", text_run, "--input", tmp_path / "in.txt", "--output", tmp_path / "codes.npy")
    import numpy as np

    assert np.allclose(np.load(tmp_path / "codes.npy"), z[:2].numpy(), atol=1e-6)
    assert vae.decode(z) == vae.reconstruct([A, B, "a woman sings ."], fit_steps=0)
    from textvae.text.sentences import FIT_STEPS

    assert vae.fit_steps() == FIT_STEPS  # a config that does not set model.fit_steps
    fitted = vae.encode([A, B, "a woman sings ."], fit_steps=FIT_STEPS)  # what reconstruct does by default
    assert vae.decode(fitted) == vae.reconstruct([A, B, "a woman sings ."])
    assert vae.reconstruct([A, B]) == run_cli("reconstruct", text_run, A, B).stdout.splitlines()
    path = vae.interpolate(A, B, steps=3)
    assert len(path) == 5 and path[0] == vae.reconstruct(A)[0] and path[-1] == vae.reconstruct(B)[0]
    shown = run_cli("interpolate", text_run, A, B, "--steps", "3").stdout.splitlines()
    assert [line.removeprefix("~ ") for line in shown] == path
    samples = vae.sample(3, strategy="sample", temperature=1.0, seed=2)
    assert len(samples) == 3 and samples == vae.sample(3, seed=2)
    assert samples == run_cli("sample", text_run, "-n", "3", "--seed", "2").stdout.splitlines()


def _with_model_key(run, out, key: str, value=None):
    """A copy of a trained model's folder whose config.json sets model.<key> (its "config") to value
    (None: drops it)."""
    import shutil

    shutil.copytree(run, out)
    config = json.loads((out / "config.json").read_text())
    config["config"].pop(key, None)
    if value is not None:
        config["config"][key] = value
    (out / "config.json").write_text(json.dumps(config))
    return out


def test_a_models_own_fit_steps_are_what_reconstruct_and_interpolate_fit_by_default(vae, text_run, tmp_path):
    from textvae.text.sentences import FIT_STEPS

    sentences = [A, B, "a woman sings .", "the kids are playing soccer outside ."]
    fitted, plain = vae.reconstruct(sentences), vae.reconstruct(sentences, fit_steps=0)
    assert fitted != plain  # else this test could not tell the two apart
    own = _with_model_key(text_run, tmp_path / "own", "fit_steps", 0)
    assert textvae.load(own).fit_steps() == 0 and textvae.load(own).reconstruct(sentences) == plain
    assert run_cli("reconstruct", own, *sentences).stdout.splitlines() == plain
    assert run_cli("reconstruct", own, *sentences, "--fit-steps", str(FIT_STEPS)).stdout.splitlines() == fitted
    shown = run_cli("interpolate", own, A, sentences[3], "--steps", "1", "--with-inputs").stdout.splitlines()
    assert shown[1] == vae.interpolate(A, sentences[3], steps=1, fit_steps=0)[1]
    # a model saved before the key existed fits by the old default
    old = _with_model_key(text_run, tmp_path / "old", "fit_steps")
    assert textvae.load(old).fit_steps() == FIT_STEPS and textvae.load(old).reconstruct(sentences) == fitted
    bad = _with_model_key(text_run, tmp_path / "bad", "fit_steps", -1)
    proc = run_cli("reconstruct", bad, A, check=False)
    assert proc.returncode == 2 and "fit_steps must be >= 0" in proc.stderr and "Traceback" not in proc.stderr


def test_text_evaluate_returns_the_numbers_the_command_prints(vae, text_run, corpus, tmp_path):
    res = vae.evaluate(corpus / "valid.txt", iw_samples=5)
    assert res["sentences"] == 61 and {"nll", "perplexity", "bleu", "exact_match", "kl", "mi"} <= set(res)
    out = tmp_path / "eval.json"
    proc = run_cli("evaluate", text_run, "--iw-samples", "5", "--output", out)
    cli = json.loads(out.read_text())
    for key in ("nll", "perplexity", "neg_elbo", "kl", "mi", "bleu", "exact_match", "active_units"):
        assert res[key] == pytest.approx(cli[key], rel=1e-6), key
    assert f"{res['perplexity']:.4f}" in proc.stdout and f"{res['bleu']:.4f}" in proc.stdout
    assert vae.evaluate(iw_samples=0)["nll"] is None  # the recorded validation file; no bound
    with pytest.raises(UserError, match="--proposal-scale must be > 0"):
        vae.evaluate(proposal_scale=0)


def test_image_methods_take_and_give_tensors(image_run):
    from textvae.image.data import ImageDataConfig, load_splits

    vae = textvae.load(image_run)
    images = load_splits(ImageDataConfig(path=str(IMAGE_SAMPLE), val_size=64)).test[0][:6]
    z = vae.encode(images)  # uint8 0-255, as read
    assert z.shape == (6, 4) and torch.allclose(vae.encode(images.float() / 255), z)
    back = vae.decode(z)
    assert back.shape == (6, 1, 28, 28) and 0 <= back.min() and back.max() <= 1
    assert torch.allclose(vae.reconstruct(images), back)
    path = vae.interpolate(images[0], images[1], steps=3)
    assert path.shape == (5, 1, 28, 28) and torch.allclose(path[0], back[0], atol=1e-5)
    assert torch.equal(vae.sample(4, seed=1), vae.sample(4, seed=1)) and vae.sample(4).shape == (4, 1, 28, 28)
    with pytest.raises(UserError, match="images must have shape"):
        vae.encode(torch.zeros(2, 3, 28, 28))
    res = vae.evaluate(iw_samples=4)
    assert res["num_examples"] == 100 and res["bits_per_dim"] > 0


def test_train_returns_the_model_folder(tmp_path):
    run = textvae.train(IMAGE_CONFIG, *TINY_IMAGE, "train.max_steps=2", output_dir=tmp_path / "x")
    assert run == tmp_path / "x" and (run / "model.safetensors").is_file()
    assert textvae.load(run).latent_size == 4
    with pytest.raises(UserError, match="already holds a trained model"):
        textvae.train(IMAGE_CONFIG, *TINY_IMAGE, output_dir=run)
    assert textvae.train(None, "train.max_steps=3", output_dir=run, resume="auto") == run
    assert (run / "checkpoints" / "step-3").is_dir()
