"""The optimiser, its learning-rate schedule, and the weight average (train.ema_decay)."""

from __future__ import annotations

import math

import torch


def lr_at(cfg, step: int, total_steps: int) -> float:
    """Learning rate at `step`: linear warm-up, then constant, cosine or linear decay to min_lr_ratio."""
    if cfg.lr_warmup_steps and step < cfg.lr_warmup_steps:
        return cfg.lr * (step + 1) / cfg.lr_warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.lr_warmup_steps) / max(1, total_steps - cfg.lr_warmup_steps))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if cfg.lr_schedule == "cosine" else 1 - progress
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * shape)


def make_optimizer(params, cfg):
    kwargs = dict(lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=cfg.momentum, **kwargs)
    try:  # the fused kernel is ~4x faster per step on CPU (measured on PTB-sized models)
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(params, **kwargs)


def make_ema(model, decay: float, accelerator):
    """train.ema_decay: an exponential moving average of the bare model's weights (no DDP or autocast
    wrapper), checkpointed with the rest; None when decay is 0."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.requires_grad_(False).eval()
    accelerator.register_for_checkpointing(ema)
    return ema
