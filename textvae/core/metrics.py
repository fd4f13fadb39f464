"""Latent-space metrics as computed in the text-VAE literature.

- Active units (Burda et al. 2016): dimension d is active when Cov_x(E_q(z|x)[z_d]) > threshold
  (0.01), the covariance taken over the evaluation set with the unbiased (N-1) estimator.
- Mutual information I(x; z) under q (Hoffman and Johnson 2016; estimator of He et al. 2019):
  I = E_x E_q(z|x)[log q(z|x)] - E_x E_q(z|x)[log q(z)], where the first term is the negative
  entropy of each Gaussian posterior in closed form and q(z) = 1/N sum_n q(z|x_n) is aggregated over
  ALL N posteriors of the evaluation set (He et al.'s code aggregates within each mini-batch), with
  one sample z ~ q(z|x) per example.
"""

from __future__ import annotations

import math

import torch

from .distributions import LOG_2PI, DiagonalGaussian


def active_units(means: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """means: (N, D) posterior means over the data. Returns (number active, (D,) variances)."""
    if means.shape[0] < 2:
        raise ValueError("active units need at least 2 examples")
    var = means.double().var(dim=0, unbiased=True)
    return int((var > threshold).sum().item()), var.float()


@torch.no_grad()
def mutual_information(
    means: torch.Tensor, logvars: torch.Tensor, chunk_size: int = 256, generator: torch.Generator | None = None
) -> float:
    """I(x; z) in nats with q(z) aggregated over all N posteriors. means, logvars: (N, D)."""
    mu = means.double()
    lv = logvars.double()
    n, d = mu.shape
    neg_entropy = (-0.5 * d * LOG_2PI - 0.5 * (1 + lv).sum(-1)).mean()
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    z = mu + eps * torch.exp(0.5 * lv)  # (N, D): one sample each
    var = lv.exp()
    log_qz = []
    for start in range(0, n, chunk_size):
        zc = z[start : start + chunk_size].unsqueeze(1)  # (C, 1, D)
        # log q(z_i | x_j) for all j: (C, N)
        lq = -0.5 * (LOG_2PI + lv.unsqueeze(0) + (zc - mu.unsqueeze(0)) ** 2 / var.unsqueeze(0)).sum(-1)
        log_qz.append(torch.logsumexp(lq, dim=1) - math.log(n))
    return float(neg_entropy - torch.cat(log_qz).mean())


def kl_per_dimension(means: torch.Tensor, logvars: torch.Tensor) -> torch.Tensor:
    """(D,) KL(q(z|x) || N(0, I)) of each dimension, averaged over the data."""
    return DiagonalGaussian(means.double(), logvars.double()).kl_per_dim().mean(0).float()
