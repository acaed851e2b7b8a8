"""Priors p(z): ``nn.Module`` objects whose ``forward(context=None)`` returns a Distribution.

A prior is a *lazy distribution*: calling it builds the distribution from its (possibly
learned) parameters, so the same object serves sampling, scoring and optimisation.
Its batch shape is ``()`` (or the context's batch); its event shape is the latent shape.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import nn


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
        self.latent_dim = int(latent_dim)
        self.register_buffer("loc", torch.zeros(self.latent_dim))
        self.register_buffer("scale", torch.ones(self.latent_dim))

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        return dist.Normal(self.loc, self.scale).to_event(1)
