"""A mixture of Gaussians prior with learned weights, means and scales."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

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

    def forward(self, context: torch.Tensor | None = None) -> DiagonalGaussianMixture:
        scales = F.softplus(self.raw_scales) + 1e-5
        return DiagonalGaussianMixture(self.logits, self.locs, scales)
