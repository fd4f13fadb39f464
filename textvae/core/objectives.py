"""The ELBO, free bits and the importance-weighted bound, assembled outside any model.

A model provides two things (see textvae.core.model.VAE):
    posterior = model.encode(batch)              # DiagonalGaussian over (B, D)
    log_px_z  = model.log_likelihood(z, batch)   # z: (S, B, D) -> log p(x|z): (S, B)
Everything here works from those, so it serves text and image models alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .distributions import DiagonalGaussian
from .priors import prior_log_prob


def _full(x: torch.Tensor) -> torch.Tensor:
    """At least float32 (bf16/fp16 under autocast -> float32; float64 stays)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def free_bits_kl(kl_per_dim: torch.Tensor, free_bits: float, per_example: bool = False) -> torch.Tensor:
    """KL with a floor of `free_bits` nats on each latent dimension (Kingma et al. 2016).

    The floor applies to each dimension's KL averaged over the batch, so a dimension below it gets no
    gradient pushing it further down; with per_example, to each example's KL of each dimension (the
    "fb 2" style of Li et al. 2019's code: a sentence's dimension below the floor is not penalised,
    whatever the rest of the batch does). kl_per_dim: (B, D). Returns the batch-mean KL to optimise.
    """
    if free_bits > 0 and per_example:
        kl_per_dim = torch.clamp(kl_per_dim, min=free_bits)
    per_dim = kl_per_dim.mean(0)
    if free_bits > 0 and not per_example:
        per_dim = torch.clamp(per_dim, min=free_bits)
    return per_dim.sum()


def free_bits_total_kl(kl_each: torch.Tensor, floor: float, per_example: bool = False) -> torch.Tensor:
    """The same floor for a KL that has no per-dimension split (a mixture prior's): on each example's
    total KL (per_example) or on the batch-mean total KL, in nats. kl_each: (B,). Returns the batch-mean
    KL to optimise."""
    if floor > 0 and per_example:
        return torch.clamp(kl_each, min=floor).mean()
    total = kl_each.mean()
    return torch.clamp(total, min=floor) if floor > 0 else total


@dataclass
class ElboTerms:
    loss: torch.Tensor  # scalar to minimise
    rec: torch.Tensor  # mean over the batch of -log p(x|z)
    kl: torch.Tensor  # mean over the batch of KL(q(z|x) || p(z)), no floor
    kl_per_dim: torch.Tensor  # (D,) batch-mean KL of each dimension


def elbo_loss(
    log_px_z: torch.Tensor,
    posterior: DiagonalGaussian,
    kl_weight: float = 1.0,
    free_bits: float = 0.0,
    free_bits_per_example: bool = False,
    kl_each: torch.Tensor | None = None,
) -> ElboTerms:
    """Negative ELBO per example, averaged over the batch: rec + kl_weight * KL (with free bits, on the
    batch-mean KL of each dimension or, with free_bits_per_example, on each example's: free_bits_kl).

    log_px_z: (B,) log-likelihood of each example under one posterior sample.
    kl_each: (B,) each example's KL against a prior other than N(0, I) (a mixture: an estimate, see
    priors.monte_carlo_kl), or None for N(0, I) in closed form. It has no per-dimension split, so the
    floor becomes free_bits * D nats on the total (free_bits_total_kl); kl_per_dim stays against N(0, I).
    """
    kl_dims = _full(posterior.kl_per_dim())
    rec = -_full(log_px_z).mean()
    if kl_each is None:
        kl_opt = free_bits_kl(kl_dims, free_bits, free_bits_per_example)
        kl_each = kl_dims.sum(-1)
    else:
        kl_each = _full(kl_each)
        kl_opt = free_bits_total_kl(kl_each, free_bits * kl_dims.shape[-1], free_bits_per_example)
    loss = rec + kl_weight * kl_opt
    return ElboTerms(loss=loss, rec=rec.detach(), kl=kl_each.mean().detach(), kl_per_dim=kl_dims.mean(0).detach())


def iw_log_weights(
    model, batch, posterior: DiagonalGaussian, num_samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The bound's log weights log p(x|z_k) + log p(z_k) - log q(z_k|x) for num_samples fresh
    z_k ~ q(z|x): (S, B) in at least float32; p(z) is the model's prior (textvae.core.priors)."""
    z = posterior.rsample(num_samples, generator)  # (S, B, D)
    log_px_z = _full(model.log_likelihood(z, batch))  # (S, B)
    return log_px_z + prior_log_prob(model, _full(z)) - _full(posterior.log_prob(z))


@torch.no_grad()
def iw_log_marginal(
    model, batch, num_samples: int = 500, chunk_size: int = 50, posterior: DiagonalGaussian | None = None
) -> torch.Tensor:
    """Importance-weighted bound on log p(x) (Burda et al. 2016), per example: (B,).

    log p(x) >= logsumexp_k [log p(x, z_k) - log q(z_k|x)] - log k, z_k ~ q(z|x).
    Samples are drawn `chunk_size` at a time and folded into a running logsumexp, so memory is that
    of chunk_size samples whatever k is.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, not {num_samples}")
    if posterior is None:
        posterior = model.encode(batch)
    total = None
    done = 0
    while done < num_samples:
        s = min(chunk_size, num_samples - done)
        lse = torch.logsumexp(iw_log_weights(model, batch, posterior, s), dim=0)
        total = lse if total is None else torch.logaddexp(total, lse)
        done += s
    return total - math.log(num_samples)


def refine_posterior(
    model,
    batch,
    posterior: DiagonalGaussian,
    steps: int,
    lr: float = 0.02,
    num_samples: int = 4,
    generator: torch.Generator | None = None,
) -> DiagonalGaussian:
    """Semi-amortized inference (Kim et al. 2018; Marino et al. 2018): starting from the encoder's
    q(z|x), `steps` Adam steps on each example's own mean and log-variance, ascending its
    importance-weighted bound with `num_samples` samples (1: the ELBO). The model is not changed; the
    result is a better proposal for the bound (any q gives a valid bound on log p(x)). Samples come from
    `generator` if given (else torch's global stream).
    """
    if steps < 1:
        return posterior
    mean = _full(posterior.mean.detach()).clone().requires_grad_(True)
    logvar = _full(posterior.logvar.detach()).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([mean, logvar], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            log_w = iw_log_weights(model, batch, DiagonalGaussian(mean, logvar), num_samples, generator)  # (S, B)
            bound = torch.logsumexp(log_w, dim=0).sum()  # each example's bound depends on its own parameters
            grads = torch.autograd.grad(-bound, [mean, logvar])
            for p, g in zip((mean, logvar), grads):
                p.grad = g
            optimizer.step()
    return DiagonalGaussian(mean.detach(), logvar.detach())


def fit_codes(model, batch, z: torch.Tensor, steps: int, lr: float = 0.05) -> torch.Tensor:
    """Codes fitted to their examples: from z (B, D) (the encoder's posterior means), `steps` Adam steps
    on each example's own code ascending log p(x|z), the decoder's likelihood of that very example (the
    amortisation gap closed by optimisation, as semi-amortized inference does for the posterior: Kim et
    al. 2018). The model is not changed. Returns (B, D), detached."""
    if steps < 1:
        return z
    code = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([code], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = -model.log_likelihood(code[None], batch).sum()  # each example's term has its own code
            (grad,) = torch.autograd.grad(loss, [code])
            code.grad = grad
            optimizer.step()
    return code.detach()
