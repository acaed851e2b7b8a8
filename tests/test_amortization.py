"""The amortisation gap on probabilistic PCA, where the Gaussian family holds the exact
posterior: with the exact encoder there is no gap, with a wrong one the per-point guide
recovers the exact log p(x) and the gap is what the encoder lost."""

from __future__ import annotations

import pytest
import torch

from ppvae.errors import UserInputError
from ppvae.inference.amortization import amortization_gap, optimize_guide
from ppvae.models import build_vae, family_config
from tests.linear_gaussian import make_ppca

# Monte-Carlo tolerance: with K = 2000 samples the ELBO of the exact posterior (which
# equals log p(x)) is estimated within about 0.01 nats per point on average.
TOL = 0.03


def _gap(scale_factor: float, shift: float):
    vae, marginal = make_ppca(scale_factor=scale_factor, shift=shift)
    torch.manual_seed(0)
    x = marginal.sample((40,))
    result = amortization_gap(vae, x, steps=500, lr=0.05, num_samples=2000)
    return result, marginal.log_prob(x).double()


def test_the_exact_posterior_has_no_amortisation_gap():
    result, exact = _gap(1.0, 0.0)
    assert abs(result.gap.mean()) < TOL / 3
    assert result.gap.abs().max() < 0.1
    assert abs((result.amortized - exact).mean()) < TOL  # ELBO = log p(x) here


@pytest.mark.parametrize(("scale_factor", "shift"), [(0.3, 0.0), (1.0, 0.8), (2.0, 0.5)])
def test_a_wrong_encoder_loses_what_the_per_point_guide_recovers(scale_factor, shift):
    result, exact = _gap(scale_factor, shift)
    assert abs((result.optimized - exact).mean()) < TOL  # the exact posterior is found
    lost = (exact - result.amortized).mean()
    assert lost > 1.0  # the encoder is far off
    assert abs(result.gap.mean() - lost) < TOL
    assert (result.gap > 0).all()


def test_the_model_is_left_unchanged_and_point_masses_are_refused():
    vae, marginal = make_ppca(scale_factor=0.5)
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    optimize_guide(vae, marginal.sample((5,)), steps=20)
    assert all(torch.equal(before[k], v) for k, v in vae.state_dict().items())
    assert all(p.requires_grad for p in vae.parameters())
    ae = build_vae(family_config("ae", x_shape=(6,), latent_dim=2, hidden=(4,)))
    with pytest.raises(UserInputError, match="Gaussian guide"):
        optimize_guide(ae, torch.rand(3, 6), steps=2)


def test_per_point_guides_hold_in_any_batches_groups_and_under_no_grad():
    from ppvae.inference.evaluate import pointwise

    vae, marginal = make_ppca(scale_factor=0.5, shift=0.6)
    torch.manual_seed(1)
    x = marginal.sample((12,))
    with torch.no_grad():  # the usual evaluation context: the optimiser turns gradients on
        local = optimize_guide(vae, x, steps=300, lr=0.05, max_elements=3 * 10 * 5)
    elbo = lambda b: pointwise(local, x, local.context(), 2000, batch_size=b).elbo  # noqa: E731
    whole, pairs = elbo(12), elbo(2)
    exact = marginal.log_prob(x).double()
    # each point keeps its own guide in any batch (a mixed-up guide is off by many nats);
    # other batches draw other samples: single points differ by Monte-Carlo error only
    assert (whole - pairs).abs().mean() < TOL and (whole - pairs).abs().max() < 0.15
    assert (whole - exact).abs().mean() < TOL  # groups of 3 points, each solved
