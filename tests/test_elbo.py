"""AnalyticKL_ELBO must be Pyro's TraceMeanField_ELBO estimator, value and gradient."""

from __future__ import annotations

import pyro
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO

from ppvae.inference.elbo import AnalyticKL_ELBO
from ppvae.models import ModelConfig, build_vae


def _loss_and_grads(elbo, vae, x, scale=1.0):
    model = poutine.scale(vae.model, scale=scale)
    guide = poutine.scale(vae.guide, scale=scale)
    torch.manual_seed(0)
    vae.zero_grad()
    with pyro.validation_enabled(False), vae.param_store_off():
        loss = elbo.differentiable_loss(model, guide, x)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in vae.parameters()]


@pytest.mark.parametrize("particles", [1, 3])
@pytest.mark.parametrize("scale", [1.0, 0.25])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_same_loss_and_gradients_as_trace_mean_field(particles, scale, likelihood):
    torch.manual_seed(1)
    vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,), likelihood=likelihood))
    x = torch.bernoulli(torch.full((10, 6), 0.4))
    kw = {"num_particles": particles, "vectorize_particles": particles > 1}
    ours, our_grads = _loss_and_grads(AnalyticKL_ELBO(**kw), vae, x, scale)
    ref, ref_grads = _loss_and_grads(TraceMeanField_ELBO(**kw), vae, x, scale)
    torch.testing.assert_close(ours, ref)
    for a, b in zip(our_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_masked_observations_are_respected():
    torch.manual_seed(2)
    vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
    x = torch.bernoulli(torch.full((10, 6), 0.4))
    mask = torch.arange(10) % 2 == 0
    model = poutine.mask(vae.model, mask=mask)
    guide = poutine.mask(vae.guide, mask=mask)
    losses = []
    for elbo in (AnalyticKL_ELBO(), TraceMeanField_ELBO()):
        torch.manual_seed(0)
        with pyro.validation_enabled(False), vae.param_store_off():
            losses.append(elbo.loss(model, guide, x))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
