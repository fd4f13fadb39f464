"""Latent dimensions with a meaning (AR-VAE): the pairwise loss by hand, missing values, the evaluation
measures, image measures, a real training run whose length dimension orders sentences by length, and
traverse / attribute-vector / shift / --set and bad configs through the command line."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

from textvae.core.attributes import (
    Adversaries,
    attribute_loss,
    interpretability,
    pairwise_sign_loss,
    parse_values,
    spearman,
    traverse_codes,
)
from textvae.image.attributes import measure
from textvae.registry import load_model

ROOT = Path(__file__).resolve().parent.parent
TEXT_CONFIG = ROOT / "configs" / "text" / "snli-lstm.yaml"
IMAGE_CONFIG = ROOT / "configs" / "image" / "fashion-mnist.yaml"
SAMPLE = ROOT / "tests" / "data" / "fashion-mnist-sample"


def test_pairwise_loss_matches_a_hand_worked_batch():
    z, a = torch.tensor([0.0, 1.0, 3.0]), torch.tensor([1.0, 3.0, 2.0])
    # ordered pairs (0,1), (0,2), (1,2) and their mirrors; the diagonal counts in the 3 x 3 = 9 of the mean
    # (0,1): tanh(-1) vs sign(-2) = -1; (0,2): tanh(-3) vs -1; (1,2): tanh(-2) vs sign(1) = +1
    by_hand = 2 * ((1 - math.tanh(1)) + (1 - math.tanh(3)) + (1 + math.tanh(2))) / 9
    assert float(pairwise_sign_loss(z, a)) == pytest.approx(by_hand, rel=1e-6)
    # delta scales the differences of z: with delta 0.5 the tanh's arguments halve
    by_hand_half = 2 * ((1 - math.tanh(0.5)) + (1 - math.tanh(1.5)) + (1 + math.tanh(1))) / 9
    assert float(pairwise_sign_loss(z, a, delta=0.5)) == pytest.approx(by_hand_half, rel=1e-6)


def test_pairwise_loss_is_near_zero_when_z_orders_as_the_attribute_does():
    a = torch.tensor([3.0, -1.0, 7.0, 2.0, 5.0])
    gaps = [abs(x - y) for x in a.tolist() for y in a.tolist() if x != y]
    left_by_tanh = sum(1 - math.tanh(4 * g) for g in gaps) / 25  # what tanh leaves of each pair, mean over 5 x 5
    assert float(pairwise_sign_loss(4 * a, a)) == pytest.approx(left_by_tanh, rel=1e-4)
    assert left_by_tanh < 1e-4
    assert float(pairwise_sign_loss(-4 * a, a)) == pytest.approx(40 / 25 - left_by_tanh, rel=1e-4)  # the reverse order


def test_missing_values_leave_their_pairs_out():
    z = torch.tensor([0.0, 5.0, 1.0, -3.0], requires_grad=True)
    a = torch.tensor([1.0, float("nan"), 2.0, float("nan")])
    loss = pairwise_sign_loss(z, a)
    assert float(loss.detach()) == pytest.approx(
        float(pairwise_sign_loss(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])))
    )
    loss.backward()
    assert z.grad[1] == 0 and z.grad[3] == 0 and z.grad[0] != 0
    # a batch with fewer than two known values gives 0, still a tensor connected to z
    one = pairwise_sign_loss(z, torch.tensor([1.0, float("nan"), float("nan"), float("nan")]))
    assert float(one.detach()) == 0 and one.requires_grad


def test_attribute_loss_weights_each_attribute_on_its_own_dimension():
    z = torch.tensor([[0.0, 2.0], [1.0, -1.0], [3.0, 0.5]])
    values = torch.tensor([[1.0, 0.0], [3.0, float("nan")], [2.0, 1.0]])
    specs = [{"dim": 0, "weight": 2.0, "delta": 1.0}, {"dim": 1, "weight": 0.5, "delta": 2.0}]
    expected = 2.0 * pairwise_sign_loss(z[:, 0], values[:, 0]) + 0.5 * pairwise_sign_loss(z[:, 1], values[:, 1], 2.0)
    assert float(attribute_loss(z, values, specs)) == pytest.approx(float(expected))


def test_the_adversary_learns_to_read_the_attribute_and_the_encoder_to_hide_it():
    """The network's gradient is that of its reading error alone (z detached); z's gradient is the
    weight times that of the distance of the reading from the batch mean (the network's weights
    detached); a missing value enters neither."""
    torch.manual_seed(0)
    specs = [{"name": "length", "dim": 1, "min": 2.0, "max": 12.0, "adversary": 3.0}]
    adv = Adversaries(specs, latent_size=4, hidden=5)
    z = torch.randn(6, 4, requires_grad=True)
    values = torch.tensor([[2.0], [7.0], [float("nan")], [12.0], [4.5], [9.5]])
    adv(z, values).backward()
    head = adv.heads[0]
    known = torch.tensor([True, True, False, True, True, True])
    a = (values[known, 0] - 2.0) / 10.0
    others = torch.cat([z[:, :1], z[:, 2:]], dim=1).detach()[known]
    by_hand = {n: p.detach().clone().requires_grad_(True) for n, p in head.named_parameters()}
    read = torch.func.functional_call(head, by_hand, (others,)).squeeze(1)
    grads = torch.autograd.grad(((read - a) ** 2).mean(), list(by_hand.values()))
    for (name, p), g in zip(head.named_parameters(), grads):
        assert torch.allclose(p.grad, g, atol=1e-6), name
    zk = z.detach().clone().requires_grad_(True)
    fooled = head(torch.cat([zk[:, :1], zk[:, 2:]], dim=1)).squeeze(1)
    (gz,) = torch.autograd.grad(3.0 * ((fooled[known] - a.mean()) ** 2).mean(), [zk])
    assert torch.allclose(z.grad, gz, atol=1e-6)
    assert torch.all(z.grad[:, 1] == 0) and torch.all(z.grad[2] == 0)  # its own dim, the missing row
    assert not Adversaries([{**specs[0], "adversary": 0.0}], latent_size=4).heads  # 0: no adversary


def test_spearman_and_interpretability_against_scipy_and_sklearn():
    from scipy.stats import spearmanr
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    a = rng.integers(0, 10, 300).astype(float)  # ties, as sentence lengths have
    codes = rng.normal(size=(300, 4))
    codes[:, 2] = 0.5 * a + rng.normal(scale=0.5, size=300)  # dimension 2 holds a
    assert spearman(codes[:, 2], a) == pytest.approx(spearmanr(codes[:, 2], a).statistic)
    dim, score = interpretability(codes, a)
    assert dim == 2
    fit = LinearRegression().fit(codes[:, 2:3], a)
    assert score == pytest.approx(fit.score(codes[:, 2:3], a))
    a_missing = a.copy()
    a_missing[:50] = np.nan
    assert spearman(codes[:, 2], a_missing) == pytest.approx(spearmanr(codes[50:, 2], a[50:]).statistic)


def test_values_and_traversal_codes():
    assert parse_values("-3:3:7") == pytest.approx([-3, -2, -1, 0, 1, 2, 3])
    assert parse_values("0,1.5") == [0.0, 1.5]
    z = torch.arange(6.0).view(2, 3)
    t = traverse_codes(z, 1, [-1.0, 9.0])
    assert t.shape == (2, 2, 3) and t[:, :, 1].tolist() == [[-1, 9], [-1, 9]]
    assert torch.equal(t[:, :, 0], z[:, :1].expand(2, 2)) and torch.equal(t[:, :, 2], z[:, 2:].expand(2, 2))


def test_image_measures_on_drawn_shapes():
    img = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    img[0, 0, 5:21, 10:13] = 255  # an upright bar, 3 wide, 16 high
    for r in range(5, 21):  # a bar leaning right at the top
        c = 14 + (20 - r) // 2
        img[1, 0, r, c : c + 3] = 255
    assert measure(img, "width").tolist() == [3, 3 + (20 - 5) // 2]
    assert measure(img, "height").tolist() == [16, 16]
    assert measure(img, "ink")[0] == pytest.approx(3 * 16 / 784)
    upright, leaning = measure(img, "slant")
    assert abs(upright) < 1e-6 and leaning > 0.3


def _tiny_text(corpus):
    return [
        f"data.valid_file={corpus / 'valid.txt'}",
        "data.tokenizer.kind=word",
        "data.tokenizer.min_count=1",
        "model.embed_size=32",
        "model.latent_size=8",
        "model.encoder.hidden_size=32",
        "model.decoder.hidden_size=32",
        "train.batch_size=32",
        "train.eval_batch_size=64",
        "train.progress_bar=false",
        "train.select_best=false",
        "train.threads=1",
        "train.log_every=50",
        "train.fit_prior=0",
        "train.mixed_precision=no",
    ]


@pytest.fixture(scope="module")
def labelled(corpus, tmp_path_factory):
    """The corpus's training sentences as CSV with a label column, a third of the cells empty."""
    path = tmp_path_factory.mktemp("labelled") / "train.csv"
    lines = (corpus / "train.txt").read_text(encoding="utf-8").splitlines()
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i, t in enumerate(lines):
            w.writerow([t, "" if i % 3 == 0 else ("long" if len(t.split()) > 9 else "short")])
    return path


