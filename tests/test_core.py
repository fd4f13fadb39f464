"""The core's maths against values worked out by hand or in closed form (float64)."""

import math

import pytest
import torch

from textvae.core import (
    VAE,
    DiagonalGaussian,
    KLScheduleConfig,
    active_units,
    elbo_loss,
    free_bits_kl,
    interpolate,
    iw_log_marginal,
    kl_weight,
    mutual_information,
    slerp,
)
from textvae.core.schedules import cyclical, linear, logistic


# -- KL-weight schedules --------------------------------------------------------------------------
@pytest.mark.parametrize("step,expected", [(0, 0.0), (250, 0.25), (1000, 1.0), (5000, 1.0)])
def test_linear_schedule(step, expected):
    assert linear(step, anneal_steps=1000) == pytest.approx(expected)


@pytest.mark.parametrize(
    "step,expected", [(2500, 0.5), (0, 1 / (1 + math.exp(6.25))), (5000, 1 / (1 + math.exp(-6.25)))]
)
def test_logistic_schedule(step, expected):
    assert logistic(step, k=0.0025, x0=2500) == pytest.approx(expected)


# total 100 steps, 4 cycles of 25, rising over the first half (12.5 steps) of each
@pytest.mark.parametrize("step,expected", [(0, 0.0), (5, 0.4), (12.5, 1.0), (20, 1.0), (25, 0.0), (30, 0.4), (99, 1.0)])
def test_cyclical_schedule(step, expected):
    assert cyclical(step, total_steps=100, cycles=4, ratio=0.5) == pytest.approx(expected)


def test_warmup_holds_zero_then_schedule_starts():
    cfg = KLScheduleConfig(kind="linear", warmup_steps=10, anneal_steps=20, max_weight=0.5)
    assert [kl_weight(cfg, s) for s in (0, 9, 10, 20, 30, 100)] == pytest.approx([0, 0, 0, 0.25, 0.5, 0.5])


def test_cyclical_uses_run_length_when_total_is_zero():
    cfg = KLScheduleConfig(kind="cyclical", cycles=2, ratio=0.5, total_steps=0)
    # run of 40 steps: cycles of 20, rising over 10
    assert [kl_weight(cfg, s, run_steps=40) for s in (0, 5, 10, 19, 20, 25)] == pytest.approx([0, 0.5, 1, 1, 0, 0.5])


@pytest.mark.parametrize("bad", [dict(kind="sigmoid"), dict(max_weight=-1), dict(cycles=0), dict(ratio=0)])
def test_schedule_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        KLScheduleConfig(**bad)


# -- Gaussian posterior, KL, free bits --------------------------------------------------------------
def test_kl_matches_closed_form_by_hand():
    q = DiagonalGaussian(
        torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor([[0.0, math.log(4.0)]], dtype=torch.float64)
    )
    # dim 1: 0.5*(1 + 1 - 1 - 0) = 0.5; dim 2: 0.5*(0 + 4 - 1 - ln 4)
    expected = [0.5, 0.5 * (3 - math.log(4))]
    assert q.kl_per_dim()[0].tolist() == pytest.approx(expected)
    assert q.kl().item() == pytest.approx(sum(expected))


def test_kl_matches_monte_carlo():
    torch.manual_seed(0)
    q = DiagonalGaussian(torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64))
    z = q.rsample(200_000)
    from textvae.core.distributions import standard_normal_log_prob

    mc = (q.log_prob(z) - standard_normal_log_prob(z)).mean(0)
    assert torch.allclose(mc, q.kl(), atol=0.02)


def test_rsample_is_differentiable():
    mean = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.zeros(2, 3, requires_grad=True)
    DiagonalGaussian(mean, logvar).rsample().sum().backward()
    assert mean.grad is not None and logvar.grad is not None


