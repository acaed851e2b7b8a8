"""The flat (improper) prior: p(z) ∝ 1, so the objective of a point-mass guide is the
reconstruction log-likelihood alone — the plain autoencoder."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import nn

from ppvae.errors import UserInputError


class FlatPrior(nn.Module):
    """The improper uniform "prior" over R^latent_dim: log p(z) = 0 everywhere.

    It has no normalising constant, so nothing can be sampled from it and a model using it
    has no log p(x): ppvae reports reconstruction terms only.  With a point-mass guide it
    turns the ELBO into the autoencoder's reconstruction objective.

    Arguments:
        latent_dim: size of z.

    Example:
        >>> p = FlatPrior(3)()
        >>> p.event_shape, p.log_prob(torch.randn(5, 3))
        (torch.Size([3]), tensor([0., 0., 0., 0., 0.]))
    """

    improper = True

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_shape = (int(latent_dim),)

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        return dist.ImproperUniform(constraints.real, torch.Size(), torch.Size(self.latent_shape))


def is_improper(prior: object) -> bool:
    """Whether ``prior`` is improper (nothing can be drawn from it, log p(x) is undefined).

    Example:
        >>> is_improper(FlatPrior(2)), is_improper(lambda context=None: None)
        (True, False)
    """
    return bool(getattr(prior, "improper", False))


def refuse_sampling(prior: object) -> None:
    """Raise a clear :class:`UserInputError` when asked to sample an improper prior.

    Example:
        >>> refuse_sampling(FlatPrior(2))
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: the flat prior is improper: an autoencoder with it has \
no generative distribution to sample (fit a VAE, or a sparse autoencoder's Laplace prior)
    """
    if is_improper(prior):
        raise UserInputError(
            "the flat prior is improper: an autoencoder with it has no generative "
            "distribution to sample (fit a VAE, or a sparse autoencoder's Laplace prior)"
        )
