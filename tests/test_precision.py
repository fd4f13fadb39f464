"""Mixed precision on the CPU: bf16 autocast trains text and image models with finite losses and lands
near fp32; fp16 goes through Accelerate's gradient scaling; a diverging run stops in one line and keeps
its checkpoints."""

import json
from pathlib import Path

import pytest
from conftest import SMALL_BATCHES, run_cli

from textvae.runtime import usable_precision

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "image" / "fashion-mnist.yaml"
TINY = [*SMALL_BATCHES, "train.log_every=5"]


def text_run(corpus):
    """A small LSTM VAE on 320 SNLI sentences (word vocabulary)."""
    return [
        "--config",
        ROOT / "configs" / "text" / "snli-lstm.yaml",
        f"data.train_file={corpus / 'train.txt'}",
        f"data.valid_file={corpus / 'valid.txt'}",
        "data.tokenizer.kind=word",
        "data.tokenizer.min_count=1",
        "model.embed_size=32",
        "model.latent_size=8",
        "model.encoder.hidden_size=32",
        "model.decoder.hidden_size=32",
        "train.batch_size=16",
        "train.progress_bar=false",
        "train.select_best=false",
        "train.fit_prior=0",
        "train.threads=1",
        "train.log_every=5",
    ]


def train(out, *extra, check=True):
    proc = run_cli("train", "--config", CONFIG, "--output-dir", out, *TINY, *extra, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def val_neg_elbo(out) -> float:
    records = [json.loads(line) for line in (Path(out) / "logs" / "train.jsonl").read_text().splitlines()]
    return [r["val/neg_elbo"] for r in records if "val/neg_elbo" in r][-1]


@pytest.fixture(scope="module")
def fp32(tmp_path_factory, corpus):
    """Validation -ELBO after 40 fp32 steps, for images and for text."""
    root = tmp_path_factory.mktemp("fp32")
    train(root / "image", "train.max_steps=40")
    run_cli("train", *text_run(corpus), "--output-dir", root / "text", "train.max_steps=40")
    return {"image": val_neg_elbo(root / "image"), "text": val_neg_elbo(root / "text")}


# stated tolerance: after 40 steps the validation -ELBO of a reduced-precision run is within 3% of fp32
@pytest.mark.parametrize("task,precision", [("image", "bf16"), ("image", "fp16"), ("text", "bf16"), ("text", "fp16")])
def test_reduced_precision_trains_close_to_fp32(tmp_path, fp32, corpus, task, precision):
    out = tmp_path / precision
    if task == "image":
        proc = train(out, "train.max_steps=40", f"train.mixed_precision={precision}")
    else:
        proc = run_cli(
            "train", *text_run(corpus), "--output-dir", out, "train.max_steps=40", f"train.mixed_precision={precision}"
        )
    # on a CPU without bf16/fp16 instructions the run says so and trains in float32 (runtime.usable_precision)
    runs, why = usable_precision(precision)
    assert f"precision {runs}" in proc.stdout
    assert (why is not None) == (f"train.mixed_precision {precision}: this CPU" in proc.stdout)
    value = val_neg_elbo(out)
    assert value == value and abs(value - fp32[task]) / fp32[task] < 0.03, (value, fp32[task])


def test_divergence_stops_in_one_line_and_keeps_checkpoints(tmp_path):
    out = tmp_path / "run"
    train(out, "train.max_steps=4", "train.save_every=2")
    proc = train(out, "train.max_steps=30", "train.save_every=2", "train.lr=1e12", "--resume", check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "training diverged at step" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "checkpoints" / "step-4" / "trainer_state.json").is_file()


@pytest.mark.parametrize(
    "flags, precision, runs",
    [
        ({"avx2", "fma"}, "bf16", "no"),  # AVX2 only (AMD EPYC Zen 2/3): bf16 emulated, 12x slower
        ({"avx2", "avx512f", "avx512_bf16"}, "bf16", "bf16"),  # AMD EPYC Zen 4
        ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_fp16"}, "bf16", "bf16"),  # Sapphire Rapids
        ({"avx2", "avx512f", "avx512_bf16"}, "fp16", "no"),
        ({"avx2", "avx512f", "avx512_fp16"}, "fp16", "fp16"),
        ({"avx2"}, "no", "no"),
        (set(), "bf16", "bf16"),  # flags unknown (not Linux, not x86): the config is taken as it is
    ],
)
def test_precision_falls_back_to_float32_only_where_the_cpu_would_emulate_it(monkeypatch, flags, precision, runs):
    import textvae.runtime as runtime

    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    monkeypatch.setattr(runtime, "cpu_flags", lambda: flags)
    got, why = runtime.usable_precision(precision)
    assert got == runs
    assert (why is None) == (runs == precision)
    if why:
        assert why.startswith("this CPU (") and "float32" in why
