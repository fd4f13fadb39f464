"""Training curves of one or more runs, read from their logs/train.jsonl: validation -ELBO, validation
KL and the training loss against the optimizer step, one line per run, in one PNG."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError

PANELS = (
    ("val/neg_elbo", "validation -ELBO (nats)"),
    ("val/kl", "validation KL (nats)"),
    ("train/loss", "training loss (nats, running mean of 5 logs):\nrec + weighted KL (+ the AR/TAR penalty, if set)"),
)


def read_log(run: str | Path) -> tuple[dict[str, list[tuple[int, float]]], int]:
    """({metric: [(step, value), ...]}, lines skipped) of a run folder's logs/train.jsonl, sorted by step.
    A run resumed from a checkpoint logs the steps after it again: the last value logged for a step is
    kept. A run killed mid-write leaves a broken line: lines that are not JSON are skipped and counted.

    Raises:
        UserError: no log, or a log with no metric of PANELS.
    """
    path = Path(run) / "logs" / "train.jsonl"
    if not path.is_file():
        raise UserError(f"{run}: no training log (logs/train.jsonl); give the output folder of `textvae train`")
    series: dict[str, dict[int, float]] = {name: {} for name, _ in PANELS}
    skipped = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1
            continue
        for name in series:
            if name in record and record.get("step") is not None:
                series[name][int(record["step"])] = float(record[name])
    if not any(series.values()):
        raise UserError(f"{path}: no logged metric yet ({', '.join(series)})")
    return {name: sorted(points.items()) for name, points in series.items()}, skipped


def best_validation(series: dict[str, list[tuple[int, float]]]) -> tuple[int, float] | None:
    """(step, value) of the lowest validation -ELBO, or None before the first validation."""
    points = series["val/neg_elbo"]
    return min(points, key=lambda p: p[1]) if points else None


def plot_curves(runs: list[str | Path], path: str | Path, logs: list[dict] | None = None) -> Path:
    """One PNG with a panel per metric of PANELS and a line per run, labelled by folder name; the
    validation -ELBO panel marks each run's best point. `logs`: the runs' series, when already read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = logs or [read_log(run)[0] for run in runs]
    labels = [Path(run).name for run in runs]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5.2 * len(PANELS), 4.2), dpi=100)
    for ax, (name, title) in zip(axes, PANELS):
        for k, (series, label) in enumerate(zip(logs, labels)):
            if series[name]:
                steps, values = zip(*series[name])
                if name.startswith("train/"):  # windows of batches of different lengths: a running mean of 5
                    values = _running_mean(values, 5)
                ax.plot(
                    steps,
                    values,
                    label=label,
                    color=f"C{k % 10}",
                    lw=1.2,
                    marker="o" if name.startswith("val/") else None,
                    ms=2.5,
                )
            best = best_validation(series)
            if name == "val/neg_elbo" and best is not None:
                ax.plot(*best, marker="*", ms=11, color=f"C{k % 10}", mec="black", mew=0.6)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    # The first steps' losses dwarf the rest: the y axes stop at the 80th percentile of the values.
    axes[0].set_ylim(*_tail_limits([v for s in logs for _, v in s["val/neg_elbo"]]))
    axes[-1].set_ylim(*_tail_limits([v for s in logs for _, v in s["train/loss"]]))
    axes[0].legend(fontsize=8, loc="upper right", framealpha=0.85)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _tail_limits(values: list[float]) -> tuple[float | None, float | None]:
    """Axis limits from the lowest value to the 80th percentile plus a margin (None: matplotlib's own)."""
    if len(values) < 3:
        return None, None
    ordered = sorted(values)
    low, high = ordered[0], ordered[int(0.8 * (len(ordered) - 1))]
    margin = 0.05 * max(high - low, 1e-6)
    return low - margin, high + margin


def _running_mean(values, width: int) -> list[float]:
    """The mean of each value and up to width - 1 values before it."""
    return [sum(values[max(0, i - width + 1) : i + 1]) / (i + 1 - max(0, i - width + 1)) for i in range(len(values))]
