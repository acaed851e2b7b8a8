"""The resampled prior, checked against quadrature in one dimension, where Z = E_π[a(z)]
and every moment of p_T are integrals on a grid."""

from __future__ import annotations

import math

import pytest
import torch

from ppvae.errors import UserInputError
from ppvae.inference import fit
from ppvae.models import ModelConfig, ResampledPrior, build_vae
from ppvae.models.priors import TruncatedResampledNormal

GRID = torch.linspace(-12, 12, 200_001, dtype=torch.float64)


def _logit(z: torch.Tensor) -> torch.Tensor:
    return 2.0 * z[..., 0] + 0.5  # a(z) = σ(2z + 0.5): keeps z > 0 more often


def _normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)


def _exact_z() -> float:
    return torch.trapezoid(_normal_pdf(GRID) * torch.sigmoid(_logit(GRID[:, None])), GRID).item()


def _log_exact_z() -> torch.Tensor:
    return torch.tensor(_exact_z(), dtype=torch.float64).log()


def _density(truncation: int) -> torch.Tensor:
    p = TruncatedResampledNormal(_logit, _log_exact_z(), truncation, 1)
    return p.log_prob(GRID[:, None]).exp()


@pytest.mark.parametrize("truncation", [1, 3, 50])
def test_the_truncated_density_integrates_to_one(truncation):
    assert torch.trapezoid(_density(truncation), GRID).item() == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("truncation", [2, 3, 7])
def test_the_density_is_the_sum_over_which_proposal_is_kept(truncation):
    # proposal t (t = 1..T-1) is kept after t-1 rejections: (1-Z)^(t-1) pi(z) a(z); the T-th
    # is kept whatever a says: (1-Z)^(T-1) pi(z); summed term by term, not in closed form
    z_rate = _exact_z()
    a = torch.sigmoid(_logit(GRID[:, None]))
    series = sum((1 - z_rate) ** (t - 1) * a for t in range(1, truncation))
    expected = _normal_pdf(GRID) * (series + (1 - z_rate) ** (truncation - 1))
    torch.testing.assert_close(_density(truncation), expected, rtol=1e-9, atol=1e-12)


def test_one_proposal_is_the_standard_normal():
    torch.testing.assert_close(_density(1), _normal_pdf(GRID))


@pytest.mark.parametrize("truncation", [2, 5])
def test_samples_follow_the_density(truncation):
    density = _density(truncation)
    mean = torch.trapezoid(GRID * density, GRID).item()
    positive = torch.trapezoid(density * (GRID > 0), GRID).item()
    p = TruncatedResampledNormal(_logit, _log_exact_z(), truncation, 1)
    torch.manual_seed(0)
    z = p.sample((200_000,))[:, 0].double()
    assert z.shape == (200_000,)
    se = z.std().item() / math.sqrt(len(z))
    assert abs(z.mean().item() - mean) < 5 * se, (z.mean().item(), mean)
    se_positive = math.sqrt(positive * (1 - positive) / len(z))
    assert abs((z > 0).double().mean().item() - positive) < 5 * se_positive
    assert mean > 0.1  # the acceptance really moved the mass (a check that can fail)


def _prior(**options) -> ResampledPrior:
    torch.manual_seed(0)
    prior = ResampledPrior(1, hidden=(8,), **options)
    with torch.no_grad():  # give the network a known acceptance: f(z) = tanh(z) + 0.5
        prior.body[0].weight.fill_(1.0)
        prior.body[0].bias.zero_()
        prior.logit.weight.zero_()
        prior.logit.weight[0, 0] = 1.0
        prior.logit.bias.fill_(0.5)
    return prior


def test_the_evaluation_estimate_of_z_matches_quadrature():
    prior = _prior(eval_samples=200_000).eval()
    z = torch.linspace(-3, 3, 7)[:, None]
    a = torch.sigmoid(prior.acceptance_logit(z))
    torch.testing.assert_close(a, torch.sigmoid(torch.tanh(z[:, 0]) + 0.5))
    exact = torch.trapezoid(_normal_pdf(GRID) * torch.sigmoid(torch.tanh(GRID) + 0.5), GRID).item()
    se = 0.5 / math.sqrt(200_000)  # a is in (0, 1): its standard deviation is below 1/2
    assert abs(prior.log_normalizer().exp().item() - exact) < 5 * se


def test_the_evaluation_estimate_is_cached_until_a_parameter_changes():
    prior = _prior(eval_samples=5_000).eval()
    first = prior.log_normalizer()
    assert prior.log_normalizer() is first
    with torch.no_grad():
        prior.logit.bias.add_(1.0)  # accept more often: Z rises
    assert prior.log_normalizer() > first


def test_the_cache_is_refreshed_by_an_optimiser_step():
    prior = _prior(eval_samples=5_000).eval()
    first = prior.log_normalizer()
    optimizer = torch.optim.Adam(prior.parameters(), lr=0.1)
    loss = -prior().log_prob(torch.full((4, 1), 2.0)).mean()
    loss.backward()
    optimizer.step()
    assert prior.log_normalizer().item() != first.item()


def test_the_cache_follows_training_with_a_fused_optimiser(digits):
    # fused Adam changes parameter values without bumping tensor versions
    torch.manual_seed(0)
    config = ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(16,), prior="resampled")
    vae = build_vae(config)
    vae.prior.eval()
    before = vae.prior.log_normalizer().item()
    vae.prior.train()
    fit(vae, digits, epochs=1, batch_size=64, progress=False)
    vae.prior.eval()
    cached = vae.prior.log_normalizer().item()
    vae.prior._cache = None
    assert cached == vae.prior.log_normalizer().item() != before


@pytest.mark.parametrize(
    ("truncation", "bias"), [(1, 0.5), (100, 30.0), (100, -30.0), (10_000, 0.5)]
)
def test_gradients_stay_finite_at_the_edges(truncation, bias):
    # T = 1 (the proposal itself), an acceptance that rounds to 1 or to 0, a long truncation
    prior = _prior(truncation=truncation, samples=256).train()
    with torch.no_grad():
        prior.logit.bias.fill_(bias)
    log_p = prior().log_prob(torch.randn(16, 1))
    assert torch.isfinite(log_p).all()
    if truncation == 1:  # exactly the standard normal: no parameter is involved
        z = torch.randn(5, 1)
        torch.testing.assert_close(prior().log_prob(z), -0.5 * (z**2 + math.log(2 * math.pi))[:, 0])
        assert not log_p.requires_grad
        return
    log_p.sum().backward()
    grads = [p.grad for p in prior.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_training_estimates_are_fresh_and_differentiable():
    prior = _prior(samples=256).train()
    a, b = prior.log_normalizer(), prior.log_normalizer()
    assert a.item() != b.item()
    a.backward()
    assert prior.logit.bias.grad is not None and prior.logit.bias.grad.abs() > 0


@pytest.mark.parametrize(
    "options", [{"truncation": 0}, {"samples": 0}, {"hidden": (8, 0)}, {"eval_samples": -1}]
)
def test_bad_settings_are_refused(options):
    with pytest.raises(UserInputError, match="resampled prior"):
        ResampledPrior(2, **options)
