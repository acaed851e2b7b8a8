"""A conditional prior p(z | y): a Gaussian whose mean and scale depend on a context."""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from ppvae.errors import UserInputError


class ConditionalGaussian(nn.Module):
    """p(z | y) = N(loc(y), diag scale(y)²), with loc and scale from a small network of y.

    The prior of a conditional VAE: codes for different contexts (say, class labels as
    one-hot vectors) can live in different places. Closed-form KL to a Gaussian encoder.

    Arguments:
        latent_dim: size of z.
        context_dim: size of the context y (the number of classes for one-hot labels).
        hidden: width of the hidden layer (0: loc and scale are affine in y).

    Example:
        >>> p = ConditionalGaussian(2, context_dim=3)
        >>> y = torch.eye(3)[[0, 2]]
        >>> p(y).batch_shape, p(y).event_shape
        (torch.Size([2]), torch.Size([2]))

    References:
        Sohn, Lee & Yan. Learning structured output representation using deep conditional
        generative models (NeurIPS 2015).
    """

    needs_context = True

    def __init__(self, latent_dim: int, context_dim: int, hidden: int = 0) -> None:
        super().__init__()
        if context_dim < 1:
            raise UserInputError("the conditional prior needs a context (labels): context_dim >= 1")
        self.latent_shape = (int(latent_dim),)
        layers: list[nn.Module] = [nn.Linear(context_dim, hidden), nn.ReLU()] if hidden else []
        self.net = nn.Sequential(*layers, nn.Linear(hidden or context_dim, 2 * latent_dim))
        nn.init.zeros_(self.net[-1].weight)  # starts as N(0, softplus(0.5413)^2) = N(0, I)
        nn.init.constant_(self.net[-1].bias, 0.0)
        self.net[-1].bias.data[latent_dim:] = 0.5413

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        if context is None:
            raise UserInputError(
                "the conditional prior p(z|y) needs a context y (e.g. --context labels)"
            )
        loc, raw_scale = self.net(context.to(self.net[-1].weight.dtype)).chunk(2, dim=-1)
        return dist.Normal(loc, F.softplus(raw_scale) + 1e-5).to_event(1)
