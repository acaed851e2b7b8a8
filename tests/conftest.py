"""Shared fixtures: small seeded data and models so the default suite runs in minutes."""

from __future__ import annotations

import pyro
import pytest
import torch

from ppvae.data import DataConfig, load_data
from ppvae.models import ModelConfig, build_vae


@pytest.fixture(autouse=True)
def _seed_and_clean_param_store():
    torch.manual_seed(0)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="session")
def digits():
    """The embedded 8x8 digits, dynamically binarised."""
    return load_data(DataConfig(name="digits", binarize="dynamic"))


@pytest.fixture
def small_vae(digits):
    """A small Bernoulli VAE for the digits."""
    torch.manual_seed(0)
    return build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(32,)))
