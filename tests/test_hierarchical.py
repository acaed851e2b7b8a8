"""The two-level VAE (``levels=2``): exact likelihood of a linear-Gaussian case, bounds,
training, the CLI and the settings it refuses."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from ppvae.cli import main
from ppvae.errors import UserInputError
from ppvae.inference import fit
from ppvae.inference.evaluate import pointwise
from ppvae.inference.iwae import IWAE_ELBO
from ppvae.models import Gaussian, MLPDecoder, MLPEncoder, ModelConfig, StandardNormal, build_vae
from ppvae.models.hierarchical import HierarchicalVAE, joined

D, L, NOISE, LOWER_SCALE = 4, 2, 0.6, 0.5


def _set_constant_scale(encoder: MLPEncoder, scale: float) -> None:
    """Make a Normal head's scale a constant (its rows of weights zero)."""
    encoder.head.weight.data[L:] = 0.0
    encoder.head.bias.data[L:] = scale + math.log(-math.expm1(-scale))  # softplus^-1


def linear_gaussian_hvae(seed: int = 0) -> tuple[HierarchicalVAE, MultivariateNormal]:
    """z ~ N(0, I), z_lower = A z + a + s ε, x = W [z_lower; z] + b + σ η, and its exact
    marginal x ~ N(W_l a + b, M Mᵀ + s² W_l W_lᵀ + σ² I) with M = W_l A + W_z."""
    g = torch.Generator().manual_seed(seed)
    lower_prior = MLPEncoder((L,), L, hidden=(), min_scale=0.0)
    lower_prior.head.weight.data[:L] = torch.randn(L, L, generator=g)
    lower_prior.head.bias.data[:L] = torch.randn(L, generator=g) * 0.3
    _set_constant_scale(lower_prior, LOWER_SCALE)
    decoder = MLPDecoder(2 * L, (D,), hidden=())
    decoder.head.weight.data.copy_(torch.randn(D, 2 * L, generator=g))
    decoder.head.bias.data.copy_(torch.randn(D, generator=g) * 0.3)
    likelihood = Gaussian((D,), init_scale=NOISE, learn_scale=False)
    encoder = MLPEncoder((D,), L, hidden=())
    lower_encoder = MLPEncoder((D,), L, hidden=(), context_dim=L)
    vae = HierarchicalVAE(
        encoder, lower_encoder, lower_prior, decoder, likelihood, StandardNormal(L)
    )
    a_mat, a = lower_prior.head.weight.data[:L], lower_prior.head.bias.data[:L]
    w_l, w_z = decoder.head.weight.data[:, :L], decoder.head.weight.data[:, L:]
    m = w_l @ a_mat + w_z
    cov = m @ m.T + LOWER_SCALE**2 * w_l @ w_l.T + NOISE**2 * torch.eye(D)
    return vae, MultivariateNormal(w_l @ a + decoder.head.bias.data, cov)


def _trained_guide(vae: HierarchicalVAE, x: torch.Tensor, steps: int = 300) -> None:
    """Fit only the two encoders on the IWAE bound, so the proposal is reasonable."""
    params = [*vae.encoder.parameters(), *vae.lower_encoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=0.02)
    objective = IWAE_ELBO(num_particles=8)
    with vae.param_store_off():
        for _ in range(steps):
            optimizer.zero_grad()
            objective.differentiable_loss(vae.model, vae.guide, x).backward()
            optimizer.step()


def test_importance_sampling_recovers_the_exact_log_likelihood_of_a_linear_gaussian_hvae():
    torch.manual_seed(0)
    vae, marginal = linear_gaussian_hvae()
    x = marginal.sample((64,))
    _trained_guide(vae, x)
    exact = marginal.log_prob(x)
    points = pointwise(vae, x, None, num_samples=4000, seed=0)
    # Monte-Carlo tolerance: with a briefly fitted affine proposal in 4 latent dimensions
    # (its ELBO still 1.5 nats below log p(x)) the per-point estimate with K = 4000 is
    # within a tenth of a nat (measured at this seed: mean error 0.002, largest 0.06).
    assert (points.log_likelihood.float() - exact).abs().max() < 0.15
    assert abs((points.log_likelihood.float() - exact).mean()) < 0.02
    # The ELBO is a lower bound on every point (its lower layer's KL is averaged over the
    # K draws of z, so up to Monte-Carlo error); its gap is the posterior mismatch.
    assert (points.elbo.float() <= exact + 0.02).all()
    assert points.elbo.mean() < points.log_likelihood.mean() - 0.01


def test_the_iwae_bound_tightens_with_k_towards_the_exact_value():
    torch.manual_seed(0)
    vae, marginal = linear_gaussian_hvae(seed=1)
    x = marginal.sample((256,))
    exact = marginal.log_prob(x).mean().item()
    with torch.no_grad():
        bounds = [IWAE_ELBO(k).bound(vae.model, vae.guide, x).mean().item() for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2] < exact


def test_both_latent_sites_are_scored_and_the_vamp_prior_shares_the_top_encoder():
    config = ModelConfig(
        x_shape=(16,), latent_dim=3, hidden=(8,), levels=2, prior="vamp",
        prior_args={"components": "4"},
    )  # fmt: skip
    vae = build_vae(config)
    assert isinstance(vae, HierarchicalVAE)
    assert vae.prior._encoder[0] is vae.encoder
    x = torch.bernoulli(torch.full((5, 16), 0.5))
    points = pointwise(vae, x, None, num_samples=10)
    assert points.posterior_mean.shape == (5, 6)  # z and z_lower side by side
    assert vae.generate(2).shape == (2, 16) and vae.reconstruct(x).shape == (5, 16)
    assert vae.decode(vae.encode(x).mean).mean.shape == (5, 16)


