"""Loading never runs code: a malicious pickle planted in a checkpoint is refused without executing."""

import os
import pickle
from pathlib import Path

import conftest
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "fashion-mnist-sample"
CONFIG = ROOT / "configs" / "image" / "fashion-mnist.yaml"


class _Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def run_cli(*args):
    return conftest.run_cli(*args, check=False)


@pytest.mark.parametrize("target", ["random_states_0.pkl", "optimizer.bin"])
def test_planted_pickle_in_a_checkpoint_is_refused_without_running(tmp_path, target):
    out = tmp_path / "run"
    args = [
        "train",
        "--config",
        CONFIG,
        "--output-dir",
        out,
        f"data.path={SAMPLE}",
        "data.val_size=64",
        "train.batch_size=16",
        "train.progress_bar=false",
        "train.threads=1",
    ]
    proc = run_cli(*args, "train.max_steps=2")
    assert proc.returncode == 0, proc.stderr
    ckpt = out / "checkpoints" / "step-2"
    assert (ckpt / target).is_file()
    marker = tmp_path / "pwned"
    with open(ckpt / target, "wb") as f:
        pickle.dump(_Payload(marker), f)
    proc = run_cli(*args, "train.max_steps=4", "--resume", ckpt)
    assert proc.returncode == 2, proc.stderr
    assert "cannot be loaded safely" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists(), "the planted pickle ran"
