"""A logistic distribution discretised to ``num_bins`` grey levels on [0, 1].

Used for 8-bit images: the value ``k / (num_bins - 1)`` gets the logistic probability mass
of its bin, and the two end bins absorb the tails (Salimans et al., 2017).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from pyro.distributions import TorchDistribution
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all


def _log1mexp(a: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(a)) for a < 0, accurate at both ends (Mächler, 2012).

    Each branch of the ``torch.where`` only ever sees inputs where it is finite, and ``a``
    is clamped just below 0, so an unselected or saturated branch cannot send NaN into
    the gradient.
    """
    a = a.clamp(max=-1e-30)
    near_zero = a > -math.log(2.0)
    safe = torch.full_like(a, -1.0)
    near = torch.log(-torch.expm1(torch.where(near_zero, a, safe)))
    far = torch.log1p(-torch.exp(torch.where(near_zero, safe, a)))
    return torch.where(near_zero, near, far)


def _log_sigmoid_difference(plus: torch.Tensor, minus: torch.Tensor) -> torch.Tensor:
    """log(sigmoid(plus) - sigmoid(minus)) for plus > minus, from whichever tail is not
    saturated: the lower tail below the logistic's centre, the upper tail above it."""
    lower = F.logsigmoid(plus) + _log1mexp(F.logsigmoid(minus) - F.logsigmoid(plus))
    upper = F.logsigmoid(-minus) + _log1mexp(F.logsigmoid(-plus) - F.logsigmoid(-minus))
    return torch.where(plus + minus > 0, upper, lower)


class DiscretizedLogistic(TorchDistribution):
    """Logistic(loc, exp(log_scale)) discretised to ``num_bins`` levels in [0, 1].

    Arguments:
        loc: location on the [0, 1] scale.
        log_scale: log of the logistic scale (clamped below at -7 for stability).
        num_bins: number of grey levels (256 for 8-bit data).

    Example:
        >>> d = DiscretizedLogistic(torch.tensor(0.5), torch.tensor(-2.0), num_bins=4)
        >>> grid = torch.arange(4) / 3
        >>> round(d.log_prob(grid).exp().sum().item(), 6)
        1.0

    References:
        Salimans, Karpathy, Chen, Kingma. PixelCNN++ (ICLR 2017).
    """

    arg_constraints: ClassVar[dict] = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(
        self,
        loc: torch.Tensor,
        log_scale: torch.Tensor,
        num_bins: int = 256,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.log_scale = broadcast_all(loc, log_scale)
        self.num_bins = int(num_bins)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return DiscretizedLogistic(
            self.loc.expand(batch_shape), self.log_scale.expand(batch_shape), self.num_bins
        )

    @property
    def _half_width(self) -> float:
        return 0.5 / (self.num_bins - 1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        inv_scale = torch.exp(-self.log_scale.clamp(min=-7.0))
        centred = value - self.loc
        plus = inv_scale * (centred + self._half_width)
        minus = inv_scale * (centred - self._half_width)
        middle = _log_sigmoid_difference(plus, minus)  # P(lower edge < X <= upper edge)
        bottom, top = F.logsigmoid(plus), F.logsigmoid(-minus)  # the two end bins take the tails
        level = torch.round(value * (self.num_bins - 1))
        return torch.where(level <= 0, bottom, torch.where(level >= self.num_bins - 1, top, middle))

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:  # noqa: B008
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
            u = u.clamp(1e-6, 1 - 1e-6)
            x = self.loc + self.log_scale.exp() * (torch.log(u) - torch.log1p(-u))
            return torch.round(x.clamp(0.0, 1.0) * (self.num_bins - 1)) / (self.num_bins - 1)

    @property
    def mean(self) -> torch.Tensor:
        levels = torch.arange(self.num_bins, dtype=self.loc.dtype, device=self.loc.device)
        grid = levels / (self.num_bins - 1)  # (L,)
        log_p = self.unsqueeze_bins().log_prob(grid)  # (..., L)
        return (log_p.exp() * grid).sum(-1)

    def unsqueeze_bins(self) -> DiscretizedLogistic:
        """The same distribution with a trailing size-1 dimension, to broadcast over bins."""
        return DiscretizedLogistic(
            self.loc.unsqueeze(-1), self.log_scale.unsqueeze(-1), self.num_bins
        )
