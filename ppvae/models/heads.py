"""Encoder heads: the last (linear) layer of an encoder, turning features into q(z | x).

``normal`` gives the VAE's Gaussian guide; ``delta`` gives a point mass at the code
(the deterministic autoencoders), optionally squashed into (0, 1) by a sigmoid (the code
of a KL-sparse autoencoder, whose units are read as firing rates).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from ppvae.errors import UserInputError

GUIDES = ("normal", "delta")
CODES = ("linear", "sigmoid")


class NormalHead(nn.Linear):
    """q(z | x) = Normal(loc, softplus(raw) + min_scale), diagonal.

    Example:
        >>> q = NormalHead(8, (2,))(torch.zeros(5, 8))
        >>> q.batch_shape, q.event_shape
        (torch.Size([5]), torch.Size([2]))
    """

    def __init__(self, features: int, latent_shape: Sequence[int], min_scale: float = 1e-5):
        super().__init__(features, 2 * math.prod(latent_shape))
        self.latent_shape = tuple(latent_shape)
        self.min_scale = float(min_scale)

    @property
    def code_weight(self) -> torch.Tensor:
        """Rows of ``weight`` that produce the code (the mean): (Dz, features)."""
        return self.weight[: math.prod(self.latent_shape)]

    def code_derivative(self, h: torch.Tensor) -> torch.Tensor | None:
        """d code / d pre-activation, per unit (``None``: the code is linear in it)."""
        return None

    def forward(self, h: torch.Tensor) -> dist.Distribution:
        loc, raw_scale = super().forward(h).chunk(2, dim=-1)  # (B, Dz) each
        loc = loc.unflatten(-1, self.latent_shape)
        scale = F.softplus(raw_scale.unflatten(-1, self.latent_shape)) + self.min_scale
        return dist.Normal(loc, scale).to_event(len(self.latent_shape))


class DeltaHead(nn.Linear):
    """q(z | x) = δ(z − code(x)): a point mass, so the "posterior" is the encoder's code.

    Arguments:
        features: width of the features fed to the head.
        latent_shape: shape of z.
        code: ``linear`` (any real code) or ``sigmoid`` (codes in (0, 1)).

    Example:
        >>> q = DeltaHead(8, (3,), code="sigmoid")(torch.zeros(5, 8))
        >>> q.event_shape, bool(((q.mean > 0) & (q.mean < 1)).all())
        (torch.Size([3]), True)
    """

    def __init__(self, features: int, latent_shape: Sequence[int], code: str = "linear"):
        if code not in CODES:
            raise UserInputError(f"unknown code {code!r}; choose one of {', '.join(CODES)}")
        super().__init__(features, math.prod(latent_shape))
        self.latent_shape = tuple(latent_shape)
        self.code = code

    @property
    def code_weight(self) -> torch.Tensor:
        """``weight``: (Dz, features)."""
        return self.weight

    def code_derivative(self, h: torch.Tensor) -> torch.Tensor | None:
        """σ'(a) = σ(a)(1 − σ(a)) per unit for sigmoid codes, ``None`` for linear ones."""
        if self.code == "linear":
            return None
        s = torch.sigmoid(super().forward(h))
        return s * (1 - s)

    def forward(self, h: torch.Tensor) -> dist.Distribution:
        v = super().forward(h)  # (B, Dz)
        if self.code == "sigmoid":
            v = torch.sigmoid(v)
        return dist.Delta(v.unflatten(-1, self.latent_shape), event_dim=len(self.latent_shape))


def make_head(
    guide: str,
    features: int,
    latent_shape: Sequence[int],
    min_scale: float = 1e-5,
    code: str = "linear",
) -> nn.Module:
    """The encoder head for ``guide`` (``normal`` or ``delta``).

    Example:
        >>> type(make_head("delta", 4, (2,))).__name__
        'DeltaHead'
    """
    if guide == "normal":
        if code != "linear":
            raise UserInputError("a sigmoid code needs the point-mass guide (--guide delta)")
        return NormalHead(features, latent_shape, min_scale)
    if guide == "delta":
        return DeltaHead(features, latent_shape, code)
    raise UserInputError(f"unknown guide {guide!r}; choose one of {', '.join(GUIDES)}")
