"""Tests run offline with a project-local Hugging Face cache, on the CPU, whatever the caller's shell."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HOME", str(ROOT / ".hf_home"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

# pytest-xdist runs the test files on two workers (pyproject's addopts): one torch thread each, so that
# the two share the two cores instead of fighting over them.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if WORKER:
    import torch

    torch.set_num_threads(1)

# `accelerate launch` with two processes on this CPU (gloo); `--cpu --num_processes 2` starts one. Each
# xdist worker rendezvous on its own port: two launches at once on accelerate's default port collide.
LAUNCH_2 = [
    str(Path(sys.executable).with_name("accelerate")),
    "launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
    "--main_process_port",
    str(29500 + 7 * int(WORKER.removeprefix("gw") or 0)),
]


def run_cli(*args, check=True, launcher=None, timeout=300, env_extra=None, preexec_fn=None):
    """`python -m textvae ARGS` (or under `launcher`) from the project root; raises with both streams
    on a non-zero exit when `check`."""
    cmd = [*(launcher or [sys.executable]), "-m", "textvae", *map(str, args)]
    env = {**os.environ, **({"ACCELERATE_USE_CPU": "1"} if launcher else {}), **(env_extra or {})}
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def kill_once_saved(args, checkpoint, timeout=240):
    """Start `python -m textvae ARGS`, SIGKILL it as soon as `checkpoint` (a folder) exists; returns the
    exit status (-9 when the kill landed)."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "textvae", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + timeout
    while time.time() < deadline and not Path(checkpoint).exists() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """320 training and 61 validation SNLI sentences (an odd count: processes get unequal shares)."""
    from textvae.text.data import shipped_corpus

    folder = tmp_path_factory.mktemp("snli")
    lines = shipped_corpus("train").read_text(encoding="utf-8").splitlines()
    (folder / "train.txt").write_text("\n".join(lines[:320]) + "\n", encoding="utf-8")
    (folder / "valid.txt").write_text("\n".join(lines[320:381]) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tokenizer():
    """A word vocabulary of tiny_text.SENTENCES, for the tiny text models."""
    from tiny_text import SENTENCES

    from textvae.text.tokenizers import WordTokenizer

    return WordTokenizer.train(SENTENCES, max_size=500, min_count=1)


ROOT_CONFIGS = ROOT / "configs"
TEXT_CONFIG = ROOT_CONFIGS / "text" / "snli-lstm.yaml"
IMAGE_CONFIG = ROOT_CONFIGS / "image" / "fashion-mnist.yaml"
IMAGE_SAMPLE = ROOT / "tests" / "data" / "fashion-mnist-sample"


def tiny_text(corpus) -> list[str]:
    """Overrides of configs/text/snli-lstm.yaml for a tiny model on the `corpus` fixture's sentences."""
    return [
        f"data.train_file={corpus / 'train.txt'}",
        f"data.valid_file={corpus / 'valid.txt'}",
        "data.tokenizer.kind=word",
        "data.tokenizer.min_count=1",
        "model.embed_size=32",
        "model.latent_size=8",
        "model.encoder.hidden_size=32",
        "model.decoder.hidden_size=32",
        "train.batch_size=16",
        "train.eval_batch_size=64",
        "train.progress_bar=false",
        "train.select_best=false",
        "train.threads=1",
        "train.log_every=5",
        "train.fit_prior=0",
        "train.mixed_precision=no",
    ]


TINY_IMAGE = [
    f"data.path={IMAGE_SAMPLE}",
    "data.val_size=64",
    "model.latent_size=4",
    "train.batch_size=32",
    "train.max_steps=20",
    "train.progress_bar=false",
    "train.threads=1",
    "loss.kl.anneal_steps=10",
]
# The trainer's tests: the shipped image config, small batches so a few hundred images give several steps an epoch.
SMALL_BATCHES = [
    f"data.path={IMAGE_SAMPLE}",
    "data.val_size=64",
    "train.batch_size=16",
    "train.eval_batch_size=64",
    "train.progress_bar=false",
    "train.select_best=false",
    "train.threads=1",
]


@pytest.fixture(scope="session")
def text_run(corpus, tmp_path_factory):
    """A tiny text model trained for 30 steps by `textvae train` (latent 8); tests only read it."""
    out = tmp_path_factory.mktemp("text") / "run"
    run_cli("train", "--config", TEXT_CONFIG, "--output-dir", out, *tiny_text(corpus), "train.max_steps=30")
    return out


@pytest.fixture(scope="session")
def image_run(tmp_path_factory):
    """A tiny image model trained for 20 steps on the Fashion-MNIST sample (latent 4); tests only read it."""
    out = tmp_path_factory.mktemp("image") / "run"
    run_cli("train", "--config", IMAGE_CONFIG, "--output-dir", out, *TINY_IMAGE)
    return out
