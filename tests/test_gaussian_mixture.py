"""DiagonalGaussianMixture against torch's MixtureSameFamily: the same density, gradients
and moments, inside Pyro plates too; and the priors built on it."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from ppvae.models import ModelConfig, build_vae
from ppvae.models.priors.gaussian_mixture import DiagonalGaussianMixture


def _pair(k=7, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(k, generator=g)
    loc = 3 * torch.randn(k, dim, generator=g)
    scale = 0.05 + torch.rand(k, dim, generator=g)  # narrow components: a hard case
    slow = dist.MixtureSameFamily(
        dist.Categorical(logits=logits), dist.Normal(loc, scale).to_event(1)
    )
    return DiagonalGaussianMixture(logits, loc, scale), slow, (logits, loc, scale)


def test_the_density_matches_mixture_same_family():
    fast, slow, _ = _pair()
    z = torch.cat([4 * torch.randn(200, 5), slow.sample((200,))])  # far and near points
    torch.testing.assert_close(fast.log_prob(z), slow.log_prob(z), atol=1e-4, rtol=1e-6)
    z3 = torch.randn(3, 4, 5)
    assert fast.log_prob(z3).shape == (3, 4)


def test_gradients_in_z_match():
    fast, slow, _ = _pair()
    grads = []
    for d in (fast, slow):
        z = torch.randn(50, 5, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        d.log_prob(z).sum().backward()
        grads.append(z.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-4, rtol=1e-5)


def test_parameter_gradients_match():
    _, _, (logits, loc, scale) = _pair()
    z = torch.randn(40, 5)
    out = []
    for build in (
        lambda a, b, c: DiagonalGaussianMixture(a, b, c),
        lambda a, b, c: dist.MixtureSameFamily(
            dist.Categorical(logits=a), dist.Normal(b, c).to_event(1)
        ),
    ):
        a, b, c = (t.clone().requires_grad_(True) for t in (logits, loc, scale))
        build(a, b, c).log_prob(z).sum().backward()
        out.append([a.grad, b.grad, c.grad])
    for fast, slow in zip(*out, strict=True):
        torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)


def test_inside_a_plate_it_is_expanded_not_copied():
    fast, slow, _ = _pair()

    def model(z):
        with pyro.plate("data", z.shape[0]):
            return pyro.sample("z", fast, obs=z)

    z = torch.randn(9, 5)
    trace = pyro.poutine.trace(model).get_trace(z)
    site = trace.nodes["z"]
    assert site["fn"].batch_shape == (9,) and site["fn"].loc.shape == (7, 5)
    torch.testing.assert_close(site["fn"].log_prob(z), slow.log_prob(z), atol=1e-4, rtol=1e-6)


def test_samples_have_the_mixtures_moments():
    fast, slow, _ = _pair()
    torch.manual_seed(0)
    draws = fast.sample((40000,))
    assert draws.shape == (40000, 5)
    se = (fast.variance / 40000).sqrt()
    assert ((draws.mean(0) - fast.mean).abs() < 5 * se).all()
    torch.testing.assert_close(fast.mean, slow.mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.variance, slow.variance, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(draws.var(0), fast.variance, rtol=0.05, atol=0.05)


def test_the_vamp_and_mixture_priors_use_it():
    for prior in ("vamp", "mixture"):
        vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,), prior=prior))
        assert isinstance(vae.prior(), DiagonalGaussianMixture)
        assert vae.generate(4).shape == (4, 6)
