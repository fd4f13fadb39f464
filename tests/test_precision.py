"""Mixed precision on the CPU: bf16 autocast trains with finite losses and lands near fp32; fp16 goes
through Accelerate's gradient scaling; a diverging run stops in one line and keeps its checkpoints."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "fashion-mnist-sample"
CONFIG = ROOT / "configs" / "image" / "fashion-mnist.yaml"
TINY = [f"data.path={SAMPLE}", "data.val_size=64", "train.batch_size=16", "train.eval_batch_size=64",
        "train.progress_bar=false", "train.select_best=false", "train.threads=1", "train.log_every=5"]


def train(out, *extra, check=True):
    proc = subprocess.run([sys.executable, "-m", "textvae", "train", "--config", str(CONFIG), "--output-dir",
                           str(out), *TINY, *extra], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def val_neg_elbo(out) -> float:
    records = [json.loads(line) for line in (Path(out) / "logs" / "train.jsonl").read_text().splitlines()]
    return [r["val/neg_elbo"] for r in records if "val/neg_elbo" in r][-1]


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    out = tmp_path_factory.mktemp("fp32") / "run"
    train(out, "train.max_steps=40")
    return val_neg_elbo(out)


# stated tolerance: after 40 steps the validation -ELBO of a reduced-precision run is within 3% of fp32
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_trains_close_to_fp32(tmp_path, fp32, precision):
    out = tmp_path / precision
    proc = train(out, "train.max_steps=40", f"train.mixed_precision={precision}")
    assert f"precision {precision}" in proc.stdout
    value = val_neg_elbo(out)
    assert value == value and abs(value - fp32) / fp32 < 0.03, (value, fp32)


def test_divergence_stops_in_one_line_and_keeps_checkpoints(tmp_path):
    out = tmp_path / "run"
    train(out, "train.max_steps=4", "train.save_every=2")
    proc = train(out, "train.max_steps=30", "train.lr=1e12", "--resume", check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "training diverged at step" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "checkpoints" / "step-4" / "trainer_state.json").is_file()
