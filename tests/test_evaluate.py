"""Importance-sampled log p(x) against the exact marginal of probabilistic PCA, and the
properties an honest estimator must have."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from ppvae.errors import UserInputError
from ppvae.inference import active_units, evaluate, mean_and_se, pointwise
from ppvae.inference.elbo import AnalyticKL_ELBO
from tests.linear_gaussian import make_ppca


@pytest.fixture
def ppca_data():
    _, marginal = make_ppca()
    torch.manual_seed(1)
    return marginal.sample((200,))


def test_exact_posterior_gives_exact_log_likelihood_with_one_sample(ppca_data):
    vae, marginal = make_ppca()
    points = pointwise(vae, ppca_data, num_samples=1)
    exact = marginal.log_prob(ppca_data)
    # With q = p(z|x) every importance weight equals p(x): no Monte-Carlo error at all.
    torch.testing.assert_close(points.log_likelihood, exact.double(), atol=1e-4, rtol=0)


def test_exact_posterior_closes_the_elbo_gap(ppca_data):
    vae, marginal = make_ppca()
    points = pointwise(vae, ppca_data, num_samples=4000)
    gap = marginal.log_prob(ppca_data).double() - points.elbo
    # KL(q || p(z|x)) = 0; what remains is the Monte-Carlo error of E_q log p(x|z) with
    # 4000 samples (per-point s.e. about 0.03 nats here).
    assert abs(gap.mean().item()) < 0.02
    assert gap.abs().max().item() < 0.2


def test_mismatched_guide_converges_to_exact_marginal(ppca_data):
    # An over-dispersed, shifted guide: the ELBO is 1.6 nats loose, the K=5000 estimate is not.
    vae, marginal = make_ppca(scale_factor=1.6, shift=0.3)
    exact = marginal.log_prob(ppca_data).double()
    points = pointwise(vae, ppca_data, num_samples=5000, seed=3)
    error = points.log_likelihood - exact
    assert (exact - points.elbo).mean().item() > 1.0  # the guide really is wrong
    # Measured: mean error -0.003, largest per-point error 0.05 nats (heavy-tailed weights
    # on a few points).  A bias of even a tenth of the ELBO gap would fail these.
    assert abs(error.mean().item()) < 0.02
    assert error.abs().max().item() < 0.2


def test_elbo_below_estimate_and_estimate_grows_with_k(ppca_data):
    vae, marginal = make_ppca(scale_factor=1.6, shift=0.3)
    exact = marginal.log_prob(ppca_data).double().mean().item()

    def average(k: int) -> float:  # over 5 seeds, so the growth is not Monte-Carlo luck
        runs = [
            pointwise(vae, ppca_data, num_samples=k, seed=s).log_likelihood.mean() for s in range(5)
        ]
        return torch.stack(runs).mean().item()

    estimates = [average(k) for k in (1, 3, 10, 30)]
    elbo = pointwise(vae, ppca_data, num_samples=200).elbo.mean().item()
    # Bias shrinks like 1/K: -1.8, -0.6, -0.1, -0.04 nats here; seed noise is about 0.02.
    assert estimates == sorted(estimates)
    assert elbo < estimates[1]
    assert abs(estimates[0] - elbo) < 0.1  # K=1 is an unbiased ELBO estimate
    assert estimates[-1] < exact + 0.02  # a stochastic lower bound


def test_analytic_and_monte_carlo_elbo_agree(ppca_data):
    vae, _ = make_ppca(scale_factor=1.3, shift=0.2)
    x = ppca_data

    def repeated(elbo) -> tuple[float, float]:
        with vae.param_store_off(), torch.no_grad(), pyro.validation_enabled(False):
            values = [-elbo.loss(vae.model, vae.guide, x) / len(x) for _ in range(20)]
        return mean_and_se(torch.tensor(values))

    kw = {"num_particles": 50, "vectorize_particles": True}
    analytic, se_a = repeated(TraceMeanField_ELBO(**kw))
    lean, se_lean = repeated(AnalyticKL_ELBO(**kw))
    mc, se_mc = repeated(Trace_ELBO(**kw))
    assert abs(lean - mc) < 4 * math.hypot(se_lean, se_mc)
    ours = [pointwise(vae, x, num_samples=1000, seed=s).elbo.mean() for s in range(5)]
    ours, se_ours = mean_and_se(torch.stack(ours))
    assert abs(analytic - mc) < 4 * math.hypot(se_a, se_mc)
    assert abs(ours - mc) < 4 * math.hypot(se_ours, se_mc)


class ScaledVAE(torch.nn.Module):
    """A beta-scaled training objective around the same model: evaluation must ignore beta."""

    def __init__(self, vae, beta):
        super().__init__()
        self.inner, self.beta = vae, beta

    def model(self, x, y=None):
        with pyro.poutine.scale(scale=self.beta):
            self.inner.model(x, y)

    def guide(self, x, y=None):
        with pyro.poutine.scale(scale=self.beta):
            self.inner.guide(x, y)


def test_evaluation_scores_the_unscaled_model(ppca_data):
    vae, _ = make_ppca(scale_factor=1.3, shift=0.2)
    plain = pointwise(vae, ppca_data, num_samples=50, seed=4)
    scaled = pointwise(ScaledVAE(vae, 4.0), ppca_data, num_samples=50, seed=4)
    torch.testing.assert_close(plain.log_likelihood, scaled.log_likelihood)
    torch.testing.assert_close(plain.elbo, scaled.elbo)


def test_bits_per_dim_is_exactly_one_for_a_coin_flip_model():
    # Decoder logits 0 (p = 1/2 per pixel) and q(z|x) = p(z): every importance weight is
    # 2^-D, so log p(x) = -D ln 2 and bits/dim = 1 exactly, for any binary image.
    from ppvae.models import ModelConfig, build_vae

    vae = build_vae(ModelConfig(x_shape=(1, 8, 8), latent_dim=3, hidden=(8,)))
    for layer in (vae.decoder.head, vae.encoder.head):
        layer.weight.data.zero_()
        layer.bias.data.zero_()
    std = torch.tensor(1.0 - vae.encoder.min_scale)
    vae.encoder.head.bias.data[3:] = std + torch.log(-torch.expm1(-std))  # softplus^-1
    x = torch.bernoulli(torch.full((20, 1, 8, 8), 0.3))
    m = evaluate(vae, x, num_samples=7)
    assert m.bits_per_dim == pytest.approx(1.0, abs=1e-5)
    assert m.log_likelihood_se == pytest.approx(0.0, abs=1e-4)


def test_evaluation_refuses_data_outside_the_support(small_vae, digits):
    with pytest.raises(UserInputError, match="0/1"):
        evaluate(small_vae, digits.x_test[:5] * 0.5, num_samples=5)


def test_evaluation_changes_no_parameter_and_leaves_param_store_empty(small_vae, digits):
    before = {k: v.clone() for k, v in small_vae.state_dict().items()}
    rng = torch.get_rng_state()
    evaluate(small_vae, digits.x_test[:50], num_samples=20)
    after = small_vae.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(rng, torch.get_rng_state())  # the caller's random stream is untouched
    assert len(pyro.get_param_store()) == 0


def test_evaluation_is_reproducible(small_vae, digits):
    x = digits.x_test[:30]
    a = pointwise(small_vae, x, num_samples=64, seed=5, batch_size=30)
    b = pointwise(small_vae, x, num_samples=64, seed=5, batch_size=30)
    c = pointwise(small_vae, x, num_samples=64, seed=6, batch_size=30)
    torch.testing.assert_close(a.log_likelihood, b.log_likelihood, rtol=0, atol=0)
    assert not torch.equal(a.log_likelihood, c.log_likelihood)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_chunks_combine_exactly(ppca_data, chunk):
    # With the exact posterior every importance weight equals p(x), so any split of the K
    # samples into chunks must give log p(x) exactly: a wrong log K, a lost or a doubled
    # chunk would all show.
    vae, marginal = make_ppca()
    per_chunk = 100 * 5 * chunk  # max_elements // (batch_size * x_numel) = chunk
    points = pointwise(vae, ppca_data, num_samples=64, max_elements=per_chunk)
    exact = marginal.log_prob(ppca_data).double()
    torch.testing.assert_close(points.log_likelihood, exact, atol=1e-4, rtol=0)


def test_metrics_summary(small_vae, digits):
    m = evaluate(small_vae, digits.x_test[:40], num_samples=30)
    assert m.num_points == 40 and m.num_samples == 30
    assert m.elbo == pytest.approx(-(m.kl + m.reconstruction))
    assert m.bits_per_dim == pytest.approx(-m.log_likelihood / (64 * math.log(2)))
    assert 0 <= m.active_units <= 4
    assert m.log_likelihood_se > 0


def test_active_units_counts_varying_dimensions():
    torch.manual_seed(0)
    means = torch.cat([torch.randn(1000, 3), 0.05 * torch.randn(1000, 2)], dim=1)
    assert active_units(means) == 3


def test_mean_and_se_matches_formula():
    values = torch.tensor([1.0, 3.0, 5.0])
    assert mean_and_se(values) == pytest.approx((3.0, 2.0 / math.sqrt(3)))


def test_bad_arguments_are_refused(small_vae, digits):
    with pytest.raises(UserInputError):
        pointwise(small_vae, digits.x_test[:5], num_samples=0)
    with pytest.raises(UserInputError):
        pointwise(small_vae, digits.x_test[:0], num_samples=5)


class _LaplaceMixture(torch.nn.Module):
    """A MixtureSameFamily prior: its log-density broadcasts every z against every component."""

    def __init__(self, latent_dim: int, components: int) -> None:
        super().__init__()
        self.locs = torch.nn.Parameter(torch.randn(components, latent_dim))

    def forward(self, context=None):
        import pyro.distributions as dist

        laplaces = dist.Laplace(self.locs, 1.0).to_event(1)
        return dist.MixtureSameFamily(
            dist.Categorical(logits=torch.zeros(len(self.locs))), laplaces
        )


def test_a_mixture_priors_components_bound_the_chunk(digits):
    """A MixtureSameFamily prior scores every sample against every component: the chunk
    shrinks by its components × latent size (a DiagonalGaussianMixture's by its components
    alone), and the estimate from one chunk and from many agree within Monte-Carlo error."""
    from ppvae.inference.evaluate import _plan, elements_per_sample, importance_draws
    from ppvae.models import VAE, ModelConfig, build_vae

    torch.manual_seed(0)
    base = build_vae(ModelConfig(x_shape=(1, 8, 8), latent_dim=6, hidden=(16,)))
    laplace = VAE(base.encoder, base.decoder, base.likelihood, _LaplaceMixture(6, 40))
    x = digits.x_test[:6]
    assert elements_per_sample(laplace.model, laplace.guide, x) == 40 * 6
    vamp = build_vae(
        ModelConfig(
            x_shape=(1, 8, 8),
            latent_dim=6,
            hidden=(16,),
            prior="vamp",
            prior_args={"components": "100"},
        )
    )
    assert elements_per_sample(vamp.model, vamp.guide, x) == 100
    with pyro.validation_enabled(False):  # pointwise's chunk: the components, not the pixels
        assert _plan(laplace, x, None, 60, 6, 6 * 240 * 7, seed=0) == (True, 1, 7)
    one, _ = importance_draws(laplace, x, num_samples=60, batch_size=6, max_elements=2**20)
    many, _ = importance_draws(laplace, x, num_samples=60, batch_size=6, max_elements=6 * 240 * 7)
    assert one.shape == many.shape == (6, 60)
    # chunks of 7 draw the guide's noise in another order: equal in distribution only
    mean_one = torch.logsumexp(one, 1) - math.log(60)
    mean_many = torch.logsumexp(many, 1) - math.log(60)
    assert (mean_one - mean_many).abs().max() < 1.0
