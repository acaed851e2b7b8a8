"""Networks, likelihoods, the standard normal prior and the VAE's model/guide."""

from __future__ import annotations

import math

import pyro
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from ppvae.errors import UserInputError
from ppvae.models import (
    LIKELIHOODS,
    DiscretizedLogistic,
    MLPDecoder,
    MLPEncoder,
    ModelConfig,
    StandardNormal,
    build_vae,
    make_likelihood,
)


@pytest.mark.parametrize("hidden", [(), (16,), (32, 16, 8)])
def test_depth_and_width_are_configurable(hidden):
    enc = MLPEncoder((1, 8, 8), 3, hidden=hidden)
    dec = MLPDecoder(3, (1, 8, 8), hidden=tuple(reversed(hidden)))
    linear = [m for m in enc.modules() if isinstance(m, torch.nn.Linear)]
    assert [layer.out_features for layer in linear] == [*hidden, 6]
    q = enc(torch.rand(5, 1, 8, 8))
    assert q.batch_shape == (5,) and q.event_shape == (3,)
    assert (q.scale > 0).all() if hasattr(q, "scale") else (q.base_dist.scale > 0).all()
    assert dec(torch.zeros(7, 5, 3)).shape == (7, 5, 1, 8, 8)  # leading particle dims pass through


def test_context_input_changes_the_output_and_is_required():
    enc = MLPEncoder((4,), 2, hidden=(8,), context_dim=3)
    x = torch.rand(5, 4)
    y1, y2 = torch.eye(3)[[0] * 5], torch.eye(3)[[1] * 5]
    assert not torch.allclose(enc(x, y1).mean, enc(x, y2).mean)
    with pytest.raises(UserInputError, match="context"):
        enc(x)
    dec = MLPDecoder(2, (4,), hidden=(8,), context_dim=3)
    assert dec(torch.zeros(6, 5, 2), y1).shape == (6, 5, 4)


def test_unknown_activation_is_refused():
    with pytest.raises(UserInputError, match="activation"):
        MLPEncoder((4,), 2, activation="swishy")


@pytest.mark.parametrize("name", list(LIKELIHOODS))
def test_likelihood_event_shape_and_param_shape(name):
    lik = make_likelihood(name, (1, 4, 4))
    params = torch.zeros(3, *lik.param_shape)
    d = lik(params)
    assert d.batch_shape == (3,) and d.event_shape == (1, 4, 4)
    x = torch.full((3, 1, 4, 4), 1.0 if name == "bernoulli" else 128 / 255)
    lik.check_data(x)
    assert torch.isfinite(d.log_prob(x)).all()


def test_bernoulli_log_prob_matches_closed_form():
    lik = make_likelihood("bernoulli", (3,))
    logits = torch.tensor([0.0, 2.0, -1.0])
    x = torch.tensor([1.0, 0.0, 1.0])
    expected = sum(
        math.log(torch.sigmoid(torch.tensor(a if v else -a)).item())
        for a, v in zip(logits.tolist(), x.tolist(), strict=True)
    )
    assert lik(logits).log_prob(x).item() == pytest.approx(expected, rel=1e-6)


def test_discretized_logistic_normalises_over_256_levels():
    grid = torch.arange(256) / 255
    for loc, log_scale in [(0.5, -3.0), (0.0, -5.0), (1.0, -1.0), (0.3, -8.0), (-0.4, 0.5)]:
        d = DiscretizedLogistic(torch.tensor(loc), torch.tensor(log_scale))
        mass = d.log_prob(grid).exp().sum().item()
        assert mass == pytest.approx(1.0, abs=1e-4), (loc, log_scale)
    d = DiscretizedLogistic(torch.tensor(0.2), torch.tensor(-4.0))
    samples = d.sample((2000,))
    assert torch.allclose(samples * 255, (samples * 255).round())
    assert abs(samples.mean() - d.mean) < 0.01


@pytest.mark.parametrize(
    ("loc", "log_scale"), [(-0.3, -8.0), (1.3, -8.0), (0.5, -7.0), (0.5, 3.0), (-5.0, -2.0)]
)
def test_discretized_logistic_is_finite_with_finite_gradients_at_extremes(loc, log_scale):
    # A sharp logistic far from the data saturates float32 sigmoids; neither the value nor
    # the gradient of any bin (end bins included) may become inf or NaN.
    grid = torch.arange(256) / 255
    loc_t = torch.tensor(loc, requires_grad=True)
    scale_t = torch.tensor(log_scale, requires_grad=True)
    log_p = DiscretizedLogistic(loc_t, scale_t).log_prob(grid)
    assert torch.isfinite(log_p).all()
    log_p.sum().backward()
    assert torch.isfinite(loc_t.grad) and torch.isfinite(scale_t.grad)
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-3)


