"""Quadrant completion: data layout, the exact baseline likelihood, the CLI task."""

from __future__ import annotations

import json

import pyro.distributions as dist
import pytest
import torch

from ppvae.cli import main
from ppvae.data import DataConfig, load_data
from ppvae.errors import UserInputError
from ppvae.inference.evaluate import pointwise
from ppvae.models import ModelConfig, build_vae
from ppvae.tasks.quadrants import (
    QuadrantBaseline,
    join_quadrants,
    quadrant_data,
    split_quadrants,
)


@pytest.mark.parametrize("visible", range(4))
def test_split_and_join_are_inverse_and_the_context_is_the_visible_quadrant(visible):
    images = torch.rand(3, 1, 6, 8)
    target, context = split_quadrants(images, visible)
    assert target.shape == (3, 36) and context.shape == (3, 12)
    row, col = divmod(visible, 2)
    assert torch.equal(
        context, images[:, :, row * 3 : row * 3 + 3, col * 4 : col * 4 + 4].reshape(3, -1)
    )
    assert torch.equal(join_quadrants(target, context, visible, (6, 8)), images)


def test_bad_images_and_quadrants_are_refused():
    with pytest.raises(UserInputError, match="even height"):
        split_quadrants(torch.rand(2, 1, 5, 4), 0)
    with pytest.raises(UserInputError, match="0, 1, 2 or 3"):
        split_quadrants(torch.rand(2, 1, 4, 4), 4)
    with pytest.raises(UserInputError, match="static"):
        quadrant_data(load_data(DataConfig(name="digits", binarize="dynamic")), 0)


def test_baseline_likelihood_is_the_exact_bernoulli_log_probability():
    net = QuadrantBaseline(4, 12, (8,))
    x, c = torch.bernoulli(torch.full((5, 12), 0.4)), torch.rand(5, 4)
    expected = dist.Bernoulli(logits=net(c)).log_prob(x).sum(-1)
    assert torch.allclose(net.log_likelihood(x, c), expected, atol=1e-5)


def test_cvae_on_quadrants_estimates_a_conditional_likelihood_above_its_elbo():
    data = quadrant_data(load_data(DataConfig(name="digits", binarize="static")), 2)
    config = ModelConfig(
        x_shape=data.x_shape,
        latent_dim=4,
        hidden=(32,),
        prior="conditional",
        context_dim=data.context_dim,
        condition_networks=True,
    )
    vae = build_vae(config)
    x, c = data.split("test")
    points = pointwise(vae, x[:50], c[:50], num_samples=200)
    assert points.log_likelihood.mean() > points.elbo.mean()


def test_quadrants_command_writes_the_table_and_the_picture(tmp_path, capsys):
    out = tmp_path / "q"
    flags = ["--data", "digits", "--epochs", "2", "--hidden", "32", "--latent-dim", "4"]
    code = main(["quadrants", *flags, "--num-samples", "20", "--no-progress", "--out", str(out)])
    assert code == 0
    rows = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in rows] == ["baseline MLP", "CVAE"]
    assert rows[0]["num_samples"] == 0 and rows[1]["num_samples"] == 20
    assert all(r["test_log_likelihood"] < 0 for r in rows)
    assert (out / "completions.png").stat().st_size > 1000
    assert "log p(x|c)" in capsys.readouterr().out


def test_quadrants_on_data_that_are_not_images_exit_2(tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "flat.npy", (np.random.default_rng(0).random((60, 10)) < 0.5) * 1.0)
    code = main(["quadrants", "--data", str(tmp_path / "flat.npy"), "--out", str(tmp_path / "q")])
    assert code == 2 and "even height" in capsys.readouterr().err