def test_free_bits_floor_per_dimension():
    kl = torch.tensor([[0.1, 2.0, 0.0], [0.3, 1.0, 0.0]])  # batch means: 0.2, 1.5, 0.0
    assert free_bits_kl(kl, 0.5).item() == pytest.approx(0.5 + 1.5 + 0.5)
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(1.7)


def test_free_bits_per_example_floors_each_example_before_the_batch_mean():
    kl = torch.tensor([[0.1, 2.0, 0.0], [0.3, 1.0, 0.0]])
    # each example floored at 0.5 first: dim 0 (0.5 + 0.5) / 2, dim 1 (2 + 1) / 2, dim 2 0.5
    assert free_bits_kl(kl, 0.5, per_example=True).item() == pytest.approx(0.5 + 1.5 + 0.5)
    kl = torch.tensor([[0.1, 0.0], [0.9, 0.0]])  # dim 0: batch mean 0.5 sits on the floor; example 2 does not
    assert free_bits_kl(kl, 0.5).item() == pytest.approx(1.0)
    assert free_bits_kl(kl, 0.5, per_example=True).item() == pytest.approx((0.5 + 0.9) / 2 + 0.5)
    # the gradient: per example, only the example above the floor is pushed down
    mean = torch.tensor([[0.5, 0.0], [2.0, 0.0]], requires_grad=True)  # KL 0.125 and 2.0 in dim 0
    terms = elbo_loss(
        torch.zeros(2), DiagonalGaussian(mean, torch.zeros(2, 2)), free_bits=1.0, free_bits_per_example=True
    )
    terms.loss.backward()
    assert mean.grad[0].abs().sum() == 0 and mean.grad[1, 0] > 0
    assert terms.kl.item() == pytest.approx((0.125 + 2.0) / 2)  # the reported KL has no floor


def test_free_bits_stops_gradient_below_floor():
    logvar = torch.zeros(4, 2)
    mean = torch.tensor([[0.1, 3.0]] * 4, requires_grad=True)
    q = DiagonalGaussian(mean, logvar)
    terms = elbo_loss(torch.zeros(4), q, kl_weight=1.0, free_bits=1.0)
    terms.loss.backward()
    assert mean.grad[:, 0].abs().sum() == 0 and mean.grad[:, 1].abs().sum() > 0
    assert terms.kl.item() == pytest.approx(0.5 * (0.01 + 9.0))


