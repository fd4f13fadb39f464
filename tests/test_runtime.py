"""Process-wide settings of textvae.runtime, checked for their effect in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from textvae.runtime import ONEDNN_CACHE_CAPACITY, bound_onednn_cache

ROOT = Path(__file__).resolve().parent.parent

# bf16 LSTM steps on more new sequence lengths than the bound keeps: oneDNN builds primitives for each
# (forward and backward) and by default keeps 1,024 of them. Prints the growth of the resident memory
# over those steps, in MB. On a CPU whose oneDNN has no bf16 LSTM (AVX2 only) the steps run in float32,
# through oneDNN's float32 LSTM, which grows the same way but by less (37.7 MB against 0.8 bounded, AMD
# EPYC AVX2; ~137 in bf16).
GROWTH = """
import contextlib
import ctypes
import sys
if sys.argv[1] == "bounded":
    from textvae.runtime import bound_onednn_cache
    bound_onednn_cache()
import torch
from textvae.runtime import ONEDNN_CACHE_CAPACITY, lstm_runs_in
torch.set_num_threads(1)
bf16 = torch.autocast("cpu", dtype=torch.bfloat16) if lstm_runs_in("bf16") else contextlib.nullcontext()
def rss():  # after returning freed heap to the system: what is left is what something keeps
    getattr(ctypes.CDLL(None), "malloc_trim", lambda pad: 0)(0)  # glibc's; RSS alone swung by ~50 MB
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
lstm = torch.nn.LSTM(32, 32, batch_first=True)
for n in range(1, ONEDNN_CACHE_CAPACITY + 200):
    x = torch.randn(2, n, 32, requires_grad=True)
    with bf16:
        out, _ = lstm(x)
    out.float().sum().backward()
    if n == ONEDNN_CACHE_CAPACITY:
        start = rss()
print(rss() - start)
"""


def _growth(mode, env):
    proc = subprocess.run(
        [sys.executable, "-c", GROWTH, mode], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return float(proc.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_bounded_onednn_cache_keeps_memory_flat_over_new_shapes():
    """The bug: a PTB training run grew to 6.8 GB of RSS, oneDNN keeping primitives for every batch
    shape. Past ONEDNN_CACHE_CAPACITY shapes, memory goes on growing with each new one under oneDNN's
    default (1,024, set explicitly here), and nearly stops under textvae's bound. RSS is read after
    malloc_trim: without it, freed heap not yet returned made the bounded growth swing from -2 to 51 MB
    (against ~137 unbounded), and the test failed once in CI."""
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    unbounded = _growth("default", {**env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"})
    bounded = _growth("bounded", env)
    assert unbounded > 25, unbounded  # the behaviour the bound is for, still there
    assert bounded < unbounded / 10, (bounded, unbounded)


def test_the_users_cache_capacity_wins(monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    bound_onednn_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(ONEDNN_CACHE_CAPACITY)
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "5")
    bound_onednn_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "5"
