"""Independent Bernoulli pixels whose log-probability sums before it negates.

``Bernoulli(logits).to_event(n).log_prob(x)`` computes ``-bce(logits, x)`` for every pixel
and then sums: one full extra pass over a (samples x batch x pixels) tensor, which is
about a tenth of the cost of importance-sampled evaluation.  This subclass returns the
same value as ``-bce(...).sum(event dims)``; everything else is torch's ``Independent``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pyro.distributions import Bernoulli, Independent


class IndependentBernoulli(Independent):
    """``Bernoulli(logits=logits).to_event(event_dims)`` with a faster ``log_prob``.

    Example:
        >>> logits = torch.randn(3, 4)
        >>> x = torch.bernoulli(torch.full((3, 4), 0.5))
        >>> fast = IndependentBernoulli(logits, 1).log_prob(x)
        >>> ref = Bernoulli(logits=logits).to_event(1).log_prob(x)
        >>> torch.allclose(fast, ref)
        True
    """

    def __init__(
        self, logits: torch.Tensor, event_dims: int, validate_args: bool | None = None
    ) -> None:
        super().__init__(Bernoulli(logits=logits), event_dims, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        logits = self.base_dist.logits.expand(batch_shape + self.event_shape)
        return IndependentBernoulli(logits, self.reinterpreted_batch_ndims)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits = self.base_dist.logits
        shape = torch.broadcast_shapes(logits.shape, value.shape)
        bce = F.binary_cross_entropy_with_logits(
            logits.expand(shape), value.expand(shape), reduction="none"
        )
        dims = tuple(range(-self.reinterpreted_batch_ndims, 0))
        return -bce.sum(dims)