@pytest.fixture(scope="module")
def length_model(corpus, labelled, tmp_path_factory):
    out = tmp_path_factory.mktemp("attr") / "run"
    run_cli(
        "train",
        "--config",
        TEXT_CONFIG,
        "--output-dir",
        out,
        f"data.train_file={labelled}",
        "data.text_column=text",
        *_tiny_text(corpus),
        "train.max_steps=200",
        "loss.attributes=[{name: length, dim: 0}, {name: size, dim: 1, column: label, values: [short, long]}]",
    )
    return out


def test_a_short_training_gives_the_length_dimension_the_order_of_lengths(length_model, corpus):
    model = load_model(length_model)
    sentences = (corpus / "valid.txt").read_text(encoding="utf-8").splitlines()  # held out
    z = model.encode_sentences(sentences).numpy()
    assert spearman(z[:, 0], [len(s.split()) for s in sentences]) > 0.8


def test_saved_model_keeps_attribute_names_dims_and_ranges(length_model, corpus):
    meta = json.loads((length_model / "config.json").read_text())["attributes"]
    lengths = [len(s.split()) for s in (corpus / "train.txt").read_text(encoding="utf-8").splitlines()]
    assert [(a["name"], a["dim"]) for a in meta] == [("length", 0), ("size", 1)]
    assert (meta[0]["min"], meta[0]["max"], meta[0]["labelled"]) == (min(lengths), max(lengths), 320)
    assert (meta[1]["min"], meta[1]["max"], meta[1]["labelled"], meta[1]["values"]) == (
        0,
        1,
        320 - 107,
        ["short", "long"],
    )
    assert [a["name"] for a in load_model(length_model).attributes] == ["length", "size"]


