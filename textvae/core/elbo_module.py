"""A module that computes the training objective of any VAE in its forward().

Accelerate (DDP, autocast) hooks into forward(); the VAE contract has encode/log_likelihood instead,
so the trainer prepares this wrapper. The loss is still assembled outside the VAE.
"""
from __future__ import annotations

import torch
from torch import nn

from .model import VAE
from .objectives import elbo_loss, iw_bound, sampled_log_terms


class ElboModule(nn.Module):
    def __init__(self, vae: VAE):
        super().__init__()
        self.vae = vae

    def forward(self, batch: dict, kl_weight: float = 1.0, free_bits: float = 0.0,
                iw_samples: int = 1, free_bits_per_example: bool = False) -> dict[str, torch.Tensor]:
        """One-sample negative ELBO, or with iw_samples > 1 the negative importance-weighted bound
        (each sample's log weight log p(x|z) + kl_weight * (log p(z) - log q(z|x)); no free bits).
        Returns the scalar `loss` to minimise (plus the model's training penalty, if it has one:
        VAE.take_penalty), batch means `rec` (of the first sample), `kl` (closed form), `kl_per_dim`
        (D,), and per-example `rec_each`, `kl_each` (B,) for evaluation."""
        posterior = self.vae.encode(batch)
        if iw_samples > 1:
            log_px_z, log_ratio = sampled_log_terms(self.vae, batch, posterior, iw_samples)  # (S, B) each
            loss = -iw_bound(log_px_z + kl_weight * log_ratio).mean()
            log_px_z = log_px_z[0]
        else:
            z = posterior.rsample()                                   # (B, D)
            log_px_z = self.vae.log_likelihood(z.unsqueeze(0), batch).squeeze(0)  # (B,)
        terms = elbo_loss(log_px_z, posterior, kl_weight, free_bits, free_bits_per_example)
        loss = terms.loss if iw_samples == 1 else loss
        penalty = self.vae.take_penalty()  # e.g. activation regularisation, beside the bound
        if penalty is not None:
            loss = loss + penalty
        return {"loss": loss, "rec": terms.rec, "kl": terms.kl,
                "kl_per_dim": terms.kl_per_dim, "rec_each": -log_px_z.detach().float(),
                "kl_each": posterior.kl().detach().float()}
