"""Image VAEs on real Fashion-MNIST images: the three readers, binarization, both models, pictures,
and the image verbs of the command line."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

from textvae.errors import UserError
from textvae.image.data import ImageBatcher, ImageDataConfig, ImageDataset, load_splits, read_idx
from textvae.image.models import ConvImageVAE, ImageModelConfig, MLPImageVAE, model_for
from textvae.registry import load_model

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "fashion-mnist-sample"
CONFIG = ROOT / "configs" / "image" / "fashion-mnist.yaml"


@pytest.fixture(scope="module")
def sample():
    return load_splits(ImageDataConfig(path=str(SAMPLE), val_size=64))


def test_idx_sample_reads_with_labels(sample):
    assert sample.train[0].shape == (336, 1, 28, 28) and sample.val[0].shape == (64, 1, 28, 28)
    assert sample.test[0].shape == (100, 1, 28, 28) and sample.train[0].dtype == torch.uint8
    labels = torch.cat([sample.train[1], sample.val[1]])
    assert set(labels.tolist()) == set(range(10))
    # the split is a permutation of the 400 training images: nothing lost, nothing repeated
    raw = torch.from_numpy(read_idx(SAMPLE / "train-images-idx3-ubyte.gz").copy())
    both = torch.cat([sample.train[0], sample.val[0]]).flatten(1)
    assert sorted(map(tuple, both.tolist())) == sorted(map(tuple, raw.flatten(1).tolist()))


def test_npz_and_folder_give_the_same_images(tmp_path, sample):
    x_tr, y_tr = torch.cat([sample.train[0], sample.val[0]]), torch.cat([sample.train[1], sample.val[1]])
    x_te, y_te = sample.test
    npz = tmp_path / "fm.npz"  # Keras layout, channels last
    np.savez(
        npz, x_train=x_tr.squeeze(1).numpy(), y_train=y_tr.numpy(), x_test=x_te.squeeze(1).numpy(), y_test=y_te.numpy()
    )
    folder = tmp_path / "pngs"
    for split, (x, y) in (("train", (x_tr[:40], y_tr[:40])), ("test", (x_te[:10], y_te[:10]))):
        for i, (img, label) in enumerate(zip(x, y)):
            d = folder / split / f"class{int(label)}"
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[0].numpy()).save(d / f"{i:03d}.png")
    from_npz = load_splits(ImageDataConfig(path=str(npz), val_size=64))
    assert torch.equal(from_npz.test[0], x_te) and torch.equal(from_npz.test[1], y_te)
    from_folder = load_splits(ImageDataConfig(path=str(folder), val_size=4))
    imgs = torch.cat([from_folder.train[0], from_folder.val[0]]).flatten(1).tolist()
    assert sorted(map(tuple, imgs)) == sorted(map(tuple, x_tr[:40].flatten(1).tolist()))
    assert from_folder.class_names == sorted({f"class{int(v)}" for v in y_tr[:40]})


def test_bad_data_paths_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_splits(ImageDataConfig(path=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files"):
        load_splits(ImageDataConfig(path=str(tmp_path / "empty")))
    with pytest.raises(UserError, match="leaves no training images"):
        load_splits(ImageDataConfig(path=str(SAMPLE), val_size=400))


def test_dynamic_binarization_is_fresh_in_training_and_fixed_in_evaluation(sample):
    ds = ImageDataset(*sample.train)
    idx = list(range(64))
    epoch = [0]
    train = ImageBatcher(ds, "dynamic", train=True, seed=0, epoch=lambda: epoch[0])
    a, b = train(idx)["images"], train(idx)["images"]
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, b)  # a function of (seed, epoch, indices): the same after a resume
    epoch[0] = 1
    assert not torch.equal(a, train(idx)["images"])  # fresh in every epoch
    # each pixel is on with probability intensity / 255
    draws = []
    for e in range(50):
        epoch[0] = e
        draws.append(train(idx)["images"])
    draws = torch.stack(draws).mean(0)
    assert (draws - ds.images[:64].float() / 255).abs().mean() < 0.03
    ev = ImageBatcher(ds, "dynamic", train=False)
    assert torch.equal(ev(idx)["images"], ev(idx)["images"])
    deq = ImageBatcher(ds, "none", train=True, dequantize=True)(idx)["images"]
    assert ((deq * 256).floor() == ds.images[:64].float()).all()


@pytest.mark.parametrize(
    "kind,channels,size,likelihood",
    [("conv", 1, 28, "bernoulli"), ("conv", 3, 32, "gaussian"), ("mlp", 1, 28, "bernoulli")],
)
def test_models_give_float32_log_likelihoods_and_learn(kind, channels, size, likelihood, sample):
    torch.manual_seed(0)
    cfg = ImageModelConfig(
        kind=kind,
        channels=channels,
        image_size=size,
        latent_size=8,
        hidden_size=64,
        conv_channels=8,
        likelihood=likelihood,
    )
    model = model_for(cfg)
    x = sample.train[0][:32].float() / 255
    if size == 32:  # a colour version of the real images: padded to 32x32, tinted per channel
        x = torch.nn.functional.pad(x, (2, 2, 2, 2)).repeat(1, 3, 1, 1) * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)
    batch = {"images": x if likelihood == "gaussian" else torch.bernoulli(x)}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        q = model.encode(batch)
        ll = model.log_likelihood(q.rsample(3), batch)
        assert ll.shape == (3, 32) and ll.dtype == torch.float32
        loss = -(ll.mean(0) - q.kl()).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert math.isfinite(losses[-1]) and losses[-1] < losses[0] * 0.9
    assert model.decode_mean(torch.zeros(2, 8)).shape == (2, channels, size, size)


def test_conv_needs_size_divisible_by_4():
    with pytest.raises(ValueError, match="divisible by 4"):
        ImageModelConfig(kind="conv", image_size=30)


@pytest.mark.parametrize("cls,kind", [(ConvImageVAE, "conv"), (MLPImageVAE, "mlp")])
def test_save_load_round_trip_is_bit_exact(tmp_path, cls, kind, sample):
    torch.manual_seed(1)
    model = cls(ImageModelConfig(kind=kind, latent_size=4, hidden_size=32, conv_channels=4)).eval()
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is cls
    x = {"images": sample.test[0][:8].float() / 255}
    q1, q2 = model.encode(x), loaded.encode(x)
    assert torch.equal(q1.mean, q2.mean) and torch.equal(q1.logvar, q2.logvar)
    z = torch.randn(2, 8, 4)
    assert torch.equal(model.log_likelihood(z, x), loaded.log_likelihood(z, x))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("image") / "run"
    run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        out,
        f"data.path={SAMPLE}",
        "data.val_size=64",
        "model.latent_size=2",
        "train.batch_size=32",
        "train.max_steps=40",
        "train.progress_bar=false",
        "train.threads=1",
        "loss.kl.anneal_steps=10",
    )
    return out


def test_training_leaves_pictures(trained):
    for name in (
        "reconstructions.png",
        "prior_samples.png",
        "interpolations.png",
        "latent_map.png",
        "manifold.png",
    ):  # manifold: the latent is 2-D
        with Image.open(trained / name) as im:
            assert im.size[0] > 100 and im.size[1] > 100, name


def test_evaluate_reports_nll_bits_per_dim_and_latent_use(trained, tmp_path):
    out = tmp_path / "eval.json"
    proc = run_cli("evaluate", trained, "--iw-samples", "20", "--output", out)
    assert "bits per dimension" in proc.stdout
    res = json.loads(out.read_text())
    assert res["num_examples"] == 100 and res["split"] == "test"
    assert res["bits_per_dim"] == pytest.approx(res["nll"] / (784 * math.log(2)))
    assert 0 < res["nll"] <= res["neg_elbo"] + 1.0  # the bound with k=20 is no worse than the ELBO
    assert 0 <= res["active_units"] <= 2 and res["kl"] > 0


def test_sample_writes_a_png_grid(trained, tmp_path):
    """A 3 x 3 grid of mean images: the figure save_grid sizes for it (92 grid pixels a side with the 2-pixel
    gaps, 3 screen pixels each, margins and a title band), with ink on it, the same for the same seed."""
    out, again, other = tmp_path / "s.png", tmp_path / "again.png", tmp_path / "other.png"
    run_cli("sample", trained, "-n", "9", "--output", out)
    run_cli("sample", trained, "-n", "9", "--output", again)
    run_cli("sample", trained, "-n", "9", "--seed", "1", "--output", other)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (286, 326)
        pixels = np.asarray(im.convert("L"), dtype=float)
    grid = pixels[60:-10, 10:-10]  # below the title, inside the margins
    assert grid.std() > 20 and (grid < 128).mean() > 0.05 and (grid > 200).mean() > 0.05  # not a blank page
    assert np.array_equal(pixels, np.asarray(Image.open(again).convert("L"), dtype=float))
    assert not np.array_equal(pixels, np.asarray(Image.open(other).convert("L"), dtype=float))


def test_fit_prior_on_the_training_images_and_sample_from_it(trained, tmp_path):
    from textvae.registry import load_model

    out = tmp_path / "fitted"
    run_cli("fit-prior", trained, "--components", "2", "--output", out)
    report = json.loads((out / "prior_fit.json").read_text())
    assert report["log_p_fitted"] > report["log_p_standard_normal"] and report["codes"] % 4 == 0
    assert load_model(out).prior.means.shape == (2, 2)
    ev = tmp_path / "eval.json"
    run_cli("evaluate", out, "--iw-samples", "5", "--output", ev)
    assert json.loads(ev.read_text())["prior"].startswith("Gaussian mixture, 2")
    run_cli("sample", out, "-n", "4", "--output", tmp_path / "s.png")
    with Image.open(tmp_path / "s.png") as im:
        assert im.format == "PNG"


@pytest.mark.parametrize(
    "args,message",
    [
        (["sample", "{model}", "--output", "{tmp}"], "is a directory"),
        (["sample", "{model}", "-n", "0"], "-n must be >= 1"),
        (["evaluate", "{model}", "--data", "{tmp}/missing"], "does not exist"),
        (["reconstruct", "{model}", "a sentence"], "is not available for image models"),
    ],
)
def test_image_verbs_fail_in_one_line(trained, tmp_path, args, message):
    proc = run_cli(*[a.format(model=trained, tmp=tmp_path) for a in args], check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_likelihood_and_binarization_must_agree(tmp_path):
    proc = run_cli(
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        tmp_path / "x",
        f"data.path={SAMPLE}",
        "data.binarize=none",
        check=False,
    )
    assert proc.returncode == 2 and "data.binarize=dynamic" in proc.stderr
