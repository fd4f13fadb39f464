"""The README's quick start, run as written, so that it cannot rot.

Every `textvae ...` line of the quick start's command-line block runs through the command line, in a
scratch folder holding the repository's configs/, with three changes that keep the test short and
are the only ones: `train` lines get overrides that make the model tiny and the run a few steps
long (an image run reads the small shipped Fashion-MNIST sample, 64 of its images for validation);
`evaluate` reads 50 validation sentences with 5 importance samples; `demo` is started, asked for its
page and stopped. The Python block then runs against the model the command-line block trained, as it
stands but for the file it evaluates (the same 50 sentences).
"""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text()
TINY_TEXT = [
    "train.max_steps=20",
    "train.epochs=1",
    "model.embed_size=32",
    "model.latent_size=8",
    "model.encoder.hidden_size=32",
    "model.decoder.hidden_size=32",
    "data.tokenizer.vocab_size=300",
    "train.progress_bar=false",
]
TINY_IMAGE = [
    "train.max_steps=5",
    "train.epochs=1",
    f"data.path={ROOT / 'tests/data/fashion-mnist-sample'}",
    "data.val_size=64",
    "train.progress_bar=false",
]


def section(title: str) -> str:
    """The README's text under the heading `title`, up to the next heading of the same or a higher level
    (lines inside code fences are never headings)."""
    lines, out, level, fenced = README.splitlines(), None, 0, False
    for line in lines:
        fenced ^= line.startswith("```")
        heading = not fenced and re.match(r"(#+) (.*)", line)
        if out is None:
            if heading and heading.group(2) == title:
                out, level = [], len(heading.group(1))
        elif heading and len(heading.group(1)) <= level:
            break
        else:
            out.append(line)
    assert out is not None, f"README has no section {title!r}"
    return "\n".join(out) + "\n"


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M)


def commands(block: str) -> list[str]:
    """The block's lines without comments, backslash continuations joined."""
    lines = block.replace("\\\n", " ").splitlines()
    return [
        line.split("  #")[0].split(" # ")[0].strip()
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "textvae", *argv], cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs
    )
    assert proc.returncode == 0, f"textvae {' '.join(argv)}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc


def serve_demo(argv: list[str], cwd: Path) -> str:
    """Start `textvae demo ...` on a free port, return its page's HTML, stop it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "textvae", *argv, "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            assert proc.poll() is None, f"textvae demo exited: {proc.stderr.read()[-2000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    return response.read().decode()
            except OSError:
                time.sleep(1)
        raise AssertionError("textvae demo did not answer within 180 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A scratch folder with the repository's configs/ and the shipped validation sentences' first 50."""
    work = tmp_path_factory.mktemp("readme")
    (work / "configs").symlink_to(ROOT / "configs")
    lines = (ROOT / "textvae/data/snli/valid.txt").read_text().splitlines()[:50]
    (work / "valid50.txt").write_text("\n".join(lines) + "\n")
    return work


@pytest.fixture(scope="module")
def cli_outputs(workdir) -> dict[str, str]:
    """Runs the quick start's command-line block; the stdout of each verb (the first of each kind)."""
    (block,) = blocks(section("Command line"), "bash")
    outputs = {}
    for line in commands(block):
        argv = shlex.split(line)
        assert argv[0] == "textvae", f"a quick-start line that is not a textvae command: {line}"
        argv = argv[1:]
        verb = argv[0]
        if verb == "train":
            argv += TINY_IMAGE if "configs/image" in line else TINY_TEXT
        if verb == "evaluate":
            argv = [a if a != "500" else "5" for a in argv] + ["--data", "valid50.txt"]
        if verb == "demo":
            outputs[verb] = serve_demo(argv, workdir)
            continue
        outputs.setdefault(verb, run(argv, workdir).stdout)
    return outputs


def test_quick_start_command_line(cli_outputs, workdir):
    assert (workdir / "runs/snli-lstm/model.safetensors").exists()
    assert (workdir / "runs/snli-lstm/faithfulness.json").exists()
    assert len(cli_outputs["reconstruct"].strip().splitlines()) == 1
    path = cli_outputs["interpolate"].strip().splitlines()
    # --with-inputs: the inputs themselves are the end lines, the 5 steps between them
    assert path[0] == "a man is playing a guitar ." and path[-1] == "two dogs are running through the snow ."
    assert len(path) == 7
    assert len(cli_outputs["sample"].strip().splitlines()) == 5
    assert (workdir / "runs/snli-lstm/eval.json").exists()
    assert (workdir / "runs/snli-lstm/map.png").stat().st_size > 10_000
    assert "gradio" in cli_outputs["demo"].lower()
    assert (workdir / "runs/fashion/samples.png").exists()


def test_quick_start_python(cli_outputs, workdir, capsys):
    (block,) = blocks(section("Python"), "python")
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        exec(compile(block.replace("textvae/data/snli/valid.txt", "valid50.txt"), "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 + 7 + 1 + 1, printed  # decode, the path (endpoints included), samples, NLL
    assert float(printed[-1]) > 0