def test_traverse_set_attribute_vector_and_shift_end_to_end(length_model, labelled, tmp_path):
    out = run_cli(
        "traverse", length_model, "a man is sleeping .", "two dogs run .", "--attribute", "length", "--values", "-3:3:7"
    ).stdout.splitlines()
    assert len(out) == 2 * 8 and out[0].startswith("# a man is sleeping .") and out[1].startswith("-3.00\t")
    assert (
        run_cli("traverse", length_model, "a man is sleeping .", "--dim", "5", "--values", "0,1").stdout.count("\n")
        == 3
    )
    model = load_model(length_model)
    z = model.encode_sentences(["a man is sleeping ."])
    z[:, 0] = 2.5
    expected = model.decode(z, max_length=65)
    assert (
        run_cli("reconstruct", length_model, "a man is sleeping .", "--set", "length=2.5").stdout.splitlines()
        == expected
    )
    assert len(run_cli("sample", length_model, "-n", "3", "--set", "0=-2").stdout.splitlines()) == 3
    vec = tmp_path / "v.npy"
    run_cli(
        "attribute-vector",
        length_model,
        "--data",
        labelled,
        "--column",
        "label",
        "--from",
        "short",
        "--to",
        "long",
        "--output",
        vec,
    )
    with open(labelled, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    groups = [[r["text"] for r in rows if r["label"] == g] for g in ("short", "long")]
    by_hand = (model.encode_sentences(groups[1]).mean(0) - model.encode_sentences(groups[0]).mean(0)).numpy()
    assert np.allclose(np.load(vec), by_hand, atol=1e-5)
    shifted = run_cli(
        "shift", length_model, "a man is sleeping .", "--vector", vec, "--scale", "1.5"
    ).stdout.splitlines()
    z = model.encode_sentences(["a man is sleeping ."]) + 1.5 * torch.from_numpy(np.load(vec))
    assert shifted == model.decode(z, max_length=65)


def test_a_run_with_an_adversary_saves_it_in_checkpoints_and_resumes_exactly(corpus, labelled, tmp_path):
    """The adversary's network trains beside the model: a resumed run must find its weights and its
    optimiser state in the checkpoint, and the saved model stays the plain VAE."""
    from safetensors.torch import load_file

    full, resumed = tmp_path / "full", tmp_path / "resumed"
    args = [
        "train",
        "--config",
        TEXT_CONFIG,
        f"data.train_file={labelled}",
        *_tiny_text(corpus),
        "train.max_steps=12",
        "train.save_every=5",
        "train.keep_last=3",
        "loss.attributes=[{name: length, dim: 0}, {name: size, dim: 1, column: label, values: [short, long], "
        "adversary: 10}]",
    ]
    run_cli(*args, "--output-dir", full)
    run_cli(*args, "--output-dir", resumed, "--resume", full / "checkpoints" / "step-5")
    wa, wb = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not any("adversar" in k for k in wa)
    state = load_file(str(next((full / "checkpoints" / "step-5").glob("model*.safetensors"))))
    assert any(k.startswith("adversaries.heads.0.") for k in state)
    meta = json.loads((full / "config.json").read_text())["attributes"]
    assert [a["adversary"] for a in meta] == [0.0, 10.0]


@pytest.mark.parametrize(
    "attributes, message",
    [
        ("[{name: colour, dim: 0}]", "unknown attribute 'colour'"),
        ("[{name: length, dim: 8}]", "outside the latent"),
        ("[{name: size, dim: 1, column: grade, values: [short, long]}]", "column 'grade'"),
        (
            "[{name: length, dim: 1}, {name: size, dim: 1, column: label, values: [short, long]}]",
            "dim 1 is given to two",
        ),
        ("[{name: size, dim: 1, column: label}]", "holds labels"),
        ("[{name: length, dim: 0, adversary: -1}]", "adversary must be >= 0"),
    ],
)
def test_bad_attribute_configs_fail_in_one_line_and_write_nothing(corpus, labelled, tmp_path, attributes, message):
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "--config",
        TEXT_CONFIG,
        "--output-dir",
        out,
        f"data.train_file={labelled}",
        *_tiny_text(corpus),
        "train.max_steps=2",
        f"loss.attributes={attributes}",
        check=False,
    )
    last = [line for line in proc.stderr.splitlines() if line.startswith("textvae: error")]
    assert proc.returncode == 2 and len(last) == 1 and message in last[0], proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_image_model_trains_with_attributes_and_traverses_to_a_grid(tmp_path):
    out = tmp_path / "img"
    run_cli(
        "train",
        "--config",
        IMAGE_CONFIG,
        "--output-dir",
        out,
        f"data.path={SAMPLE}",
        "data.val_size=64",
        "model.latent_size=4",
        "train.batch_size=32",
        "train.max_steps=30",
        "train.progress_bar=false",
        "train.threads=1",
        "loss.kl.anneal_steps=10",
        "loss.attributes=[{name: ink, dim: 0}, {name: width, dim: 1}, {name: slant, dim: 2}]",
    )
    assert [a["name"] for a in load_model(out).attributes] == ["ink", "width", "slant"]
    grid = tmp_path / "t.png"
    run_cli("traverse", out, "--attribute", "width", "--values", "-2:2:5", "-n", "4", "--output", grid)
    with Image.open(grid) as im:
        assert im.size[0] > 6 * 28 and im.size[1] > 4 * 28
    run_cli("sample", out, "-n", "4", "--set", "ink=2", "--output", tmp_path / "s.png")
    assert (tmp_path / "s.png").exists()
    bad = run_cli(
        "train",
        "--config",
        IMAGE_CONFIG,
        "--output-dir",
        tmp_path / "bad",
        f"data.path={SAMPLE}",
        "model.latent_size=4",
        "train.max_steps=1",
        "loss.attributes=[{name: length, dim: 0}]",
        check=False,
    )
    assert (
        bad.returncode == 2 and "computes ink, width, height, slant" in bad.stderr and not (tmp_path / "bad").exists()
    )
