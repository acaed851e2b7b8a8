"""Denoising: the corruption reaches the guide's input only; the model always scores the
clean data, and nothing is corrupted outside training."""

from __future__ import annotations

import pytest
import torch

from ppvae.errors import UserInputError
from ppvae.inference.elbo import traces
from ppvae.models import Corruption, build_vae, corrupt, family_config

KINDS = ["mask", "gaussian", "salt-pepper"]


def _spy_on_encoder(vae):
    seen = []
    vae.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    return seen


@pytest.mark.parametrize("member", ["denoising", "denoising-vae"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_corruption_never_reaches_the_observed_site(member, kind):
    torch.manual_seed(0)
    vae = build_vae(
        family_config(
            member,
            x_shape=(1, 8, 8),
            latent_dim=3,
            hidden=(8,),
            likelihood="mse",
            corruption=kind,
            noise_level=0.4,
        )
    )
    seen = _spy_on_encoder(vae)
    x = torch.rand(16, 1, 8, 8)
    original = x.clone()
    vae.train()
    model_trace, guide_trace = traces(vae.model, vae.guide, x)
    observed = model_trace.nodes["x"]
    assert observed["is_observed"] and torch.equal(observed["value"], original)
    assert torch.equal(x, original)  # the batch itself is never modified in place
    assert len(seen) == 1 and not torch.equal(seen[0], original)  # the guide saw x̃
    if member == "denoising":  # a point mass: the guide's z is the code of what it saw
        torch.testing.assert_close(guide_trace.nodes["z"]["value"], vae.encoder(seen[0]).mean)


def test_evaluation_and_reconstruction_see_the_clean_input():
    vae = build_vae(family_config("denoising", x_shape=(6,), latent_dim=2, hidden=(4,)))
    seen = _spy_on_encoder(vae)
    x = torch.rand(5, 6)
    vae.eval()
    traces(vae.model, vae.guide, x)
    vae.reconstruct(x)
    assert len(seen) == 2 and all(torch.equal(s, x) for s in seen)


@pytest.mark.parametrize("kind", KINDS)
def test_corruption_levels(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.full((20000,), 0.5)
    noisy = corrupt(x, kind, 0.3, g)
    changed = (noisy != x).float().mean().item()
    if kind == "gaussian":
        assert abs((noisy - x).std().item() - 0.3) < 0.01
    else:  # a fraction 0.3 of the inputs is replaced (by 0, or by 0/1 at random)
        assert abs(changed - 0.3) < 0.015
    if kind == "salt-pepper":
        replaced = noisy[noisy != x]
        assert set(replaced.unique().tolist()) == {0.0, 1.0}
        assert abs(replaced.mean().item() - 0.5) < 0.03


def test_a_seeded_corruption_repeats():
    x = torch.rand(100)
    a = corrupt(x, "mask", 0.5, torch.Generator().manual_seed(3))
    b = corrupt(x, "mask", 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_bad_corruptions_are_refused():
    with pytest.raises(UserInputError, match="unknown corruption"):
        Corruption("blur", 0.1)
    with pytest.raises(UserInputError, match="finite number"):
        Corruption("gaussian", -1.0)
