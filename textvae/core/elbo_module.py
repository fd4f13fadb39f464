"""A module that computes the training objective of any VAE in its forward().

Accelerate (DDP, autocast) hooks into forward(); the VAE contract has encode/likelihood instead,
so the trainer prepares this wrapper. The loss is still assembled outside the VAE.
"""

from __future__ import annotations

import torch
from torch import nn

from .attributes import Adversaries, attribute_loss
from .distributions import DiagonalGaussian
from .model import VAE
from .objectives import _full, elbo_loss
from .priors import monte_carlo_kl

# draws of q(z|x) for the KL against a mixture prior in training (beside the one that feeds the decoder)
MIXTURE_KL_SAMPLES = 16


class ElboModule(nn.Module):
    def __init__(self, vae: VAE, adversaries: Adversaries | None = None):
        super().__init__()
        self.vae = vae
        self.adversaries = adversaries  # attributes removed from the other dimensions (core.attributes)

    def forward(
        self, batch: dict, kl_weight: float = 1.0, free_bits: float = 0.0, free_bits_per_example: bool = False
    ) -> dict[str, torch.Tensor]:
        """One-sample negative ELBO. Returns the scalar `loss` to minimise (plus the model's training
        penalty, if it has one: VAEOutput.penalty), batch means `rec`, `kl` (closed form), `kl_per_dim`
        (D,), and per-example `rec_each`, `kl_each` (B,) for evaluation. A batch with `attributes` (B, A)
        for a model with regularised dimensions (vae.attributes) adds their pairwise loss
        (core.attributes.attribute_loss) to `loss`, never to rec/kl. Under a mixture prior (a model
        trained further after `fit-prior`) the KL is estimated (priors.monte_carlo_kl) and the floor is
        free_bits * D on the total (objectives.elbo_loss)."""
        if self.training:
            batch = self.vae.augment(batch)
        posterior = self.vae.encode(batch)
        z = posterior.rsample()  # (B, D)
        out = self.vae.likelihood(z.unsqueeze(0), batch)
        log_px_z = out.log_px_z.squeeze(0)  # (B,)
        kl_each = None
        if self.vae.prior is not None:
            full = DiagonalGaussian(_full(posterior.mean), _full(posterior.logvar))
            kl_each = monte_carlo_kl(self.vae, full, MIXTURE_KL_SAMPLES)
        terms = elbo_loss(log_px_z, posterior, kl_weight, free_bits, free_bits_per_example, kl_each)
        loss = terms.loss
        if out.penalty is not None:  # e.g. activation regularisation, beside the bound
            loss = loss + out.penalty
        if self.vae.attributes and "attributes" in batch:  # regularised dimensions, training loss only
            loss = loss + attribute_loss(z, batch["attributes"], self.vae.attributes)
            if self.adversaries is not None:
                loss = loss + self.adversaries(z, batch["attributes"])
        return {
            "loss": loss,
            "rec": terms.rec,
            "kl": terms.kl,
            "kl_per_dim": terms.kl_per_dim,
            "rec_each": -log_px_z.detach().float(),
            "kl_each": (posterior.kl() if kl_each is None else kl_each).detach().float(),
        }
