"""The one trainer, end to end on real images: command line, exact resume (also after SIGKILL), and
`accelerate launch` with two processes."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import IMAGE_CONFIG as CONFIG
from conftest import LAUNCH_2, SMALL_BATCHES, kill_once_saved, run_cli
from safetensors.torch import load_file

from textvae.runtime import ONEDNN_CACHE_CAPACITY

ROOT = Path(__file__).resolve().parent.parent
TINY = [*SMALL_BATCHES, "train.log_every=2"]  # several steps an epoch, logged every 2


def weights(folder):
    return load_file(str(Path(folder) / "model.safetensors"))


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_train_writes_model_folder_logs_and_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    out = tmp_path / "run"
    run_cli("train", "--config", CONFIG, "--output-dir", out, *TINY, "train.max_steps=6")
    for name in ("config.json", "model.safetensors", "train_config.yaml", "logs/train.jsonl"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "logs" / "train.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "train/loss" in r]
    assert steps == [2, 4, 6]
    assert all(r["train/loss"] == r["train/loss"] for r in records if "train/loss" in r)  # not NaN
    assert all(r["train/peak_memory_mb"] > 50 for r in records if "train/loss" in r)  # torch alone is more
    # the run's facts beside its config; oneDNN's primitive cache bounded (tests/test_runtime.py)
    runtime = {k: v for k, v in records[0]["config"].items() if k.startswith("runtime.")}
    assert runtime["runtime.threads"] == 1 and runtime["runtime.processes"] == 1
    assert runtime["runtime.torch"] == torch.__version__
    assert runtime["runtime.onednn_primitive_cache_capacity"] == str(ONEDNN_CACHE_CAPACITY)
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "logs").rglob("*"))
    assert (out / "checkpoints" / "step-6" / "trainer_state.json").is_file()


@pytest.mark.parametrize("step", [5, 25])
def test_resume_from_a_checkpoint_gives_the_same_weights(tmp_path, step):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    args = ["train", "--config", CONFIG, *TINY, "train.max_steps=30", "train.save_every=5", "train.keep_last=10"]
    run_cli(*args, "--output-dir", full)
    # 21 batches an epoch: step 5 is mid-epoch 0 and the run then crosses into epoch 1 (a loader that
    # counted its own epochs got this wrong); step 25 is mid-epoch 1 (resumed through a skip loader).
    # Data order, binarization noise, RNG and KL schedule must all carry over.
    run_cli(*args, "--output-dir", resumed, "--resume", full / "checkpoints" / f"step-{step}")
    assert_same_weights(full, resumed)


def test_sigkill_then_resume_auto_matches_uninterrupted_run(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    args = ["train", "--config", CONFIG, *TINY, "train.max_steps=60", "train.save_every=3", "train.keep_last=2"]
    run_cli(*args, "--output-dir", full)
    kill_once_saved([*args, "--output-dir", killed], killed / "checkpoints" / "step-9")
    assert not (killed / "checkpoints" / "step-60").exists(), "run finished before it could be killed"
    run_cli(*args, "--output-dir", killed, "--resume")
    assert_same_weights(full, killed)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_saves_a_checkpoint_and_resume_finishes_exactly(tmp_path, sig):
    full, stopped = tmp_path / "full", tmp_path / "stopped"
    args = ["train", "--config", CONFIG, *TINY, "train.max_steps=60", "train.save_every=4", "train.keep_last=2"]
    run_cli(*args, "--output-dir", full)
    # only the last two checkpoints are kept
    assert sorted(p.name for p in (full / "checkpoints").iterdir()) == ["step-56", "step-60"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "textvae", *map(str, args), "--output-dir", str(stopped)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline and not (stopped / "checkpoints" / "step-8").exists():
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err[-2000:]
    saved = [p.name for p in (stopped / "checkpoints").iterdir()]
    last = max(int(name.split("-")[1]) for name in saved)
    assert 8 <= last < 60 and "checkpoint saved to" in out and "Traceback" not in err
    state_file = stopped / "checkpoints" / f"step-{last}" / "trainer_state.json"
    assert json.loads(state_file.read_text())["train_seconds"] > 0
    # The run's wall time adds up over its parts: planted as 1000 s at the checkpoint, it goes on from there.
    state_file.write_text(json.dumps({**json.loads(state_file.read_text()), "train_seconds": 1000.0}))
    t0 = time.time()
    run_cli(*args, "--output-dir", stopped, "--resume")
    seconds = json.loads((stopped / "checkpoints" / "step-60" / "trainer_state.json").read_text())["train_seconds"]
    assert 1000.0 < seconds < 1000.0 + time.time() - t0
    assert_same_weights(full, stopped)


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    """Images under `accelerate launch` with two processes (disjoint halves of each global batch) follow
    the loss curve of one process with two micro-batches a step, and checkpoint each process's RNG."""
    args = ["train", "--config", CONFIG, *TINY, "train.max_steps=12", "train.batch_size=8", "train.lr=3e-3"]
    one = run_cli(*args, "--output-dir", tmp_path / "one", "train.grad_accum=2")
    two = run_cli(*args, "--output-dir", tmp_path / "two", launcher=LAUNCH_2)
    assert "1 process(es)" in one.stdout and "2 process(es)" in two.stdout
    assert "global batch 16" in one.stdout and "global batch 16" in two.stdout
    curves = []
    for name in ("one", "two"):
        log = (tmp_path / name / "logs" / "train.jsonl").read_text().splitlines()
        curves.append([(r["step"], r["train/loss"]) for r in map(json.loads, log) if "train/loss" in r])
    assert [s for s, _ in curves[0]] == [s for s, _ in curves[1]] == list(range(2, 13, 2))  # logged once
    for (step, a), (_, b) in zip(*curves):
        assert abs(a - b) <= 0.03 * a, (step, a, b)  # only the reparametrization noise differs
    assert curves[1][-1][1] < 0.9 * curves[1][0][1]
    ckpt = tmp_path / "two" / "checkpoints" / "step-12"
    assert (ckpt / "random_states_0.pkl").is_file() and (ckpt / "random_states_1.pkl").is_file()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["train.lrr=1"], "did you mean 'train.lr'"),
        (["train.lr=-1"], "lr must be > 0"),
        (["train.max_steps=many"], "must be an integer"),
        (["bogus.key=1"], "unknown config key 'bogus'"),
    ],
)
def test_bad_config_is_one_line_error(tmp_path, extra, message):
    proc = run_cli("train", "--config", CONFIG, "--output-dir", tmp_path / "x", *TINY, *extra, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_config_file(tmp_path):
    proc = run_cli("train", "--config", tmp_path / "nope.yaml", check=False)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_weight_average_follows_the_trained_weights_is_saved_and_resumes_exactly(tmp_path):
    """train.ema_decay: the saved model is e_t = d e_(t-1) + (1 - d) w_t over the trained weights w_t of
    every step (e_1 = w_1), and a run resumed mid-way continues the average exactly."""
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    args = [
        "train",
        "--config",
        CONFIG,
        *TINY,
        "train.max_steps=8",
        "train.save_every=1",
        "train.keep_last=8",
        "train.ema_decay=0.75",
    ]
    run_cli(*args, "--output-dir", full)
    average = None
    for step in range(1, 9):  # the checkpoints hold the trained weights (of the wrapper: "vae." + name)
        trained = {
            k.removeprefix("vae."): v.double()
            for k, v in load_file(str(full / "checkpoints" / f"step-{step}" / "model.safetensors")).items()
        }
        average = trained if average is None else {k: 0.75 * average[k] + 0.25 * trained[k] for k in trained}
    saved = weights(full)
    assert saved.keys() == average.keys()
    for k in saved:
        torch.testing.assert_close(saved[k].double(), average[k], rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(saved[k].double(), trained[k]) for k in saved)  # not the last trained weights
    run_cli(*args, "--output-dir", resumed, "--resume", full / "checkpoints" / "step-4")
    assert_same_weights(full, resumed)


def test_sgd_with_momentum_is_the_optimizer_when_asked_and_trains(tmp_path):
    out = tmp_path / "run"
    run_cli(
        "train",
        "--config",
        CONFIG,
        *TINY,
        "--output-dir",
        out,
        "train.max_steps=20",
        "train.optimizer=sgd",
        "train.momentum=0.9",
        "train.lr=0.05",
        env_extra={"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "7"},
    )
    state = torch.load(out / "checkpoints" / "step-20" / "optimizer.bin", weights_only=True)
    assert state["param_groups"][0]["momentum"] == 0.9
    assert all("momentum_buffer" in s and "exp_avg" not in s for s in state["state"].values())
    losses = [
        r["train/loss"]
        for r in map(json.loads, (out / "logs" / "train.jsonl").read_text().splitlines())
        if "train/loss" in r
    ]
    assert losses[-1] < losses[0]
    config = json.loads((out / "logs" / "train.jsonl").read_text().splitlines()[0])["config"]
    assert config["runtime.onednn_primitive_cache_capacity"] == "7"  # the user's value wins


def test_curves_plots_runs_and_names_their_best_validation(tmp_path):
    out = tmp_path / "run"
    run_cli("train", "--config", CONFIG, *TINY, "--output-dir", out, "train.max_steps=6", "train.eval_every=2")
    records = [json.loads(line) for line in (out / "logs" / "train.jsonl").read_text().splitlines()]
    best = min((r["val/neg_elbo"], r["step"]) for r in records if "val/neg_elbo" in r)
    png = tmp_path / "plots" / "curves.png"
    proc = run_cli("curves", out, out, "--output", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"{out}: best validation -ELBO {best[0]:.3f} at step {best[1]}\n" in proc.stdout
    # a run killed mid-write leaves half a line; the rest of the log is still drawn
    with open(out / "logs" / "train.jsonl", "a") as log:
        log.write('{"step": 7, "val/neg_elbo": 1')
    proc = run_cli("curves", out, "--output", png)
    assert f"best validation -ELBO {best[0]:.3f} at step {best[1]} (1 broken log line(s) skipped)" in proc.stdout
    refused = run_cli("curves", tmp_path / "plots", "--output", tmp_path / "x.png", check=False)
    assert refused.returncode == 2 and "no training log" in refused.stderr and "Traceback" not in refused.stderr
