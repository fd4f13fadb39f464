"""How a run reports and stops: the sums behind a log line, the plain progress line (when no bar is shown),
SIGINT/SIGTERM, and the message of a diverged run."""

from __future__ import annotations

import signal
import time
from pathlib import Path

MAX_SKIPPED_FP16_STEPS = 50  # consecutive overflowing fp16 steps before the run is declared diverged


def diverged(step: int, what: str, ckpt_root: Path) -> str:
    return (
        f"training diverged at step {step} ({what}); lower train.lr, or use train.mixed_precision=no; "
        f"the last good checkpoint, if any, is under {ckpt_root}"
    )


class Window:
    """Sums of the training steps since the last log line (per process; reduced when logged)."""

    KEYS = ("units", "loss", "rec", "kl", "n")

    def __init__(self):
        self.sums = dict.fromkeys(self.KEYS, 0.0)
        self.t0 = time.perf_counter()

    def add(self, res: dict, units: int) -> None:
        self.sums["units"] += units
        for key in ("loss", "rec", "kl"):
            self.sums[key] += float(res[key].detach())
        self.sums["n"] += 1

    def means(self, accelerator, unit: str) -> dict:
        """The window's mean losses and its speed, summed over processes (the global batch's, as with one
        process): train/loss, train/rec, train/kl, train/<unit>_per_s."""
        import torch

        sums = accelerator.reduce(
            torch.tensor([float(self.sums[k]) for k in self.KEYS], dtype=torch.float64, device=accelerator.device),
            "sum",
        )
        units, loss, rec, kl, n = sums.tolist()
        n = max(1.0, n)
        return {
            "train/loss": loss / n,
            "train/rec": rec / n,
            "train/kl": kl / n,
            f"train/{unit}_per_s": units / (time.perf_counter() - self.t0),
        }


class StopSignal:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop at the next step boundary."""

    def __init__(self):
        self.received = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.received is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def progress_line(step: int, total: int, logs: dict, unit: str, first_step: int, seconds: float) -> str:
    """The plain progress line printed instead of a bar: step, losses, speed, time spent and left."""
    left = seconds / max(1, step - first_step) * (total - step)
    return (
        f"step {step}/{total}: loss {logs['train/loss']:.3f} (rec {logs['train/rec']:.3f}, "
        f"KL {logs['train/kl']:.3f}, weight {logs['train/kl_weight']:.2f}), "
        f"{logs[f'train/{unit}_per_s']:.0f} {unit}/s, "
        f"{clock(seconds)} spent, {clock(left)} left"
    )


def clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
