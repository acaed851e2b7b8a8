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
        with vae.param_store_off(), torch.no_grad():
            values = [-elbo.loss(vae.model, vae.guide, x) / len(x) for _ in range(20)]
        return mean_and_se(torch.tensor(values))

    kw = {"num_particles": 50, "vectorize_particles": True}
    analytic, se_a = repeated(TraceMeanField_ELBO(**kw))
    mc, se_mc = repeated(Trace_ELBO(**kw))
    ours = [pointwise(vae, x, num_samples=1000, seed=s).elbo.mean() for s in range(5)]
    ours, se_ours = mean_and_se(torch.stack(ours))
    assert abs(analytic - mc) < 4 * math.hypot(se_a, se_mc)
    assert abs(ours - mc) < 4 * math.hypot(se_ours, se_mc)


def test_evaluation_changes_no_parameter_and_leaves_param_store_empty(small_vae, digits):
    before = {k: v.clone() for k, v in small_vae.state_dict().items()}
    rng = torch.get_rng_state()
    evaluate(small_vae, digits.x_test[:50], num_samples=20)
    after = small_vae.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(rng, torch.get_rng_state())  # the caller's random stream is untouched
    assert len(pyro.get_param_store()) == 0


def test_evaluation_is_reproducible_and_chunking_does_not_matter(small_vae, digits):
    x = digits.x_test[:30]
    a = pointwise(small_vae, x, num_samples=64, seed=5, batch_size=30)
    b = pointwise(small_vae, x, num_samples=64, seed=5, batch_size=30)
    c = pointwise(small_vae, x, num_samples=64, seed=5, batch_size=30, max_elements=30 * 64 * 7)
    torch.testing.assert_close(a.log_likelihood, b.log_likelihood, rtol=0, atol=0)
    # Smaller chunks draw the same number of samples in another order: same estimate up to MC error.
    assert (a.log_likelihood - c.log_likelihood).abs().max() < 1.0
    torch.testing.assert_close(a.kl, c.kl)  # analytic KL is sample-free


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
