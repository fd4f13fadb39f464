"""How a run reports and stops: the plain progress line (when no bar is shown) and SIGINT/SIGTERM."""

from __future__ import annotations

import signal


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
