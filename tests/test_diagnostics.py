"""Importance weights, Pareto k̂ and paired standard errors on cases whose answers are
known: probabilistic PCA with an exact, a too-wide and a too-narrow guide."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ppvae.errors import UserInputError
from ppvae.inference.diagnostics import pareto_khat, unreliable_share
from ppvae.inference.evaluate import importance_draws, importance_log_weights
from ppvae.inference.paired import across_seeds, paired_difference
from ppvae.models import build_vae, family_config
from tests.linear_gaussian import make_ppca


def _weights(scale_factor: float, n: int = 40, k: int = 2000):
    vae, marginal = make_ppca(scale_factor=scale_factor)
    x = marginal.sample((n,))
    return vae, marginal, x, importance_log_weights(vae, x, num_samples=k, seed=1)


def test_the_exact_posterior_gives_equal_weights_and_a_small_khat():
    _, marginal, x, lw = _weights(1.0)
    # every weight is p(x): log w = log p(x) up to float32 rounding
    torch.testing.assert_close(
        lw, marginal.log_prob(x).double()[:, None].expand_as(lw), atol=1e-4, rtol=0
    )
    assert pareto_khat(lw).max() < 0.3


def test_a_wider_guide_is_a_safe_proposal_and_a_narrow_one_is_not():
    _, _, _, wide = _weights(1.5)
    _, _, _, narrow = _weights(0.3)
    assert pareto_khat(wide).max() < 0.5  # heavier proposal tails than the target's
    k_narrow = pareto_khat(narrow)
    assert np.median(k_narrow) > 0.7 and unreliable_share(k_narrow) > 0.5


def test_the_weights_estimate_the_exact_marginal_likelihood():
    """log-mean-exp of the weights is the importance-sampled log p(x); with a wider guide
    and K = 2000 it is within a few hundredths of a nat of PPCA's exact marginal."""
    _, marginal, x, lw = _weights(1.5)
    estimate = torch.logsumexp(lw, 1) - math.log(lw.shape[1])
    error = (estimate - marginal.log_prob(x).double()).abs()
    assert error.mean() < 0.05 and error.max() < 0.15


def test_point_estimates_have_no_weights():
    ae = build_vae(family_config("ae", x_shape=(6,), latent_dim=2, hidden=(4,)))
    with pytest.raises(UserInputError, match="no importance weights"):
        importance_log_weights(ae, torch.rand(3, 6), num_samples=30)


def test_paired_standard_error_removes_the_shared_difficulty():
    g = torch.Generator().manual_seed(0)
    difficulty = 30 * torch.randn(400, generator=g)  # shared by both models
    noise_a, noise_b = torch.randn(400, generator=g), torch.randn(400, generator=g)
    a, b = difficulty + 0.5 + noise_a, difficulty + noise_b
    diff, se = paired_difference(a, b)
    # the paired SE is that of (noise_a − noise_b): sqrt(2/400) ≈ 0.071
    assert se == pytest.approx(math.sqrt(2 / 400), rel=0.15)
    assert abs(diff - 0.5) < 3 * se
    unpaired = math.hypot(a.std().item(), b.std().item()) / math.sqrt(400)
    assert unpaired > 10 * se


def test_across_seeds():
    mean, se = across_seeds([0.8, 1.0, 1.2, 1.0])
    assert mean == pytest.approx(1.0) and se == pytest.approx(0.08164966, rel=1e-6)
    assert math.isnan(across_seeds([2.0])[1])
    with pytest.raises(UserInputError):
        paired_difference(torch.ones(3), torch.ones(4))


def test_the_kept_draws_are_the_guides_samples():
    vae, marginal = make_ppca(scale_factor=1.0)
    x = marginal.sample((4,))
    log_w, z = importance_draws(vae, x, num_samples=4000, seed=2, keep_latents=2)
    assert log_w.shape == (4, 4000) and z.shape == (2, 4000, 2)
    q = vae.encode(x[:2])
    # 4000 draws: the mean is within 4 standard errors of q's mean, the std within 5 %
    assert ((z.mean(1) - q.mean).abs() < 4 * q.stddev / 4000**0.5).all()
    torch.testing.assert_close(z.std(1), q.stddev, rtol=0.05, atol=0)
    same = importance_log_weights(vae, x, num_samples=4000, seed=2)
    assert torch.equal(same, log_w)
