"""The decoded map of a two-dimensional latent space (Kingma & Welling, 2014, Fig. 4).

For a Gaussian prior the grid is evenly spaced in probability: z = μ + σ Φ⁻¹(q) for
quantiles q in (0, 1), so each cell holds equal prior mass.  For any other prior the
grid spans the central 98 % of the data's posterior means.
"""

from __future__ import annotations

import math

import torch
from pyro import distributions as dist
from torch import nn

from ppvae.errors import UserInputError
from ppvae.inference.evaluate import scoring
from ppvae.tasks.interpolation import _strip


@torch.no_grad()
def latent_grid(vae: nn.Module, n: int = 20, x: torch.Tensor | None = None) -> torch.Tensor:
    """An (n·n, 2) grid of codes covering the latent plane, row by row (top row: the
    largest z₂).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> grid = latent_grid(vae, n=3)
        >>> grid.shape, round(grid[4].abs().max().item(), 6)  # the centre is the prior mean
        (torch.Size([9, 2]), 0.0)
    """
    if n < 2:
        raise UserInputError(f"a latent map needs n >= 2, got {n}")
    prior = _strip(vae.prior(None))
    if is_probability_grid(vae):
        q = torch.linspace(0.5 / n, 1 - 0.5 / n, n)
        std = math.sqrt(2) * torch.erfinv(2 * q - 1)  # Φ⁻¹(q)
        axes = [prior.loc[i] + prior.scale[i] * std.to(prior.loc) for i in range(2)]
    else:
        if x is None:
            raise UserInputError("a latent map for a non-Gaussian prior needs data to span")
        with scoring(vae):
            means = vae.encode(x).mean.reshape(len(x), -1)
        if means.shape[1] != 2:
            raise UserInputError(f"a latent map needs 2 latent dimensions, got {means.shape[1]}")
        low, high = torch.quantile(means, 0.01, dim=0), torch.quantile(means, 0.99, dim=0)
        axes = [torch.linspace(low[i].item(), high[i].item(), n) for i in range(2)]
    z1, z2 = torch.meshgrid(axes[0], axes[1].flip(0), indexing="xy")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)


@torch.no_grad()
def latent_map(vae: nn.Module, n: int = 20, x: torch.Tensor | None = None) -> torch.Tensor:
    """Decoded means of :func:`latent_grid`: (n·n, *x_shape), row by row.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> latent_map(vae, n=4).shape
        torch.Size([16, 6])
    """
    with scoring(vae):
        size = vae.encode(x[:1]).mean[0].numel() if x is not None else None
    size = size if size is not None else vae.prior(None).sample().numel()
    if size != 2:
        raise UserInputError(
            f"a latent map needs a 2-dimensional latent; this model's has {size} numbers "
            "(ppvae embed shows larger codes in 2-D)"
        )
    grid = latent_grid(vae, n, x)
    device = next(vae.parameters()).device
    with scoring(vae):
        return vae.decode(grid.to(device)).mean


def is_probability_grid(vae: nn.Module) -> bool:
    """Whether :func:`latent_grid` spaces the grid by prior probability (a 2-d Gaussian
    prior) rather than over the data's codes.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> is_probability_grid(build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,))))
        True
    """
    prior = _strip(vae.prior(None))
    return isinstance(prior, dist.Normal) and prior.loc.numel() == 2
