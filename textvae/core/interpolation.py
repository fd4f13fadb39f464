"""Paths between two latent codes."""

from __future__ import annotations

import torch


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation. a, b: (D,); t: (N,) in [0, 1]; returns (N, D)."""
    t = t.to(a.dtype).unsqueeze(-1)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for latent spaces).

    slerp(a, b; t) = sin((1-t) W) / sin W * a + sin(t W) / sin W * b, W the angle between a and b.
    Hits a at t=0 and b at t=1; for |a| = |b| every point keeps that norm. Falls back to lerp when a
    and b are (nearly) parallel, where the arc is undefined. a, b: (D,); t: (N,); returns (N, D).
    """
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    cos = torch.clamp((a * b).sum() / (na * nb), -1.0, 1.0)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    if so.abs() < 1e-6:
        return lerp(a, b, t)
    t = t.to(a.dtype).unsqueeze(-1)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / so


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """Codes from a to b inclusive with `steps` intermediate points: (steps + 2, D)."""
    if steps < 0:
        raise ValueError(f"steps must be >= 0, not {steps}")
    t = torch.linspace(0.0, 1.0, steps + 2, device=a.device)
    if method == "slerp":
        return slerp(a, b, t)
    if method == "linear":
        return lerp(a, b, t)
    raise ValueError(f"method must be 'slerp' or 'linear', not {method!r}")