def test_context_with_the_wrong_shape_is_refused():
    enc = MLPEncoder((4,), 2, hidden=(8,), context_dim=3)
    with pytest.raises(UserInputError, match="one-hot"):
        enc(torch.rand(3, 4), torch.tensor([0, 1, 2]))  # raw labels, not one-hot


def test_likelihood_support_checks():
    with pytest.raises(UserInputError, match="0/1"):
        make_likelihood("bernoulli", (2,)).check_data(torch.tensor([[0.5, 1.0]]))
    with pytest.raises(UserInputError, match=r"\[0, 1\]"):
        make_likelihood("continuous-bernoulli", (2,)).check_data(torch.tensor([[1.5, 0.0]]))
    with pytest.raises(UserInputError, match="255"):
        make_likelihood("logistic", (2,)).check_data(torch.tensor([[0.1234, 0.0]]))
    with pytest.raises(UserInputError, match="NaN"):
        make_likelihood("gaussian", (2,)).check_data(torch.tensor([[math.nan, 0.0]]))
    with pytest.raises(UserInputError, match="unknown likelihood"):
        make_likelihood("poisson", (2,))


def test_gaussian_scale_is_learned_unless_fixed():
    assert make_likelihood("gaussian", (3,)).log_scale.requires_grad
    from ppvae.models import Gaussian

    assert not Gaussian((3,), learn_scale=False).log_scale.requires_grad


def test_standard_normal_prior():
    prior = StandardNormal(4)
    d = prior()
    assert d.event_shape == (4,) and d.batch_shape == ()
    assert d.log_prob(torch.zeros(4)).item() == pytest.approx(-2 * math.log(2 * math.pi))
    assert len(list(prior.parameters())) == 0  # nothing to learn


def test_model_and_guide_sites_and_plate():
    vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
    x = torch.bernoulli(torch.full((5, 6), 0.5))
    guide_trace = poutine.trace(vae.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(vae.model, trace=guide_trace)).get_trace(x)
    assert model_trace.nodes["x"]["is_observed"] and not model_trace.nodes["z"]["is_observed"]
    assert torch.equal(model_trace.nodes["x"]["value"], x)
    for trace in (guide_trace, model_trace):
        frames = [f.name for f in trace.nodes["z"]["cond_indep_stack"]]
        assert frames == ["data"]
        assert trace.nodes["z"]["value"].shape == (5, 2)


def test_plain_pyro_svi_fits_the_model_and_guide():
    torch.manual_seed(0)
    vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(16,)))
    x = torch.bernoulli(torch.rand(1, 6).expand(64, 6))
    svi = SVI(vae.model, vae.guide, Adam({"lr": 0.02}), Trace_ELBO())
    losses = [svi.step(x) for _ in range(150)]
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20 - 20
    assert "vae$$$decoder.head.weight" in pyro.get_param_store()


def test_encode_reconstruct_generate_shapes_and_ranges():
    vae = build_vae(ModelConfig(x_shape=(1, 4, 4), latent_dim=3, hidden=(8,)))
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.5))
    assert vae.encode(x).batch_shape == (5,)
    r = vae.reconstruct(x)
    assert r.shape == x.shape and (r >= 0).all() and (r <= 1).all()
    g = vae.generate(7)
    assert g.shape == (7, 1, 4, 4)
    s = vae.generate(7, mean=False)
    assert ((s == 0) | (s == 1)).all()


def test_model_config_validation():
    with pytest.raises(UserInputError):
        ModelConfig(latent_dim=0)
    with pytest.raises(UserInputError):
        ModelConfig(hidden=(10, 0))
    with pytest.raises(UserInputError, match="unknown prior"):
        build_vae(ModelConfig(prior="nonsense"))


def test_independent_bernoulli_matches_torch_in_value_gradient_and_shapes():
    from ppvae.models import IndependentBernoulli

    torch.manual_seed(0)
    logits = torch.randn(5, 1, 4, 4, requires_grad=True)
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3))
    fast = IndependentBernoulli(logits, 3)
    ref = pyro.distributions.Bernoulli(logits=logits).to_event(3)
    torch.testing.assert_close(fast.log_prob(x), ref.log_prob(x))
    (g_fast,) = torch.autograd.grad(fast.log_prob(x).sum(), logits)
    (g_ref,) = torch.autograd.grad(ref.log_prob(x).sum(), logits)
    torch.testing.assert_close(g_fast, g_ref)
    expanded = fast.expand((7, 5))  # as a particles plate would
    assert isinstance(expanded, IndependentBernoulli) and expanded.batch_shape == (7, 5)
    torch.testing.assert_close(expanded.log_prob(x)[3], ref.log_prob(x))
    assert fast.sample().shape == x.shape and torch.equal(fast.mean, ref.mean)
    with pyro.validation_enabled(True), pytest.raises(ValueError):
        IndependentBernoulli(logits, 3, validate_args=True).log_prob(x * 0.5)
