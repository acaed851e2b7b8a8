"""Likelihoods p(x | z): turn a decoder's output into a distribution over one data point.

Each likelihood is an ``nn.Module`` that knows the decoder output it needs
(``param_shape``), builds a distribution whose event shape is the data shape, and checks
that data lie in its support.  Chosen by one flag: ``bernoulli`` (binary data, logits),
``continuous-bernoulli`` (grey levels in [0, 1]), ``gaussian`` (real data, learned per-pixel
scale), ``mse`` (real data, unit scale: squared error) and ``logistic`` (256 grey levels,
discretised logistic).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import pyro.distributions as dist
import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.models.discretized_logistic import DiscretizedLogistic
from ppvae.models.independent_bernoulli import IndependentBernoulli


class Likelihood(nn.Module):
    """Base class: subclasses set ``name``, ``discrete``, ``binary`` and implement ``forward``.

    Attributes:
        discrete: the data are discrete, so log p(x) is a log-probability mass and
            bits per dimension are meaningful.
        binary: the data must be 0/1 (binarise grey levels first).
    """

    name: ClassVar[str]
    discrete: ClassVar[bool]
    binary: ClassVar[bool] = False

    def __init__(self, x_shape: Sequence[int]) -> None:
        super().__init__()
        self.x_shape = tuple(int(s) for s in x_shape)

    @property
    def param_shape(self) -> tuple[int, ...]:
        """Shape of the decoder output for one data point."""
        return self.x_shape

    def forward(self, params: torch.Tensor) -> dist.Distribution:
        raise NotImplementedError

    def _event(self, d: dist.Distribution) -> dist.Distribution:
        return d.to_event(len(self.x_shape))

    def check_data(self, x: torch.Tensor) -> None:
        """Raise :class:`UserInputError` unless every value of ``x`` is in the support."""
        if not torch.isfinite(x).all():
            raise UserInputError("the data contain NaN or infinite values")


class Bernoulli(Likelihood):
    """Bernoulli pixels with logits from the decoder; for binary (binarised) data.

    Example:
        >>> lik = Bernoulli((4,))
        >>> lik(torch.zeros(2, 4)).log_prob(torch.ones(2, 4))
        tensor([-2.7726, -2.7726])
    """

    name = "bernoulli"
    discrete = True
    binary = True

    def forward(self, params: torch.Tensor) -> dist.Distribution:
        return IndependentBernoulli(params, len(self.x_shape))

    def check_data(self, x: torch.Tensor) -> None:
        super().check_data(x)
        if not ((x == 0) | (x == 1)).all():
            raise UserInputError(
                "the bernoulli likelihood needs 0/1 data: binarise grey levels "
                "(--binarize dynamic or static) or choose --likelihood continuous-bernoulli"
            )


def _check_unit_interval(x: torch.Tensor, name: str) -> None:
    if (x < 0).any() or (x > 1).any():
        raise UserInputError(
            f"the {name} likelihood needs data in [0, 1]; found values in "
            f"[{x.min().item():.4g}, {x.max().item():.4g}] (rescale, or use --likelihood gaussian)"
        )


class ContinuousBernoulli(Likelihood):
    """Continuous Bernoulli on [0, 1], a normalised Bernoulli for grey levels.

    Example:
        >>> lik = ContinuousBernoulli((3,))
        >>> lik(torch.zeros(3)).log_prob(torch.full((3,), 0.25))  # uniform at logits 0
        tensor(0.)

    References:
        Loaiza-Ganem & Cunningham. The continuous Bernoulli (NeurIPS 2019).
    """

    name = "continuous-bernoulli"
    discrete = False

    def forward(self, params: torch.Tensor) -> dist.Distribution:
        return self._event(dist.ContinuousBernoulli(logits=params))

    def check_data(self, x: torch.Tensor) -> None:
        super().check_data(x)
        _check_unit_interval(x, self.name)


class Gaussian(Likelihood):
    """Normal(loc, scale) per dimension: loc from the decoder, a learned scale per dimension.

    Arguments:
        x_shape: shape of one data point.
        init_scale: starting value of every scale.
        learn_scale: if False, the scale stays at ``init_scale``.

    Example:
        >>> lik = Gaussian((2,), init_scale=1.0)
        >>> lik(torch.zeros(2)).log_prob(torch.zeros(2))
        tensor(-1.8379, grad_fn=<SumBackward1>)
    """

    name = "gaussian"
    discrete = False

    def __init__(
        self, x_shape: Sequence[int], init_scale: float = 1.0, learn_scale: bool = True
    ) -> None:
        super().__init__(x_shape)
        log_scale = torch.full(self.x_shape, math.log(init_scale))
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:  # a buffer: same state_dict key, and nothing for Pyro's param store
            self.register_buffer("log_scale", log_scale)

    def forward(self, params: torch.Tensor) -> dist.Distribution:
        return self._event(dist.Normal(params, self.log_scale.exp()))


class SquaredError(Gaussian):
    """Normal(loc, 1) per dimension: log p(x|z) = −½‖x − loc‖² − (D/2) log 2π.

    Maximising it is least squares, the loss of the classic autoencoder (and of the linear
    autoencoder that recovers PCA); the unit scale is fixed.

    Example:
        >>> lik = SquaredError((2,))
        >>> lik(torch.zeros(2)).log_prob(torch.ones(2)) + math.log(2 * math.pi)
        tensor(-1.)
    """

    name = "mse"

    def __init__(self, x_shape: Sequence[int]) -> None:
        super().__init__(x_shape, init_scale=1.0, learn_scale=False)


class Logistic256(Likelihood):
    """Discretised logistic over 256 grey levels k/255; decoder gives loc and log-scale.

    Example:
        >>> lik = Logistic256((5,))
        >>> lik.param_shape
        (2, 5)
    """

    name = "logistic"
    discrete = True
    num_bins = 256

    @property
    def param_shape(self) -> tuple[int, ...]:
        return (2, *self.x_shape)

    def forward(self, params: torch.Tensor) -> dist.Distribution:
        n = len(self.x_shape)
        loc, log_scale = params.unbind(dim=-n - 1)
        return self._event(DiscretizedLogistic(loc, log_scale, self.num_bins))

    def check_data(self, x: torch.Tensor) -> None:
        super().check_data(x)
        _check_unit_interval(x, self.name)
        levels = x * (self.num_bins - 1)
        if (levels - levels.round()).abs().max() > 1e-4:
            raise UserInputError(
                "the logistic likelihood needs 8-bit grey levels k/255; these data are "
                "continuous (use --likelihood gaussian or continuous-bernoulli)"
            )


LIKELIHOODS: dict[str, type[Likelihood]] = {
    cls.name: cls for cls in (Bernoulli, ContinuousBernoulli, Gaussian, SquaredError, Logistic256)
}


def likelihood_class(name: str) -> type[Likelihood]:
    """The likelihood class registered under ``name``.

    Example:
        >>> likelihood_class("bernoulli").binary
        True
    """
    if name not in LIKELIHOODS:
        raise UserInputError(f"unknown likelihood {name!r}; choose one of {', '.join(LIKELIHOODS)}")
    return LIKELIHOODS[name]


def make_likelihood(name: str, x_shape: Sequence[int]) -> Likelihood:
    """Build the likelihood registered under ``name`` for data of shape ``x_shape``.

    Example:
        >>> make_likelihood("bernoulli", (64,)).name
        'bernoulli'
    """
    return likelihood_class(name)(x_shape)
