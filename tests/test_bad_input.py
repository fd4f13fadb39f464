"""Bad input gets one clear line and exit status 2, never a traceback, and nothing half-written."""

import json
import resource
import shutil
import signal
from pathlib import Path

import conftest
import pytest

from textvae.text.data import shipped_corpus

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "configs" / "text" / "snli-lstm.yaml"
IMAGE = ROOT / "configs" / "image" / "fashion-mnist.yaml"
SAMPLE = ROOT / "tests" / "data" / "fashion-mnist-sample"
IMAGE_TINY = [
    f"data.path={SAMPLE}",
    "data.val_size=64",
    "train.batch_size=16",
    "train.progress_bar=false",
    "train.threads=1",
]


def run_cli(*args, limit_file_size=None):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return conftest.run_cli(*args, check=False, preexec_fn=limit if limit_file_size else None)


def assert_one_line_error(proc, message):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("textvae: error")]) == 1


def text_tiny(folder: Path) -> list[str]:
    return [
        f"data.train_file={folder / 'train.txt'}",
        f"data.valid_file={folder / 'valid.txt'}",
        "model.embed_size=16",
        "model.latent_size=4",
        "model.encoder.hidden_size=16",
        "model.decoder.hidden_size=16",
        "train.batch_size=16",
        "train.progress_bar=false",
        "train.threads=1",
    ]


@pytest.fixture()
def corpus(tmp_path):
    lines = shipped_corpus("train").read_text(encoding="utf-8").splitlines()
    (tmp_path / "train.txt").write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
    (tmp_path / "valid.txt").write_text("\n".join(lines[200:240]) + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("kind", ["word", "sentencepiece"])
def test_a_line_of_100000_characters_is_truncated_and_counted(corpus, kind):
    long_line = " ".join(["word"] * 20_000)[:100_000]
    with open(corpus / "train.txt", "a", encoding="utf-8") as f:
        f.write(long_line + "\n")
    proc = run_cli(
        "train",
        "--config",
        TEXT,
        "--output-dir",
        corpus / "run",
        *text_tiny(corpus),
        f"data.tokenizer.kind={kind}",
        "data.tokenizer.vocab_size=300",
        "train.max_steps=3",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "truncated to 64 tokens" in proc.stdout  # counted, and the run goes on


@pytest.mark.parametrize(
    "override,note",
    [
        (
            "data.tokenizer.vocab_size=50000",
            "data.tokenizer.vocab_size asks for 50,000: the training sentences allow no more",
        ),
        ("data.tokenizer.max_size=50000", "data.tokenizer.max_size asks for 50,000 words: the training sentences have"),
    ],
)
def test_a_vocabulary_larger_than_the_corpus_allows_is_said_and_trains(corpus, override, note):
    """Not an error (the default config must work on a small corpus), but said in one line."""
    kind = "sentencepiece" if "vocab_size" in override else "word"
    proc = run_cli(
        "train",
        "--config",
        TEXT,
        "--output-dir",
        corpus / "run",
        *text_tiny(corpus),
        f"data.tokenizer.kind={kind}",
        override,
        "train.max_steps=2",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert note in proc.stdout


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.latent_size=0", "latent_size must be >= 1"),
        ("model.word_dropout=-0.1", "word_dropout"),
        ("loss.free_bits=-1", "free_bits"),
        ("loss.free_bits_per=sentence", "free_bits_per must be batch or example"),
        ("train.batch_size=0", "batch_size must be >= 1"),
        ("model.encoder.kind=cnn", "encoder"),
        ("train.optimizer=adam", "optimizer must be adamw or sgd"),
        ("train.momentum=0.9", "momentum is an option of optimizer sgd"),
        ("train.ema_decay=1", "ema_decay must be in [0, 1)"),
    ],
)
def test_out_of_range_values_are_refused(corpus, override, message):
    proc = run_cli("train", "--config", TEXT, "--output-dir", corpus / "run", *text_tiny(corpus), override)
    assert_one_line_error(proc, message)
    assert not (corpus / "run" / "model.safetensors").exists()


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "run"
    proc = run_cli("train", "--config", IMAGE, "--output-dir", out, *IMAGE_TINY, "train.max_steps=2")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: (d / "config.json").unlink(), "has no config.json"),
        (lambda d: (d / "config.json").write_text("{not json"), "corrupt"),
        (
            lambda d: (d / "config.json").write_text(
                json.dumps(
                    {
                        "model_type": "conv_image_vae",
                        "config": {**json.loads((d / "config.json").read_text())["config"], "latent_size": 7},
                    }
                )
            ),
            "do not match",
        ),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 100), "corrupt"),
        (lambda d: (d / "model.safetensors").unlink(), "missing"),
    ],
)
def test_damaged_model_folders_are_refused(image_model, tmp_path, damage, message):
    folder = tmp_path / "m"
    shutil.copytree(image_model, folder)
    damage(folder)
    proc = run_cli("sample", folder, "-n", "4", "--output", tmp_path / "s.png")
    assert_one_line_error(proc, message)
    assert not (tmp_path / "s.png").exists()


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(image_model, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(image_model, run)
    good = run / "checkpoints" / "step-2"
    before = {p.name: p.stat().st_size for p in good.iterdir()}
    # resume, with files limited to 1 MB: the next checkpoint (a 13 MB model) cannot be written
    proc = run_cli(
        "train",
        "--config",
        IMAGE,
        "--output-dir",
        run,
        *IMAGE_TINY,
        "train.max_steps=6",
        "train.save_every=3",
        "train.select_best=false",
        "--resume",
        limit_file_size=1_000_000,
    )
    assert_one_line_error(proc, "could not write checkpoint")
    assert "step-2 is intact" in proc.stderr
    assert {p.name: p.stat().st_size for p in good.iterdir()} == before
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-2"]  # nothing half-written left
