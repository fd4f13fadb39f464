"""KL-weight schedules: pure functions of the optimisation step.

Every schedule maps a step (0-based) to a weight in [0, max_weight]. They hold no state, so a resumed
run only needs the step to continue exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class KLScheduleConfig:
    """How the weight of the KL term moves during training.

    kind: constant | linear | logistic | cyclical.
    warmup_steps: steps during which the weight is held at 0 before any schedule starts
        (an autoencoder phase, as in Li et al. 2019).
    max_weight: the weight reached at the end of the ramp (1.0 gives the true ELBO).
    anneal_steps: linear: steps of the ramp from 0 to max_weight.
    logistic_k, logistic_x0: logistic (Bowman et al. 2016): w = max / (1 + exp(-k (t - x0))).
    cycles, ratio, total_steps: cyclical (Fu et al. 2019): total_steps (0: the run's number of steps
        after warm-up) split into `cycles` cycles; in each, the weight rises linearly over the first
        `ratio` of the cycle, then stays at max.
    """

    kind: str = "linear"
    warmup_steps: int = 0
    max_weight: float = 1.0
    anneal_steps: int = 10000
    logistic_k: float = 0.0025
    logistic_x0: int = 2500
    cycles: int = 4
    ratio: float = 0.5
    total_steps: int = 0

    def __post_init__(self):
        kinds = ("constant", "linear", "logistic", "cyclical")
        if self.kind not in kinds:
            raise ValueError(f"kl.kind must be one of {', '.join(kinds)}, not {self.kind!r}")
        if self.max_weight < 0:
            raise ValueError(f"kl.max_weight must be >= 0, not {self.max_weight}")
        if self.warmup_steps < 0 or self.anneal_steps < 0 or self.total_steps < 0:
            raise ValueError("kl.warmup_steps, kl.anneal_steps and kl.total_steps must be >= 0")
        if self.cycles < 1:
            raise ValueError(f"kl.cycles must be >= 1, not {self.cycles}")
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"kl.ratio must be in (0, 1], not {self.ratio}")


def constant(step: int, max_weight: float = 1.0) -> float:
    return max_weight


def linear(step: int, anneal_steps: int, max_weight: float = 1.0) -> float:
    if anneal_steps <= 0:
        return max_weight
    return max_weight * min(1.0, step / anneal_steps)


def logistic(step: int, k: float, x0: float, max_weight: float = 1.0) -> float:
    return max_weight / (1.0 + math.exp(-k * (step - x0)))


def cyclical(step: int, total_steps: int, cycles: int = 4, ratio: float = 0.5, max_weight: float = 1.0) -> float:
    period = total_steps / cycles
    if period <= 0:
        return max_weight
    tau = (step % period) / period
    return max_weight * min(1.0, tau / ratio)


def kl_weight(cfg: KLScheduleConfig, step: int, run_steps: int = 0) -> float:
    """The KL weight at `step` under `cfg`: 0 during warm-up, then the chosen schedule.

    run_steps: the run's total number of steps, used by the cyclical schedule when
    cfg.total_steps is 0.
    """
    if step < cfg.warmup_steps:
        return 0.0
    t = step - cfg.warmup_steps
    if cfg.kind == "constant":
        return constant(t, cfg.max_weight)
    if cfg.kind == "linear":
        return linear(t, cfg.anneal_steps, cfg.max_weight)
    if cfg.kind == "logistic":
        return logistic(t, cfg.logistic_k, cfg.logistic_x0, cfg.max_weight)
    total = cfg.total_steps or max(1, run_steps - cfg.warmup_steps)
    return cyclical(t, total, cfg.cycles, cfg.ratio, cfg.max_weight)
