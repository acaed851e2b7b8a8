"""Gaussian priors: the standard normal (over a vector or i.i.d. over a sequence) and a
learned diagonal Gaussian."""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from ppvae.models.priors.markov import sequence_steps


class StandardNormal(nn.Module):
    """The standard normal prior N(0, I) over a ``latent_dim``-vector.

    Arguments:
        latent_dim: size of z.

    Returns (from ``forward``):
        ``Normal(0, 1).expand([latent_dim]).to_event(1)``; the context is ignored.

    Example:
        >>> p = StandardNormal(3)()
        >>> p.batch_shape, p.event_shape
        (torch.Size([]), torch.Size([3]))
        >>> round(p.log_prob(torch.zeros(3)).item(), 4)
        -2.7568

    References:
        Kingma & Welling. Auto-encoding variational Bayes (ICLR 2014).
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_shape = (int(latent_dim),)
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        return dist.Normal(self.loc, self.scale).to_event(1)


class IIDNormal(nn.Module):
    """N(0, I) over a sequence of ``steps`` latent vectors: z_t independent across time.

    The baseline a Markov prior is compared with: same latent shape (T, D), same guide,
    no coupling between steps.

    Arguments:
        latent_dim: size of each z_t.
        steps: length T (0: the data's number of frames, or 5 without data).
        x_shape: shape of one data point (T, *frame), passed by ppvae.

    Example:
        >>> p = IIDNormal(2, steps=4)()
        >>> p.event_shape, round(p.log_prob(torch.zeros(4, 2)).item(), 4)
        (torch.Size([4, 2]), -7.3515)
    """

    def __init__(
        self, latent_dim: int, steps: int = 0, x_shape: tuple[int, ...] | None = None
    ) -> None:
        super().__init__()
        shape = (sequence_steps(steps, x_shape), int(latent_dim))
        self.latent_shape = shape
        self.register_buffer("loc", torch.zeros(shape))
        self.register_buffer("scale", torch.ones(shape))

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        return dist.Normal(self.loc, self.scale).to_event(2)

    @torch.no_grad()
    def continuation(self, z_prefix: torch.Tensor, mean: bool = False) -> torch.Tensor:
        """Continue latent sequences (..., t0, D): the steps are independent, so the rest
        are fresh draws from N(0, I) (or its mean, 0) whatever the prefix.

        Example:
            >>> IIDNormal(2, steps=4).continuation(torch.ones(3, 1, 2), mean=True)[0, -1]
            tensor([0., 0.])
        """
        rest = self.loc[z_prefix.shape[-2] :].expand(*z_prefix.shape[:-2], -1, -1)
        if not mean:
            rest = rest + torch.randn_like(rest)
        return torch.cat([z_prefix, rest], dim=-2)


class LearnedGaussian(nn.Module):
    """A diagonal Gaussian N(loc, diag(scale²)) whose mean and scales are learned.

    With a flexible decoder this adds little over N(0, I) (an affine map of z can absorb
    it), but it is the simplest learned prior and keeps a closed-form KL to the encoder.

    Arguments:
        latent_dim: size of z.

    Example:
        >>> p = LearnedGaussian(2)
        >>> p().event_shape, sorted(n for n, _ in p.named_parameters())
        (torch.Size([2]), ['loc', 'raw_scale'])

    References:
        Tomczak & Welling. VAE with a VampPrior (AISTATS 2018), for learned priors in general.
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_shape = (int(latent_dim),)
        self.loc = nn.Parameter(torch.zeros(latent_dim))
        self.raw_scale = nn.Parameter(torch.full((latent_dim,), math.log(math.e - 1)))  # scale 1

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        return dist.Normal(self.loc, F.softplus(self.raw_scale) + 1e-5).to_event(1)
