"""Diagonal-Gaussian posterior and the standard-normal prior."""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))), batched over the leading dimension.

    Args:
        mean: (B, D) posterior means.
        logvar: (B, D) posterior log-variances.
    """

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        if mean.shape != logvar.shape:
            raise ValueError(f"mean {tuple(mean.shape)} and logvar {tuple(logvar.shape)} differ in shape")
        self.mean = mean
        self.logvar = logvar

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def rsample(self, num_samples: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparametrized sample: (B, D), or (S, B, D) when num_samples is given."""
        shape = self.mean.shape if num_samples is None else (num_samples, *self.mean.shape)
        eps = torch.randn(shape, dtype=self.mean.dtype, device=self.mean.device, generator=generator)
        return self.mean + eps * self.std

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over latent dimensions; z is (..., B, D), result (..., B)."""
        return -0.5 * (LOG_2PI + self.logvar + (z - self.mean) ** 2 / self.logvar.exp()).sum(-1)

    def kl_per_dim(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) for each latent dimension in closed form: (B, D)."""
        return 0.5 * (self.mean**2 + self.logvar.exp() - 1.0 - self.logvar)

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) summed over dimensions: (B,)."""
        return self.kl_per_dim().sum(-1)

    def entropy(self) -> torch.Tensor:
        """Differential entropy of q(z|x) in closed form: (B,)."""
        return 0.5 * (LOG_2PI + 1.0 + self.logvar).sum(-1)

    def widened(self, scale: float) -> DiagonalGaussian:
        """The same means with every standard deviation times `scale` (itself when scale is 1)."""
        return self if scale == 1 else DiagonalGaussian(self.mean, self.logvar + 2 * math.log(scale))

    def detach(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean.detach(), self.logvar.detach())

    def __getitem__(self, index) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean[index], self.logvar[index])


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)