# -- importance-weighted bound on a model with a closed-form marginal ------------------------------
class LinearGaussianVAE(VAE):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I): log p(x) = log N(x; b, W W^T + s^2 I) exactly.
    The encoder is the exact posterior deliberately distorted, so the bound is strict for small k."""

    def __init__(self, W, b, s, distort=True):
        super().__init__(config=None)
        self.W, self.b, self.s, self.distort = W, b, s, distort

    @property
    def latent_size(self):
        return self.W.shape[1]

    def encode(self, batch):
        x = batch["x"]
        d = self.W.shape[1]
        prec = torch.eye(d, dtype=x.dtype) + self.W.T @ self.W / self.s**2
        cov = torch.linalg.inv(prec)
        mean = (x - self.b) @ self.W @ cov.T / self.s**2
        logvar = torch.log(torch.diagonal(cov)).expand_as(mean)
        if self.distort:
            mean, logvar = 0.8 * mean, logvar + 0.5
        return DiagonalGaussian(mean, logvar)

    def log_likelihood(self, z, batch):
        x = batch["x"]  # (B, X)
        mu = z @ self.W.T + self.b  # (S, B, X)
        return (-0.5 * (math.log(2 * math.pi * self.s**2) + (x - mu) ** 2 / self.s**2)).sum(-1)


def _linear_gaussian(seed=0, d=3, xdim=5, n=8):
    g = torch.Generator().manual_seed(seed)
    # orthogonal columns: W^T W is diagonal, so the exact posterior is a diagonal Gaussian
    q, _ = torch.linalg.qr(torch.randn(xdim, d, generator=g, dtype=torch.float64))
    W = q * torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)[:d]
    b = torch.randn(xdim, generator=g, dtype=torch.float64)
    s = 0.7
    x = (
        torch.randn(n, d, generator=g, dtype=torch.float64) @ W.T
        + b
        + s * torch.randn(n, xdim, generator=g, dtype=torch.float64)
    )
    cov = W @ W.T + s**2 * torch.eye(xdim, dtype=torch.float64)
    exact = torch.distributions.MultivariateNormal(b, covariance_matrix=cov).log_prob(x)
    return W, b, s, x, exact


def test_iw_bound_approaches_exact_log_marginal():
    W, b, s, x, exact = _linear_gaussian()
    model = LinearGaussianVAE(W, b, s)
    torch.manual_seed(0)
    gaps = []
    for k in (1, 10, 100, 1000):
        est = torch.stack([iw_log_marginal(model, {"x": x}, k, chunk_size=64) for _ in range(20)]).mean(0)
        gaps.append((exact - est).mean().item())
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3] >= -0.01, gaps
    assert gaps[3] < 0.05 * gaps[0]


def test_iw_bound_is_exact_with_the_true_posterior():
    W, b, s, x, exact = _linear_gaussian(seed=1)
    model = LinearGaussianVAE(W, b, s, distort=False)
    est = iw_log_marginal(model, {"x": x}, 7, chunk_size=3)
    assert torch.allclose(est, exact, atol=1e-8)


def test_iw_chunking_equals_one_pass():
    W, b, s, x, _ = _linear_gaussian(seed=2)
    model = LinearGaussianVAE(W, b, s)
    torch.manual_seed(3)
    one = iw_log_marginal(model, {"x": x}, 60, chunk_size=60)
    torch.manual_seed(3)
    chunked = iw_log_marginal(model, {"x": x}, 60, chunk_size=60)
    assert torch.allclose(one, chunked)
    torch.manual_seed(3)
    z_all = model.encode({"x": x}).rsample(60)
    # same samples folded 7 at a time must give the same logsumexp
    q = model.encode({"x": x})
    from textvae.core.distributions import standard_normal_log_prob

    w = model.log_likelihood(z_all, {"x": x}) + standard_normal_log_prob(z_all) - q.log_prob(z_all)
    assert torch.allclose(torch.logsumexp(w, 0) - math.log(60), one)


def test_refining_the_posterior_closes_the_gap_of_a_distorted_encoder():
    """The exact posterior of this model is a diagonal Gaussian: gradient steps on each example's mean
    and log-variance, from the distorted encoder's, must bring the bound with few samples to the exact
    log p(x)."""
    from textvae.core.objectives import refine_posterior

    W, b, s, x, exact = _linear_gaussian(seed=7)
    model = LinearGaussianVAE(W, b, s)
    batch = {"x": x}
    q = model.encode(batch)
    torch.manual_seed(0)
    refined = refine_posterior(model, batch, q, steps=300, lr=0.02, num_samples=4)
    truth = LinearGaussianVAE(W, b, s, distort=False).encode(batch)
    start = (q.mean - truth.mean).abs().mean()
    assert (refined.mean - truth.mean).abs().mean() < 0.6 * start  # the bound is flat near its optimum
    torch.manual_seed(1)
    before = (exact - iw_log_marginal(model, batch, 10, posterior=q)).mean()
    after = (exact - iw_log_marginal(model, batch, 10, posterior=refined)).mean()
    assert before > 0.1 and after.abs() < 0.1 * before, (before, after)
    assert refine_posterior(model, batch, q, steps=0) is q


def test_a_widened_proposal_repairs_an_under_dispersed_posterior():
    """With the exact posterior's means but standard deviations 0.6 times too small, the bound with few
    samples is loose; widening the proposal by 1/0.6 gives back the exact posterior, with which every
    importance weight is p(x) itself. Too wide (2x) is a valid bound again: never above log p(x)."""
    W, b, s, x, exact = _linear_gaussian(seed=3)
    truth = LinearGaussianVAE(W, b, s, distort=False)
    q = truth.encode({"x": x})
    narrow = q.widened(0.6)
    assert torch.allclose(narrow.std, 0.6 * q.std) and q.widened(1.0) is q
    torch.manual_seed(0)
    gap = (exact - iw_log_marginal(truth, {"x": x}, 10, posterior=narrow)).mean()
    repaired = iw_log_marginal(truth, {"x": x}, 10, posterior=narrow.widened(1 / 0.6))
    assert gap > 0.05 and torch.allclose(repaired, exact, atol=1e-9), gap
    wide = torch.stack([iw_log_marginal(truth, {"x": x}, 10, posterior=q.widened(2.0)) for _ in range(20)]).mean(0)
    assert 0 < (exact - wide).mean() < 1.0


# -- the fitted mixture prior ---------------------------------------------------------------------
def _mixture(d=3, seed=0):
    from textvae.core.priors import GaussianMixturePrior

    g = torch.Generator().manual_seed(seed)
    prior = GaussianMixturePrior(2, d).double()
    prior.logits.copy_(torch.tensor([0.3, 0.7], dtype=torch.float64).log())
    prior.means.copy_(torch.randn(2, d, generator=g, dtype=torch.float64))
    tril = torch.tril(0.3 * torch.randn(2, d, d, generator=g, dtype=torch.float64), -1)
    prior.scale_tril.copy_(
        tril + torch.diag_embed(torch.tensor([[1.2, 0.5, 0.8], [0.6, 1.1, 0.9]], dtype=torch.float64)[:, :d])
    )
    return prior


def test_mixture_log_prob_by_hand():
    prior = _mixture()
    z = torch.randn(4, 5, 3, dtype=torch.float64)
    by_hand = []
    for k in range(2):
        cov = prior.scale_tril[k] @ prior.scale_tril[k].T
        diff = z - prior.means[k]
        maha = (diff @ torch.linalg.inv(cov) * diff).sum(-1)
        by_hand.append(math.log([0.3, 0.7][k]) - 0.5 * (3 * math.log(2 * math.pi) + torch.logdet(cov) + maha))
    assert torch.allclose(prior.log_prob(z), torch.logaddexp(*by_hand), atol=1e-10)


def test_mixture_samples_have_the_mixture_moments_and_are_seeded():
    prior = _mixture()
    z = prior.sample(200_000, torch.Generator().manual_seed(0)).double()
    w = torch.tensor([0.3, 0.7], dtype=torch.float64)
    mean = w @ prior.means
    covs = prior.scale_tril @ prior.scale_tril.transpose(1, 2)
    second = (w[:, None, None] * (covs + prior.means[:, :, None] * prior.means[:, None, :])).sum(0)
    assert torch.allclose(z.mean(0), mean, atol=0.02)
    assert torch.allclose(torch.cov(z.T), second - torch.outer(mean, mean), atol=0.03)
    assert torch.equal(
        prior.sample(5, torch.Generator().manual_seed(1)), prior.sample(5, torch.Generator().manual_seed(1))
    )


def test_iw_bound_uses_the_models_prior():
    """With a mixture prior, x's marginal is a mixture of Gaussians in closed form; the bound must approach
    it, not the marginal under N(0, I)."""
    W, b, s, x, _ = _linear_gaussian(seed=4)
    model = LinearGaussianVAE(W, b, s)  # the (distorted) N(0, I) posterior: now only a proposal
    model.prior = _mixture(seed=5)
    comps = []
    for k in range(2):
        cov_z = model.prior.scale_tril[k] @ model.prior.scale_tril[k].T
        cov = W @ cov_z @ W.T + s**2 * torch.eye(W.shape[0], dtype=torch.float64)
        comps.append(
            model.prior.logits[k]
            + torch.distributions.MultivariateNormal(W @ model.prior.means[k] + b, covariance_matrix=cov).log_prob(x)
        )
    exact = torch.logaddexp(*comps)
    torch.manual_seed(0)
    est = torch.stack([iw_log_marginal(model, {"x": x}, 2000, chunk_size=500) for _ in range(5)]).mean(0)
    assert (exact - est).abs().max() < 0.06 and (exact - est).mean().abs() < 0.02, exact - est
    model.prior = None  # N(0, I): a different marginal, far from this one
    assert (exact - iw_log_marginal(model, {"x": x}, 2000, chunk_size=500)).abs().mean() > 0.2


def test_monte_carlo_kl_against_a_one_component_mixture_matches_the_closed_form():
    """KL(N(m, diag v) || N(mu, L L^T)) has a closed form; the estimator (closed-form entropy, MC cross-
    entropy) must approach it, and gradients must flow to the posterior's parameters."""
    from textvae.core.priors import GaussianMixturePrior, monte_carlo_kl

    g = torch.Generator().manual_seed(0)
    model = VAE(config=None)
    model.prior = GaussianMixturePrior(1, 3).double()
    model.prior.means.copy_(torch.tensor([[0.5, -1.0, 0.2]]))
    model.prior.scale_tril.copy_(torch.tensor([[[1.2, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.2, 0.1, 0.6]]]))
    mean = torch.randn(4, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    logvar = (0.3 * torch.randn(4, 3, generator=g, dtype=torch.float64) - 1).requires_grad_(True)
    q = DiagonalGaussian(mean, logvar)
    p = torch.distributions.MultivariateNormal(model.prior.means[0], scale_tril=model.prior.scale_tril[0])
    exact = torch.stack(
        [
            torch.distributions.kl_divergence(
                torch.distributions.MultivariateNormal(mean[i], covariance_matrix=torch.diag(logvar[i].exp())), p
            )
            for i in range(4)
        ]
    )
    est = monte_carlo_kl(model, q, 200_000, g)
    assert torch.allclose(est, exact, atol=0.02), (est, exact)
    est[0].backward()
    assert mean.grad[0].abs().sum() > 0 and logvar.grad[0].abs().sum() > 0 and mean.grad[1:].abs().sum() == 0
    model.prior = None  # N(0, I): the closed form itself
    assert torch.equal(monte_carlo_kl(model, q), q.kl())


def test_free_bits_on_a_total_kl_floors_each_example_or_the_batch_mean():
    """A mixture prior's KL has no per-dimension split: free_bits * D goes on each example's total KL
    (per example) or on the batch's mean (per batch), and an example below its floor gets no gradient."""
    from textvae.core.objectives import free_bits_total_kl

    kl = torch.tensor([1.0, 5.0])
    assert free_bits_total_kl(kl, 2.0, per_example=True).item() == pytest.approx((2.0 + 5.0) / 2)
    assert free_bits_total_kl(kl, 2.0).item() == pytest.approx(3.0)
    assert free_bits_total_kl(kl, 4.0).item() == pytest.approx(4.0)
    assert free_bits_total_kl(kl, 0.0, per_example=True).item() == pytest.approx(3.0)
    mean = torch.zeros(2, 4, requires_grad=True)
    kl_each = torch.tensor([1.0, 5.0]) + mean.sum(-1)  # stands in for an estimate that depends on q
    terms = elbo_loss(
        torch.zeros(2),
        DiagonalGaussian(mean, torch.zeros(2, 4)),
        free_bits=0.5,
        free_bits_per_example=True,
        kl_each=kl_each,
    )  # floor 0.5 * 4 = 2 nats per example
    terms.loss.backward()
    assert terms.loss.item() == pytest.approx(3.5) and terms.kl.item() == pytest.approx(3.0)
    assert mean.grad[0].abs().sum() == 0 and (mean.grad[1] == 0.5).all()


def test_mixture_fit_recovers_a_known_mixture():
    from textvae.core.priors import GaussianMixturePrior

    truth = _mixture(seed=6)
    truth.means.mul_(4)  # well separated
    codes = truth.sample(20_000, torch.Generator().manual_seed(0))
    fitted = GaussianMixturePrior(2, 3)
    report = fitted.fit(codes)
    order = torch.argsort(fitted.logits)
    assert torch.allclose(
        torch.softmax(fitted.logits, 0)[order].double(), torch.tensor([0.3, 0.7], dtype=torch.float64), atol=0.02
    )
    assert torch.allclose(fitted.means[order].double(), truth.means, atol=0.08)
    assert report["converged"] and report["log_p_fitted"] > report["log_p_standard_normal"]


# -- interpolation --------------------------------------------------------------------------------
def test_slerp_endpoints_and_norm():
    a = torch.tensor([3.0, 0.0, 0.0], dtype=torch.float64)
    b = torch.tensor([0.0, 3.0, 0.0], dtype=torch.float64)
    path = slerp(a, b, torch.linspace(0, 1, 9, dtype=torch.float64))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b)
    assert torch.allclose(path.norm(dim=1), torch.full((9,), 3.0, dtype=torch.float64))
    mid = path[4]  # halfway along the quarter circle: 45 degrees
    assert torch.allclose(mid, torch.tensor([3 / math.sqrt(2), 3 / math.sqrt(2), 0.0], dtype=torch.float64))
    angles = torch.atan2(path[:, 1], path[:, 0])
    assert torch.allclose(angles.diff(), torch.full((8,), math.pi / 16, dtype=torch.float64))  # constant speed


