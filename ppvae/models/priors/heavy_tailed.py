"""Heavy-tailed priors: Laplace (sparse codes, the MAP view of an L1 penalty) and Student-t."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import nn


class LaplacePrior(nn.Module):
    """Independent Laplace(0, scale) coordinates: sharper peak and heavier tails than N(0, 1).

    Arguments:
        latent_dim: size of z.
        scale: the Laplace scale b (variance 2b²); fixed.

    Example:
        >>> p = LaplacePrior(2, scale=0.5)()
        >>> round(p.log_prob(torch.zeros(2)).item(), 4)  # 2 * log(1 / (2 * 0.5))
        0.0

    References:
        Tibshirani. Regression shrinkage and selection via the lasso (JRSS-B 1996), for
        the Laplace prior as an L1 penalty.
    """

    def __init__(self, latent_dim: int, scale: float = 1.0) -> None:
        super().__init__()
        self.latent_shape = (int(latent_dim),)
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.full((latent_dim,), float(scale)))

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        return dist.Laplace(self.loc, self.scale).to_event(1)


class StudentTPrior(nn.Module):
    """Independent Student-t(df, 0, scale) coordinates: polynomial tails for outlying codes.

    Arguments:
        latent_dim: size of z.
        df: degrees of freedom (smaller: heavier tails; 1 is Cauchy).
        scale: the t scale; fixed.

    Example:
        >>> p = StudentTPrior(3, df=4.0)()
        >>> p.event_shape, bool(p.log_prob(torch.full((3,), 10.0)) > -50)
        (torch.Size([3]), True)

    References:
        Takahashi et al. Student-t variational autoencoder for robust density estimation
        (IJCAI 2018).
    """

    def __init__(self, latent_dim: int, df: float = 3.0, scale: float = 1.0) -> None:
        super().__init__()
        self.latent_shape = (int(latent_dim),)
        self.register_buffer("df", torch.full((latent_dim,), float(df)))
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.full((latent_dim,), float(scale)))

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        return dist.StudentT(self.df, self.loc, self.scale).to_event(1)
