"""A finished model is never trained over: a fresh run into a used folder refuses (nothing written),
--overwrite starts afresh without stale checkpoints, `--resume auto --output-dir RUN` alone continues a
run from its saved config, and a resumed run's values must agree with it. Progress: a bar on a terminal,
plain lines in a redirected log."""

import fcntl
import hashlib
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import torch
from conftest import LAUNCH_2, ROOT, run_cli, tiny_text
from safetensors.torch import load_file

IMAGE = ROOT / "configs" / "image" / "fashion-mnist.yaml"
TEXT = ROOT / "configs" / "text" / "snli-lstm.yaml"
SAMPLE = ROOT / "tests" / "data" / "fashion-mnist-sample"
# No train.progress_bar here: its default (auto) is under test.
TINY = [
    f"data.path={SAMPLE}",
    "data.val_size=64",
    "train.batch_size=16",
    "train.eval_batch_size=64",
    "train.log_every=2",
    "train.select_best=false",
    "train.threads=1",
]


def tree(folder: Path) -> dict:
    """Every file under folder by relative path -> sha256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_one_line_error(proc, *parts):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for part in parts:
        assert part in proc.stderr, (part, proc.stderr)


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A finished 6-step run (checkpoints at steps 3 and 6), its output captured through pipes (no terminal)."""
    out = tmp_path_factory.mktemp("safety") / "run"
    proc = run_cli(
        "train",
        "--config",
        IMAGE,
        "--output-dir",
        out,
        *TINY,
        "train.max_steps=6",
        "train.save_every=3",
        "train.keep_last=5",
    )
    return out, proc


@pytest.fixture()
def used(image_run, tmp_path):
    """A copy of the finished run for a test to try to train over."""
    folder = tmp_path / "used"
    shutil.copytree(image_run[0], folder)
    return folder


@pytest.mark.parametrize("holds", ["model and checkpoints", "checkpoints only", "model only"])
def test_a_fresh_run_into_a_used_folder_refuses_and_leaves_it_unchanged(used, holds):
    if holds == "checkpoints only":
        for name in ("config.json", "model.safetensors"):
            (used / name).unlink()
    if holds == "model only":
        shutil.rmtree(used / "checkpoints")
    before = tree(used)
    proc = run_cli("train", "--config", IMAGE, "--output-dir", used, *TINY, "train.max_steps=2", check=False)
    assert_one_line_error(proc, str(used), "--resume auto", "--overwrite")
    assert tree(used) == before  # the model's bytes, and nothing written beside them


def test_overwrite_empties_the_folder_so_resume_auto_cannot_pick_a_stale_checkpoint(used):
    old_model = tree(used)["model.safetensors"]
    proc = run_cli("train", "--config", IMAGE, "--output-dir", used, *TINY, "train.max_steps=2", "--overwrite")
    assert f"--overwrite: emptied {used}" in proc.stdout
    assert sorted(p.name for p in (used / "checkpoints").iterdir()) == ["step-2"]  # not step-3 or step-6
    assert tree(used)["model.safetensors"] != old_model
    steps = [line for line in (used / "logs" / "train.jsonl").read_text().splitlines() if '"train/loss"' in line]
    assert len(steps) == 1  # the old run's log went with it (log_every 2: one window in 2 steps)
    resumed = run_cli("train", "--resume", "auto", "--output-dir", used, "train.max_steps=4")
    assert f"resumed from {used / 'checkpoints' / 'step-2'} at step 2" in resumed.stdout


def test_overwrite_under_two_processes(used):
    """Emptied by the main process while the other waits: the new run's checkpoint alone, with both RNG states."""
    run_cli(
        "train", "--config", IMAGE, "--output-dir", used, *TINY, "train.max_steps=2", "--overwrite", launcher=LAUNCH_2
    )
    assert sorted(p.name for p in (used / "checkpoints").iterdir()) == ["step-2"]
    assert {p.name for p in (used / "checkpoints" / "step-2").glob("random_states_*.pkl")} == {
        "random_states_0.pkl",
        "random_states_1.pkl",
    }


@pytest.mark.parametrize(
    "args,parts",
    [
        (["--resume", "auto", "--overwrite"], ["give one of them"]),
        (
            ["--config", IMAGE, "model.latent_size=4", "--resume", "auto"],
            ["model.latent_size=4 disagrees", "trained with model.latent_size=32", "--overwrite"],
        ),
        (["model.latent_size=4", "--resume", "auto"], ["model.latent_size=4 disagrees", "model.latent_size=32"]),
        (
            ["--config", IMAGE, "--resume", "auto"],
            ["data.path: the run in", f"trained with {SAMPLE}", "--resume auto --output-dir"],
        ),
        (["--config", IMAGE, "--overwrite", "train.init_from={used}"], ["would delete train.init_from"]),
    ],
)
def test_a_resume_that_disagrees_with_the_run_refuses_in_one_line(used, args, parts):
    """Overrides given again must agree with RUN/train_config.yaml (a differing one names the key and both
    values; a --config without the run's overrides names the first key it misses); nothing is written."""
    before = tree(used)
    proc = run_cli("train", "--output-dir", used, *[str(a).format(used=used) for a in args], check=False)
    assert_one_line_error(proc, *parts)
    assert tree(used) == before