def test_slerp_parallel_falls_back_to_lerp():
    a = torch.tensor([1.0, 1.0])
    path = slerp(a, 2 * a, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path, torch.tensor([[1.0, 1.0], [1.5, 1.5], [2.0, 2.0]]))


def test_interpolate_counts_and_linear():
    a, b = torch.zeros(4), torch.ones(4)
    path = interpolate(a, b, steps=3, method="linear")
    assert path.shape == (5, 4)
    assert torch.allclose(path[:, 0], torch.tensor([0, 0.25, 0.5, 0.75, 1.0]))
    with pytest.raises(ValueError):
        interpolate(a, b, steps=3, method="cubic")


# -- active units and mutual information on hand-built posteriors ----------------------------------
def test_active_units_threshold():
    means = torch.tensor([[0.0, 0.0, 1.0], [0.2, 0.0, -1.0], [0.4, 0.05, 0.0], [0.6, 0.0, 0.0]])
    # variances (N-1): dim0 = 0.0667, dim1 = 0.000625, dim2 = 0.6667
    n, var = active_units(means)
    assert n == 2
    assert var.tolist() == pytest.approx([0.2 / 3, 0.000625, 2 / 3], rel=1e-4)


# The estimator is a one-sample Monte Carlo average over examples: its noise shrinks as 1/sqrt(N).
def test_mutual_information_zero_when_posteriors_equal_prior():
    n = 4000
    mi = mutual_information(torch.zeros(n, 4), torch.zeros(n, 4), generator=torch.Generator().manual_seed(0))
    assert abs(mi) < 0.05


def test_mutual_information_of_separated_clusters_is_log_n_clusters():
    # two posteriors far apart and sharp: z identifies which of 2 equally likely groups x came from
    n = 4000
    means = torch.cat([torch.full((n // 2, 1), -10.0), torch.full((n // 2, 1), 10.0)])
    logvars = torch.full((n, 1), math.log(0.01))
    mi = mutual_information(means, logvars, generator=torch.Generator().manual_seed(0))
    assert mi == pytest.approx(math.log(2), abs=0.05)


def test_mutual_information_bounded_by_log_n():
    g = torch.Generator().manual_seed(0)
    means, logvars = 50 * torch.randn(2000, 3, generator=g), torch.full((2000, 3), -6.0)
    mi = mutual_information(means, logvars, generator=g)
    assert mi == pytest.approx(math.log(2000), abs=0.1)
