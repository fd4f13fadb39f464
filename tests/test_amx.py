"""bf16 products at shapes that kill the process on Intel CPUs with AMX (oneDNN 3.12, torch 2.13:
SIGFPE in its brgemm matmul when the weights are read transposed, e.g. (32, 49152) x (49152, 576), the
d h product of SmolLM2's output layer; see AMX_NOTE in textvae/text/kernels.py).

Each case runs in a child process, so a crash fails one test instead of ending the whole test run. On a
CPU without AMX (the AMD EPYC of some sessions) these shapes run anyway and the tests pass trivially:
they guard the AMX machines, where they would have failed before the fix."""

import subprocess
import sys

import pytest

from textvae.runtime import has_amx

# (rows, vocabulary, hidden): rows are the output layer's product rows (32 per sentence-batch multiple)
BAD = [(32, 49152, 576), (32, 49152, 512), (32, 49152, 256)]

CHILD = """
import sys, torch
import torch.nn.functional as F
from textvae.text.kernels import linear_log_prob
torch.set_num_threads(2)
torch.manual_seed(0)
n, v, d = map(int, sys.argv[1:4])
h = (torch.randn(n, d) * 0.5).requires_grad_()
w = (torch.randn(v, d) * 0.05).requires_grad_()
b = torch.zeros(v, requires_grad=True)
t = torch.randint(0, v, (n,))
with torch.autocast("cpu", dtype=torch.bfloat16):
    low = linear_log_prob(h, w, b, t)
low.sum().backward()
ref_h, ref_w = h.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
ref = -F.cross_entropy(F.linear(ref_h, ref_w, b.detach()), t, reduction="none")
ref.sum().backward()
def rel(a, c):
    return float((a - c).norm() / c.norm())
print(rel(low.detach(), ref.detach()), rel(h.grad, ref_h.grad), rel(w.grad, ref_w.grad))
"""


@pytest.mark.parametrize("rows,vocab,hidden", BAD)
def test_output_layer_survives_shapes_that_crash_onednn_on_amx(rows, vocab, hidden):
    """The fused output layer, forward and backward in bf16 autocast, at a known-bad shape: the child
    exits cleanly (no signal) and its values and gradients are float32's to bf16 rounding."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(rows), str(vocab), str(hidden)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"exit {proc.returncode} (AMX CPU: {has_amx()})\n{proc.stderr[-2000:]}"
    errors = [float(x) for x in proc.stdout.split()]
    assert len(errors) == 3 and all(e < 0.02 for e in errors), errors


def test_a_plain_transposed_product_at_the_shape_dies_only_on_amx():
    """Why the output layer avoids the layout: a plain `a @ b.t()` at the shape dies with SIGFPE on AMX
    CPUs and runs elsewhere. When a torch release fixes oneDNN, this test fails on an AMX CPU, and
    AMX_NOTE can go."""
    code = (
        "import torch; torch.set_num_threads(2); a = torch.randn(32, 49152).bfloat16(); "
        "b = torch.randn(576, 49152).bfloat16(); a @ b.t()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == (-8 if has_amx() else 0), (proc.returncode, proc.stderr[-500:])  # -8: SIGFPE


def test_a_bf16_text_run_killed_by_a_signal_loses_only_steps_since_its_checkpoint(corpus, tmp_path):
    """What a process killed by oneDNN (SIGFPE) or anything else keeps: a bf16 text run killed with
    SIGKILL after its step-9 checkpoint resumes with `--resume auto` from its latest complete
    checkpoint, and ends with the uninterrupted run's weights, bit for bit."""
    import signal

    from conftest import kill_once_saved, run_cli
    from test_text_cli import CONFIG, tiny
    from test_training import assert_same_weights

    args = [
        "train",
        "--config",
        CONFIG,
        *tiny(corpus),
        "train.mixed_precision=bf16",
        "train.max_steps=40",
        "train.save_every=3",
        "train.keep_last=2",
    ]
    full, killed = tmp_path / "full", tmp_path / "killed"
    run_cli(*args, "--output-dir", full)
    assert kill_once_saved([*args, "--output-dir", killed], killed / "checkpoints" / "step-9") == -signal.SIGKILL
    kept = sorted(int(p.name.split("-")[1]) for p in (killed / "checkpoints").glob("step-*"))
    assert kept and kept[-1] < 40, "run finished before it could be killed"
    out = run_cli(*args, "--output-dir", killed, "--resume", "auto").stdout
    assert f"at step {kept[-1]}" in out, out
    assert_same_weights(full, killed)
