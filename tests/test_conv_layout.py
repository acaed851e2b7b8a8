"""Scoring a convolutional decoder in channels-last layout (faster on a CPU) gives the
numbers of the default layout to float32 rounding: oneDNN may pick another summation order
for some shapes (a 1.5e-8 difference in one case here), which moves a log p(x) by far less
than the last digit reported."""

from __future__ import annotations

import importlib

import pytest
import torch

from ppvae.models import ModelConfig, build_vae, conv
from ppvae.models.conv import ConvDecoder

ev = importlib.import_module("ppvae.inference.evaluate")


@pytest.mark.parametrize(
    ("out_shape", "activation", "channels"),
    [((1, 28, 28), "relu", (32, 64)), ((2, 1, 28, 28), "gated", (8, 16)), ((3, 8, 8), "elu", (4,))],
)
def test_the_scoring_layout_gives_the_training_layouts_numbers(out_shape, activation, channels):
    torch.manual_seed(0)
    dec = ConvDecoder(5, out_shape, hidden=(32,), activation=activation, channels=channels)
    z = torch.randn(7, 60, 5)
    with torch.no_grad():
        scored = dec(z)  # channels last
    trained = dec(z).detach()  # with gradients: the default layout
    assert scored.shape == (7, 60, *out_shape)
    torch.testing.assert_close(scored, trained, atol=1e-6, rtol=0)


def test_an_evaluation_is_the_same_with_and_without_the_scoring_layout(monkeypatch):
    torch.manual_seed(0)
    vae = build_vae(ModelConfig(x_shape=(1, 28, 28), latent_dim=4, hidden=(32,), net="conv"))
    x = torch.bernoulli(torch.full((30, 1, 28, 28), 0.3))
    fast = ev.pointwise(vae, x, num_samples=50, batch_size=20)
    monkeypatch.setattr(conv, "CHANNELS_LAST_SCORING", False)
    plain = ev.pointwise(vae, x, num_samples=50, batch_size=20)
    # 784 pixels' log-densities summed: float32 rounding stays far below 1e-4 nats
    torch.testing.assert_close(fast.log_likelihood, plain.log_likelihood, atol=1e-4, rtol=0)
    torch.testing.assert_close(fast.elbo, plain.elbo, atol=1e-4, rtol=0)
