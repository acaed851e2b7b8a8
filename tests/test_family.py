"""The autoencoder family: every member is a setting of one model/guide pair, trains with
the same ``fit`` and lowers its loss; point estimates report no log p(x)."""

from __future__ import annotations

import math

import pytest
import torch

from ppvae.data import DataConfig, load_data
from ppvae.errors import UserInputError
from ppvae.inference import FitConfig, fit
from ppvae.inference.evaluate import evaluate
from ppvae.models import FAMILY, ModelConfig, build_vae, family_config, family_of

MEMBERS = [(name, {}) for name in FAMILY] + [
    ("ae", {"hidden": (48, 32, 24)}),  # stacked
    ("ae", {"net": "conv", "channels": (8, 16)}),
    ("vae", {"net": "conv", "channels": (8, 16)}),
    ("sparse", {"latent_dim": 96}),  # overcomplete: more codes than the 64 pixels
    ("contractive", {"net": "conv", "channels": (8,)}),  # the autograd Jacobian
    ("ae", {"code": "sigmoid", "contractive": 0.1, "hidden": (32, 32)}),
]


@pytest.fixture(scope="module")
def greys():
    """The 8x8 digits as grey levels in [0, 1]."""
    return load_data(DataConfig(name="digits", binarize="none"))


def _loss_drop(vae, data, epochs=4):
    result = fit(vae, data, FitConfig(epochs=epochs, batch_size=64, lr=3e-3, progress=False))
    per_epoch = len(result.losses) // epochs
    first = sum(result.losses[:per_epoch]) / per_epoch
    last = sum(result.losses[-per_epoch:]) / per_epoch
    return first, last, result


@pytest.mark.parametrize(("member", "extra"), MEMBERS, ids=lambda v: str(v))
def test_every_member_trains_and_lowers_its_loss(greys, member, extra):
    torch.manual_seed(0)
    settings = {"latent_dim": 8, "hidden": (32,), "likelihood": "mse"} | extra
    if member == "linear":
        settings.pop("hidden")
    vae = build_vae(family_config(member, x_shape=greys.x_shape, **settings))
    first, last, result = _loss_drop(vae, greys)
    # the mean training loss of the last epoch is below the first epoch's by a clear margin
    # (squared error on 64 pixels: every member drops by 3 nats or more in 4 epochs)
    assert last < first - 2.0, (member, extra, first, last)
    assert all(math.isfinite(v) for v in result.losses)


def test_penalised_objective_is_not_called_an_elbo(greys):
    vae = build_vae(
        family_config("contractive", x_shape=greys.x_shape, hidden=(16,), likelihood="mse")
    )
    result = fit(vae, greys, epochs=1, progress=False)
    row = result.history[0]
    assert math.isnan(row["train_elbo"]) and math.isfinite(row["train_objective"])


def test_a_point_estimate_has_no_log_likelihood_and_no_samples(greys):
    ae = build_vae(
        family_config("ae", x_shape=greys.x_shape, latent_dim=4, hidden=(16,), likelihood="mse")
    )
    x = greys.x_test[:40]
    with pytest.raises(UserInputError, match="improper"):
        ae.generate(2)
    m = evaluate(ae, x, num_samples=50, seed=0)
    assert m.point_estimate and math.isnan(m.log_likelihood) and m.num_samples == 1
    assert m.bits_per_dim is None
    # the objective is the reconstruction log-likelihood: a flat prior and a point mass
    # contribute nothing
    assert m.kl == 0.0 and m.elbo == pytest.approx(-m.reconstruction)


def test_the_laplace_prior_of_a_sparse_ae_is_an_l1_penalty(greys):
    """With a point mass at the code c, the objective is log p(x|c) − ‖c‖₁/b − D log 2b."""
    sparse = build_vae(
        family_config("sparse", x_shape=greys.x_shape, latent_dim=5, likelihood="mse")
    )
    x = greys.x_test[:30]
    m = evaluate(sparse, x, num_samples=1, seed=0)
    with torch.no_grad():
        code = sparse.encode(x).mean
    l1 = (code.abs().sum(-1) + 5 * math.log(2.0)).double().mean().item()  # b = 1
    assert m.kl == pytest.approx(l1, rel=1e-5)


def test_a_vae_is_untouched_by_the_family_options(greys):
    vae = build_vae(ModelConfig(x_shape=greys.x_shape, latent_dim=4, likelihood="gaussian"))
    m = evaluate(vae, greys.x_test[:20], num_samples=20, seed=0)
    assert not m.point_estimate and math.isfinite(m.log_likelihood)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"code": "sigmoid"}, "point-mass guide"),
        ({"sparsity_weight": 1.0}, "sigmoid"),
        ({"sparsity_target": 1.5}, "rate in"),
        ({"contractive": -1.0}, "contractive"),
        ({"corruption": "blur"}, "unknown corruption"),
        ({"corruption": "mask", "noise_level": 1.0}, "probability"),
        ({"net": "rnn"}, "unknown net"),
        ({"guide": "beta"}, "unknown guide"),
    ],
)
def test_inconsistent_settings_are_refused(settings, message):
    with pytest.raises(UserInputError, match=message):
        build_vae(ModelConfig(x_shape=(1, 8, 8), latent_dim=2, hidden=(8,), **settings))


def test_conv_nets_refuse_data_that_are_not_images():
    with pytest.raises(UserInputError):
        build_vae(ModelConfig(x_shape=(64,), latent_dim=2, net="conv"))


def test_family_names():
    assert family_of(family_config("ae", x_shape=(1, 8, 8), hidden=(8, 8))) == "stacked AE"
    assert family_of(family_config("linear", x_shape=(4,))) == "linear AE"
    assert family_of(family_config("sparse-kl", x_shape=(4,))) == "sparse AE"
    assert family_of(ModelConfig(x_shape=(1, 8, 8), net="conv")) == "convolutional VAE"
    with pytest.raises(UserInputError, match="unknown family member"):
        family_config("stacked")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prior": "flat"}, "needs the point-mass guide"),
        ({"guide": "delta", "prior": "vamp"}, "VampPrior"),
        ({"corruption": "mask"}, "both a corruption and a noise level"),
        ({"noise_level": 0.3}, "both a corruption and a noise level"),
    ],
)
def test_unbounded_or_broken_pairs_are_refused(settings, message):
    with pytest.raises(UserInputError, match=message):
        build_vae(ModelConfig(x_shape=(1, 8, 8), latent_dim=2, hidden=(8,), **settings))


def test_a_point_estimate_is_never_called_an_elbo_in_training(greys):
    ae = build_vae(family_config("ae", x_shape=greys.x_shape, hidden=(16,), likelihood="mse"))
    result = fit(ae, greys, epochs=1, progress=False)
    assert math.isnan(result.history[0]["train_elbo"])
