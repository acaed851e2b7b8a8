"""The importance-weighted objective: exact for the exact posterior, between the ELBO and
log p(x) otherwise, tightening with K; trainable end to end."""

from __future__ import annotations

import math

import pytest
import torch

from ppvae.errors import UserInputError
from ppvae.inference import FitConfig, fit
from ppvae.inference.iwae import IWAE_ELBO
from ppvae.models import ModelConfig, build_vae, family_config
from tests.linear_gaussian import make_ppca


def test_with_the_exact_posterior_every_k_gives_the_exact_log_likelihood():
    vae, marginal = make_ppca()
    torch.manual_seed(0)
    x = marginal.sample((30,))
    for k in (1, 3, 20):
        bound = IWAE_ELBO(k).bound(vae.model, vae.guide, x)
        torch.testing.assert_close(bound.double(), marginal.log_prob(x).double(), atol=1e-4, rtol=0)


def test_the_bound_tightens_with_k_towards_log_p_x():
    vae, marginal = make_ppca(scale_factor=1.5, shift=0.5)  # a wide, shifted guide: loose ELBO
    torch.manual_seed(0)
    x = marginal.sample((200,))
    exact = marginal.log_prob(x).double().mean().item()
    means = []
    for k in (1, 5, 50, 500):
        torch.manual_seed(1)
        means.append(IWAE_ELBO(k).bound(vae.model, vae.guide, x).double().mean().item())
    assert means == sorted(means) and means[-1] <= exact + 0.02
    assert exact - means[0] > 2 and exact - means[-1] < 0.03  # measured: 3.45 and 0.009


def test_fitting_on_the_iwae_bound(digits):
    torch.manual_seed(0)
    vae = build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(32,)))
    result = fit(vae, digits, epochs=3, batch_size=64, elbo="iwae", num_particles=5, progress=False)
    assert result.elbo == "IWAE_ELBO"
    assert all(math.isnan(r["train_elbo"]) for r in result.history)  # not the ELBO
    objective = [r["train_objective"] for r in result.history]
    assert objective[-1] > objective[0]
    assert result.history[-1]["val_elbo"] > result.history[0]["val_elbo"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"elbo": "iwae"}, "num-particles K >= 2"),
        ({"elbo": "iwae", "num_particles": 5, "beta": 2.0}, "no beta"),
        ({"elbo": "iwae", "num_particles": 5, "free_bits": 0.5}, "free bits"),
    ],
)
def test_iwae_settings_that_make_no_sense_are_refused(settings, message):
    with pytest.raises(UserInputError, match=message):
        FitConfig(**settings)


def test_iwae_needs_a_log_likelihood(digits):
    from ppvae.inference.svi import check_objective

    ae = build_vae(family_config("ae", x_shape=digits.x_shape, latent_dim=2, hidden=(8,)))
    with pytest.raises(UserInputError, match="needs a model with a log p"):
        check_objective(ae, digits, FitConfig(elbo="iwae", num_particles=3))
