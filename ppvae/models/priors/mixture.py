"""A mixture of Gaussians prior with learned weights, means and scales."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ppvae.errors import UserInputError
from ppvae.models.priors.gaussian_mixture import DiagonalGaussianMixture


class MixtureOfGaussians(nn.Module):
    """p(z) = Σ_k π_k N(z; μ_k, diag σ_k²), everything learned.

    A multi-modal prior lets the code space form clusters (one per mode) instead of being
    squeezed into one Gaussian blob. There is no closed-form KL to a Gaussian encoder, so
    the ELBO uses Monte-Carlo KL automatically.

    Arguments:
        latent_dim: size of z.
        components: number of mixture components K.
        spread: standard deviation of the initial component means.

    Example:
        >>> p = MixtureOfGaussians(2, components=5)
        >>> d = p()
        >>> d.event_shape, d.sample((4,)).shape
        (torch.Size([2]), torch.Size([4, 2]))

    References:
        Dilokthanakul et al. Deep unsupervised clustering with Gaussian mixture variational
        autoencoders (2016); Tomczak & Welling, VAE with a VampPrior (AISTATS 2018).
    """

    def __init__(self, latent_dim: int, components: int = 10, spread: float = 1.0) -> None:
        super().__init__()
        self.latent_shape = (int(latent_dim),)
        self.logits = nn.Parameter(torch.zeros(components))
        self.locs = nn.Parameter(spread * torch.randn(components, latent_dim))
        self.raw_scales = nn.Parameter(torch.full((components, latent_dim), math.log(math.e - 1)))

    def init_from_data(self, z: torch.Tensor, x: torch.Tensor | None = None) -> None:
        """Start the means at distinct random draws ``z`` (N, latent_dim), equal weights,
        and each scale at half the draws' spread in that dimension (``x`` unused).

        Example:
            >>> p = MixtureOfGaussians(2, components=3)
            >>> p.init_from_data(torch.arange(10.0).repeat(2, 1).T)
            >>> bool((p.locs == p.locs.round()).all()), p().scale.shape
            (True, torch.Size([3, 2]))
        """
        k = self.locs.shape[0]
        if len(z) < k:
            raise UserInputError(f"{k} components need at least {k} draws, got {len(z)}")
        self.locs.data.copy_(z[torch.randperm(len(z))[:k]].to(self.locs))
        scale = (0.5 * z.std(dim=0)).clamp_min(1e-3).to(self.locs)
        self.raw_scales.data.copy_(torch.log(torch.expm1(scale)).expand_as(self.raw_scales))
        self.logits.data.zero_()

    def forward(self, context: torch.Tensor | None = None) -> DiagonalGaussianMixture:
        scales = F.softplus(self.raw_scales) + 1e-5
        return DiagonalGaussianMixture(self.logits, self.locs, scales)
