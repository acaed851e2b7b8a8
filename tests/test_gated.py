"""Gated linear units (``activation="gated"``): the VampPrior / Exemplar VAE hidden layers."""

from __future__ import annotations

import json
import math

import torch

from ppvae.cli import main
from ppvae.inference import fit
from ppvae.models import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, ModelConfig, build_vae
from ppvae.models.nets import mlp


def test_a_gated_layer_passes_values_times_sigmoid_of_gates():
    torch.manual_seed(0)
    layer = mlp([3, 2], "gated")
    x = torch.randn(4, 3)
    linear = layer[0]
    assert linear.out_features == 4  # two values and two gates per input
    a, b = linear(x).chunk(2, dim=-1)
    torch.testing.assert_close(layer(x), a * torch.sigmoid(b))


def test_gated_mlp_nets_keep_their_shapes_and_widths():
    enc = MLPEncoder((1, 8, 8), 3, hidden=(16, 8), activation="gated")
    dec = MLPDecoder(3, (1, 8, 8), hidden=(8, 16), activation="gated")
    assert enc.features(torch.rand(5, 1, 8, 8)).shape == (5, 8)
    assert enc(torch.rand(5, 1, 8, 8)).event_shape == (3,)
    assert dec(torch.zeros(7, 5, 3)).shape == (7, 5, 1, 8, 8)


def test_gated_conv_nets_gate_over_channels():
    enc = ConvEncoder((1, 8, 8), 2, hidden=(16,), channels=(4, 8), activation="gated")
    dec = ConvDecoder(2, (1, 8, 8), hidden=(16,), channels=(4, 8), activation="gated")
    convs = [m for m in enc.convs if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16]  # twice the channels: values and gates
    assert enc(torch.rand(5, 1, 8, 8)).event_shape == (2,)
    assert dec(torch.zeros(3, 5, 2)).shape == (3, 5, 1, 8, 8)
    assert dec.deconvs[-1].out_channels == 1  # the output layer is not gated


def test_a_gated_vae_learns_the_digits(digits):
    torch.manual_seed(0)
    config = ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(32,), activation="gated")
    result = fit(build_vae(config), digits, epochs=6, batch_size=64, progress=False)
    elbos = [row["val_elbo"] for row in result.history]
    assert all(math.isfinite(e) for e in elbos)
    assert elbos[-1] > elbos[0] + 1.0  # nats per image; the first epoch is far from converged


def test_the_cli_fits_a_gated_vae(tmp_path):
    out = tmp_path / "gated"
    args = ["fit", "--data", "digits", "--activation", "gated", "--epochs", "1"]
    args += ["--latent-dim", "3", "--hidden", "16", "--num-samples", "8", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["activation"] == "gated"
    assert math.isfinite(json.loads((out / "metrics.json").read_text())["test_log_likelihood"])
