"""The generic VAE core: knows nothing of text or images."""

from .distributions import DiagonalGaussian, standard_normal_log_prob
from .interpolation import interpolate, lerp, slerp
from .metrics import active_units, kl_per_dimension, mutual_information
from .model import VAE, VAEOutput
from .objectives import ElboTerms, elbo_loss, free_bits_kl, iw_log_marginal
from .priors import GaussianMixturePrior, prior_log_prob
from .schedules import KLScheduleConfig, kl_weight

__all__ = [
    "DiagonalGaussian",
    "standard_normal_log_prob",
    "interpolate",
    "lerp",
    "slerp",
    "active_units",
    "kl_per_dimension",
    "mutual_information",
    "VAE",
    "VAEOutput",
    "ElboTerms",
    "elbo_loss",
    "free_bits_kl",
    "iw_log_marginal",
    "KLScheduleConfig",
    "kl_weight",
    "GaussianMixturePrior",
    "prior_log_prob",
]