def test_a_conv_hierarchical_vae_builds_and_scores():
    config = ModelConfig(x_shape=(1, 8, 8), latent_dim=2, hidden=(8,), levels=2, net="conv",
                         channels=(2, 4))  # fmt: skip
    vae = build_vae(config)
    x = torch.bernoulli(torch.full((3, 1, 8, 8), 0.5))
    loss = IWAE_ELBO(num_particles=4).differentiable_loss(vae.model, vae.guide, x)
    assert loss.requires_grad and math.isfinite(loss.item())
    assert vae.generate(2).shape == (2, 1, 8, 8)


def test_a_hierarchical_vae_learns_the_digits(digits):
    torch.manual_seed(0)
    config = ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(32,), levels=2)
    result = fit(build_vae(config), digits, epochs=6, batch_size=64, progress=False)
    elbos = [row["val_elbo"] for row in result.history]
    assert all(math.isfinite(e) for e in elbos)
    assert elbos[-1] > elbos[0] + 1.0  # nats per image; the first epoch is far from converged


@pytest.mark.parametrize(
    "setting",
    [{"guide": "delta"}, {"corruption": "mask", "noise_level": 0.2}, {"contractive": 0.1},
     {"context_dim": 3, "condition_networks": True}, {"levels": 3}],
)  # fmt: skip
def test_unsupported_two_level_settings_are_refused(setting):
    with pytest.raises(UserInputError):
        build_vae(ModelConfig(x_shape=(16,), latent_dim=2, hidden=(8,), **{"levels": 2, **setting}))


def test_a_sequence_prior_is_refused_for_two_levels():
    with pytest.raises(UserInputError, match="vector latent"):
        build_vae(ModelConfig(x_shape=(5, 16), latent_dim=2, hidden=(8,), levels=2, prior="markov"))


def test_joined_broadcasts_the_two_layers():
    assert joined(torch.zeros(7, 3, 2), torch.ones(3, 5)).shape == (7, 3, 7)


def test_the_cli_fits_and_evaluates_a_two_level_vamp_vae(tmp_path):
    out = tmp_path / "hvae"
    args = ["fit", "--data", "digits", "--levels", "2", "--prior", "vamp", "--epochs", "1"]
    args += ["--prior-arg", "components=5", "--elbo", "iwae", "--num-particles", "2"]
    args += ["--latent-dim", "3", "--hidden", "16", "--num-samples", "8", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["levels"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert math.isfinite(metrics["test_log_likelihood"])
    assert metrics["latent_size"] == 6 and metrics["family"] == "hierarchical VAE"
    assert main(["evaluate", str(out), "--num-samples", "4", "--no-progress"]) == 0


def test_the_cli_refuses_bad_levels_with_exit_2(tmp_path, capsys):
    base = ["fit", "--data", "digits", "--epochs", "1", "--out", str(tmp_path / "r")]
    with pytest.raises(SystemExit) as exit_info:
        main([*base, "--levels", "3"])
    assert exit_info.value.code == 2
    assert main([*base, "--levels", "2", "--guide", "delta", "--prior", "flat"]) == 2
    assert "levels 2" in capsys.readouterr().err


def test_the_amortisation_gap_refuses_a_two_level_guide():
    from ppvae.inference.amortization import PerPointGuide

    vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,), levels=2))
    x = torch.bernoulli(torch.full((3, 6), 0.5))
    with pytest.raises(UserInputError, match="hierarchical"):
        PerPointGuide(vae, vae.encode(x))


def test_compare_ranks_priors_of_two_level_vaes_without_a_gap(tmp_path, capsys):
    argv = ["compare", "--priors", "normal", "vamp"]
    argv += ["--levels", "2", "--data", "digits", "--epochs", "1", "--latent-dim", "2"]
    argv += ["--hidden", "8", "--num-samples", "5", "--khat-samples", "30"]
    argv += ["--khat-points", "10", "--gap-points", "3", "--gap-steps", "2", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "c")]) == 0
    assert "vamp" in capsys.readouterr().out


@pytest.mark.parametrize("net", ["mlp", "conv"])
def test_the_lower_encoder_shortcut_is_the_same_function(net):
    torch.manual_seed(0)
    vae = build_vae(ModelConfig(x_shape=(1, 4, 4), latent_dim=3, hidden=(8, 6), levels=2,
                                activation="gated", net=net, channels=(2,)))  # fmt: skip
    x, z = torch.rand(5, 1, 4, 4), torch.randn(7, 5, 3)
    fast = vae.lower_posterior(x, z)
    slow = vae.lower_encoder(x.expand(7, 5, 1, 4, 4), z)
    assert fast.batch_shape == slow.batch_shape == (7, 5)
    torch.testing.assert_close(fast.mean, slow.mean)
    torch.testing.assert_close(fast.variance, slow.variance)


def test_the_anomaly_reconstruction_score_uses_both_posterior_means():
    from ppvae.tasks.anomaly import reconstruction_error

    torch.manual_seed(0)
    vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,), levels=2))
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    z = vae.encode(x).mean
    lower = vae.lower_posterior(x, z).mean
    expected = -vae.likelihood(vae.decoder(joined(lower, z))).log_prob(x)
    torch.testing.assert_close(reconstruction_error(vae, x).float(), expected)


def test_principal_angles_refuse_a_two_level_decoder():
    from ppvae.tasks.pca_angles import decoder_basis

    with pytest.raises(UserInputError, match="hierarchical"):
        decoder_basis(build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,), levels=2)))
