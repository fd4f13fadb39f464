"""The prior p(z): N(0, I) by default, or a Gaussian mixture fitted to the aggregate posterior.

Training uses N(0, I) (the KL in closed form, free bits per dimension). After training,
`textvae fit-prior` replaces it with a mixture of K full-covariance Gaussians fitted by maximum
likelihood (EM, scikit-learn) to codes z ~ q(z|x) of the training examples: "ex-post density
estimation" (Ghosh et al. 2020; Dai & Wipf 2019 fit a second VAE instead). The aggregate posterior
q(z) = E_x q(z|x) rarely matches N(0, I), least of all under free bits; a prior closer to it makes
p(x) = integral p(x|z) p(z) dz larger (the importance-weighted bound uses log p(z) directly) and puts
prior samples where the decoder was trained. The decoder and encoder are unchanged.

A model with a fitted mixture can then be trained further against it (`train.init_from` that model,
`model.prior_components` its K): the mixture is held fixed (buffers, not parameters: its own
maximum-likelihood step is the next `fit-prior`), the KL is estimated by `monte_carlo_kl`, and the
free-bits floor goes on each example's (or the batch's) total KL (objectives.elbo_loss).
"""

from __future__ import annotations

import torch
from torch import nn

from .distributions import standard_normal_log_prob


class GaussianMixturePrior(nn.Module):
    """p(z) = sum_k softmax(logits)_k N(z; means_k, scale_tril_k scale_tril_k^T).

    Buffers (saved with the model): logits (K,), means (K, D), scale_tril (K, D, D) lower triangular
    with a positive diagonal. Built empty (a valid N(0, I) mixture) from the config's component count,
    then filled by `fit` or by loading the saved weights.
    """

    def __init__(self, components: int, latent_size: int):
        super().__init__()
        if components < 1:
            raise ValueError(f"a mixture prior needs >= 1 component, not {components}")
        self.register_buffer("logits", torch.zeros(components))
        self.register_buffer("means", torch.zeros(components, latent_size))
        self.register_buffer("scale_tril", torch.eye(latent_size).expand(components, -1, -1).clone())

    @property
    def components(self) -> int:
        return self.logits.shape[0]

    def describe(self) -> str:
        return f"Gaussian mixture, {self.components} full-covariance component(s), fitted to the aggregate posterior"

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for z (..., D): (...), in float32 at least whatever z's precision."""
        from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

        z = z.to(torch.promote_types(z.dtype, torch.float32))
        with torch.autocast(z.device.type, enabled=False):  # the triangular solves stay in z's precision
            mix = MixtureSameFamily(
                Categorical(logits=self.logits.to(z.dtype)),
                MultivariateNormal(self.means.to(z.dtype), scale_tril=self.scale_tril.to(z.dtype)),
                validate_args=False,
            )
            return mix.log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, D) on the CPU; reproducible with a generator."""
        weights = torch.softmax(self.logits.detach().float().cpu(), 0)
        which = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], 1, generator=generator)
        return self.means.float().cpu()[which] + (self.scale_tril.float().cpu()[which] @ eps).squeeze(-1)

    @torch.no_grad()
    def fit(self, codes: torch.Tensor, seed: int = 0, max_iter: int = 200, verbose: bool = False) -> dict:
        """Maximum-likelihood fit (EM, scikit-learn's GaussianMixture, k-means start) to codes (N, D).
        Returns the fit's report: average log-density of the codes under N(0, I) and under the fit."""
        from sklearn.mixture import GaussianMixture

        x = codes.detach().double().cpu().numpy()
        if x.shape[0] < 2 * self.components:
            raise ValueError(f"{x.shape[0]} codes are too few for {self.components} components")
        gm = GaussianMixture(
            self.components,
            covariance_type="full",
            max_iter=max_iter,
            reg_covar=1e-6,
            random_state=seed,
            verbose=2 if verbose else 0,
            verbose_interval=10,
        )
        gm.fit(x)
        self.logits.copy_(torch.from_numpy(gm.weights_).log())
        self.means.copy_(torch.from_numpy(gm.means_))
        self.scale_tril.copy_(torch.linalg.cholesky(torch.from_numpy(gm.covariances_)))
        codes64 = codes.double()
        return {
            "components": self.components,
            "codes": int(x.shape[0]),
            "converged": bool(gm.converged_),
            "em_iterations": int(gm.n_iter_),
            "log_p_standard_normal": float(standard_normal_log_prob(codes64).mean()),
            "log_p_fitted": float(self.log_prob(codes64).mean()),
        }


def build_prior(components: int, latent_size: int) -> GaussianMixturePrior | None:
    """The prior a model config asks for: None (N(0, I)) for 0 components."""
    return GaussianMixturePrior(components, latent_size) if components else None


def prior_log_prob(model, z: torch.Tensor) -> torch.Tensor:
    """log p(z) under `model`'s prior (N(0, I) unless a mixture was fitted): (...) for z (..., D)."""
    prior = getattr(model, "prior", None)
    return standard_normal_log_prob(z) if prior is None else prior.log_prob(z)


def sample_prior(model, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n codes (n, D) from `model`'s prior, on the CPU."""
    prior = getattr(model, "prior", None)
    if prior is None:
        return torch.randn(n, model.latent_size, generator=generator)
    return prior.sample(n, generator)


def describe_prior(model) -> str:
    prior = getattr(model, "prior", None)
    return "standard normal N(0, I)" if prior is None else prior.describe()


def monte_carlo_kl(model, posterior, num_samples: int = 64, generator: torch.Generator | None = None) -> torch.Tensor:
    """KL(q(z|x) || p(z)) per example (B,): in closed form under N(0, I), else -H(q(z|x)) (closed form)
    minus the mean of log p(z) over num_samples draws from q(z|x) (from `generator`, if given).
    Differentiable (reparametrized draws): training with a mixture prior uses it as its KL term."""
    if getattr(model, "prior", None) is None:
        return posterior.kl()
    z = posterior.rsample(num_samples, generator)
    return -posterior.entropy() - prior_log_prob(model, z).mean(0)


def fit_mixture_prior(model, codes: torch.Tensor, components: int, seed: int = 0, verbose: bool = False) -> dict:
    """Make a K-component Gaussian mixture fitted (EM) to `codes` (N, D) the prior of `model`, in place
    (its config's prior_components too, so that the saved folder rebuilds it); returns the fit's report."""
    prior = GaussianMixturePrior(components, model.latent_size)
    report = prior.fit(codes, seed=seed, verbose=verbose)
    model.prior = prior
    model.config.prior_components = components
    return report