@pytest.mark.parametrize(
    "changed,typed,refused",
    [
        ("train.max_steps=9", True, None),  # a run made longer, explicitly
        ("train.lr=1e-4", True, None),
        ("train.max_steps=9", False, "train.max_steps: the run in RUN was trained with 6, --config C gives 9"),
        ("train.threads=2", False, None),  # how the run reports and the threads it uses change no number
        ("train.seed=1", True, "train.seed=1 disagrees with the run in RUN, trained with train.seed=0"),
        ("loss.kl.max_weight=0.5", True, "loss.kl.max_weight=0.5 disagrees"),
    ],
)
def test_which_differences_a_resumed_run_accepts(changed, typed, refused):
    """Against the saved config: an explicit override of the run's length, lr or saving may differ; any
    other difference (typed, or only in the --config given) is refused."""
    from textvae.errors import UserError
    from textvae.training.config import load_config
    from textvae.training.run_folder import check_resume_agrees

    saved, cfg = load_config(IMAGE, ["train.max_steps=6"]), load_config(IMAGE, ["train.max_steps=6", changed])
    typed = [changed] if typed else []
    if refused is None:
        check_resume_agrees(saved, cfg, typed, Path("RUN"), "C")
    else:
        with pytest.raises(UserError) as e:
            check_resume_agrees(saved, cfg, typed, Path("RUN"), "C")
        assert refused in str(e.value)


def test_one_line_errors_of_train_without_a_usable_config(tmp_path):
    proc = run_cli("train", "--output-dir", tmp_path / "new", check=False)
    assert_one_line_error(proc, "needs --config FILE", "--resume auto --output-dir RUN")
    proc = run_cli("train", "--resume", "auto", "--output-dir", tmp_path / "new", check=False)
    assert_one_line_error(proc, "train_config.yaml, which does not exist")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me\n")
    proc = run_cli("train", "--config", IMAGE, "--output-dir", tmp_path / "notes", *TINY, "--overwrite", check=False)
    assert_one_line_error(proc, "empties only a textvae run's folder")
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me\n"
    assert not (tmp_path / "new").exists()


def test_resume_without_config_continues_a_text_run_exactly(corpus, tmp_path):
    """A run stopped after its step-4 checkpoint (its folder: saved config, tokenizer, checkpoint) continues
    with `--resume auto --output-dir RUN` alone to the weights of the uninterrupted run; resumed with --config
    but without the run's overrides it refuses (naming a key and both values), writing nothing."""
    full, stopped = tmp_path / "full", tmp_path / "stopped"
    run_cli(
        "train",
        "--config",
        TEXT,
        "--output-dir",
        full,
        *tiny_text(corpus),
        "train.max_steps=12",
        "train.save_every=4",
        "train.keep_last=5",
    )
    stopped.mkdir()
    shutil.copy(full / "train_config.yaml", stopped)
    shutil.copytree(full / "tokenizer", stopped / "tokenizer")
    shutil.copytree(full / "checkpoints" / "step-4", stopped / "checkpoints" / "step-4")
    before = tree(stopped)
    forgot = run_cli("train", "--config", TEXT, "--resume", "auto", "--output-dir", stopped, check=False)
    assert_one_line_error(forgot, "the run in", "was trained with", "train_config.yaml is the config")
    assert "holds a tokenizer" not in forgot.stderr and tree(stopped) == before  # not the tokenizer hint
    proc = run_cli("train", "--resume", "auto", "--output-dir", stopped)
    assert "resumed from" in proc.stdout and "at step 4" in proc.stdout
    assert same_weights(full, stopped)


def test_a_redirected_log_has_plain_progress_lines_and_no_carriage_returns(image_run):
    _, proc = image_run
    assert "\r" not in proc.stdout and "\r" not in proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("step ") and "/6: loss" in line]
    assert [line.split(":")[0] for line in lines] == ["step 2/6", "step 4/6", "step 6/6"]
    assert all("images/s" in line and "left" in line for line in lines)


def test_a_terminal_gets_the_progress_bar(tmp_path):
    """stderr on a pseudo-terminal: the default draws tqdm's bar there, and no plain lines."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "textvae",
            "train",
            "--config",
            str(IMAGE),
            "--output-dir",
            str(tmp_path / "tty"),
            *TINY,
            "train.max_steps=4",
        ],
        cwd=ROOT,
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other end closed
            break
        if not chunk:
            break
        drawn += chunk
    out = proc.stdout.read()
    assert proc.wait(timeout=300) == 0, drawn[-2000:]
    os.close(master)
    assert b"\r" in drawn and b"4/4" in drawn
    assert not any(line.startswith("step 2/4") for line in out.splitlines())
