"""Interpolation between two data points through the latent space.

The endpoints are the posterior means E_q[z|x] of the two points.  The path between them
depends on the prior, so that it stays where the prior puts its mass:

    spherical  a Gaussian prior N(μ, σ): slerp of the standardised codes (z − μ)/σ; a
               straight line would pass through the low-norm centre that a
               high-dimensional Gaussian almost never samples (White, 2016)
    base       a flow prior (a transformed standard normal): slerp in the base space,
               between T⁻¹(z_a) and T⁻¹(z_b), mapped back through T
    linear     any other prior (mixtures, VampPrior, heavy-tailed, Markov): a straight line
"""

from __future__ import annotations

import math

import torch
from pyro import distributions as dist
from torch import nn

from ppvae.errors import UserInputError
from ppvae.inference.evaluate import scoring

KINDS = ("auto", "spherical", "base", "linear")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between vectors ``a`` and ``b`` (L,) at fractions ``t`` (S,):
    (S, L), exactly ``a`` at t = 0 and ``b`` at t = 1, with weights sin((1−t)Ω)/sin Ω and
    sin(tΩ)/sin Ω for the angle Ω between them (White, 2016).  Nearly parallel or opposite
    vectors (and 1-d codes) have no unique great circle and get a straight line.

    Example:
        >>> a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
        >>> slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
        tensor([[1.0000, 0.0000],
                [0.7071, 1.4142],
                [0.0000, 2.0000]])
    """
    t = t[:, None].to(a)
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega < 1e-3 or math.pi - omega < 1e-3 or a.numel() == 1:
        return (1 - t) * a + t * b  # (anti)parallel: no unique great circle; 1-d: a line
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def path_kind(prior: dist.Distribution) -> str:
    """Which path suits ``prior`` (see the module notes): ``spherical``, ``base`` or
    ``linear``.

    Example:
        >>> path_kind(dist.Normal(torch.zeros(3), 1.0).to_event(1))
        'spherical'
        >>> path_kind(dist.Laplace(torch.zeros(3), 1.0).to_event(1))
        'linear'
    """
    inner = _strip(prior)
    if isinstance(inner, dist.Normal):
        return "spherical"
    if isinstance(inner, torch.distributions.TransformedDistribution) and isinstance(
        _strip(inner.base_dist), dist.Normal
    ):
        return "base"
    return "linear"


def interpolate_codes(
    vae: nn.Module, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10, kind: str = "auto"
) -> tuple[torch.Tensor, str]:
    """Codes along the path from x_a's posterior mean to x_b's: (steps, *latent_shape),
    and the kind of path used.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
        >>> x = torch.rand(2, 6)
        >>> codes, kind = interpolate_codes(vae, x[0], x[1], steps=5)
        >>> codes.shape, kind, bool(torch.allclose(codes[0], vae.encode(x[:1]).mean[0]))
        (torch.Size([5, 3]), 'spherical', True)
    """
    if steps < 2:
        raise UserInputError(f"an interpolation needs at least 2 steps, got {steps}")
    if kind not in KINDS:
        raise UserInputError(f"unknown interpolation {kind!r}; choose one of {', '.join(KINDS)}")
    with torch.no_grad(), scoring(vae):
        means = vae.encode(torch.stack([x_a, x_b])).mean  # (2, *latent)
        prior = vae.prior(None)
        kind = path_kind(prior) if kind == "auto" else kind
        to_space, from_space = _spaces(prior, kind)
        shape = means.shape[1:]
        u = to_space(means).reshape(2, -1)
        t = torch.linspace(0, 1, steps, device=u.device)
        path = (1 - t[:, None]) * u[0] + t[:, None] * u[1] if kind == "linear" else slerp(*u, t)
        return from_space(path.reshape(steps, *shape)), kind


def interpolate(
    vae: nn.Module, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10, kind: str = "auto"
) -> tuple[torch.Tensor, str]:
    """Decoded means along the path between two data points: (steps, *x_shape); the first
    and last are the reconstructions of ``x_a`` and ``x_b`` (decodes of their top codes,
    for a hierarchical VAE).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
        >>> x = torch.rand(2, 6)
        >>> images, _ = interpolate(vae, x[0], x[1], steps=4)
        >>> bool(torch.allclose(images[[0, -1]], vae.reconstruct(x), atol=1e-5))
        True
    """
    codes, kind = interpolate_codes(vae, x_a, x_b, steps, kind)
    with scoring(vae):
        return vae.decode(codes).mean, kind


def _strip(fn: dist.Distribution) -> dist.Distribution:
    while isinstance(fn, torch.distributions.Independent):
        fn = fn.base_dist
    return fn


def _spaces(prior: dist.Distribution, kind: str):
    """Maps from codes to the space the path is drawn in, and back."""
    inner = _strip(prior)
    if kind == "spherical":
        if not isinstance(inner, dist.Normal):
            raise UserInputError("a spherical path needs a Gaussian prior; use linear")
        loc, scale = inner.loc, inner.scale
        return (lambda z: (z - loc) / scale), (lambda u: loc + scale * u)
    if kind == "base":
        if path_kind(prior) != "base":
            raise UserInputError("a base-space path needs a flow prior; use linear")
        transform = torch.distributions.transforms.ComposeTransform(inner.transforms)
        base = _strip(inner.base_dist)  # standardised, so a user's base need not be N(0, I)
        to_base = lambda z: (transform.inv(z) - base.loc) / base.scale  # noqa: E731
        return to_base, (lambda u: transform(base.loc + base.scale * u))
    identity = lambda z: z  # noqa: E731
    return identity, identity
