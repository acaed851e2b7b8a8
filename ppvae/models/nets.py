"""Encoders and decoders: the networks inside the guide and the likelihood.

An encoder maps data ``x`` (and optional context ``y``) to the guide's distribution
q(z | x, y); a decoder maps a latent ``z`` (and ``y``) to the parameters of the likelihood.
Depth and width are options: a *stacked* autoencoder is simply ``hidden=(500, 250)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pyro.distributions as dist
import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.models.heads import make_head

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}
# Every hidden nonlinearity: the elementwise ones above, and gated linear units (Dauphin et
# al. 2017), as in the VampPrior and Exemplar VAE nets: the layer before computes 2n
# features a, b and the unit passes a * sigmoid(b). Build layers with widened() and
# nonlinearity(), which know about the gates, not from ACTIVATIONS directly.
ACTIVATION_NAMES: tuple[str, ...] = (*ACTIVATIONS, "gated")


def check_activation(activation: str) -> None:
    """Refuse an activation name that is not in :data:`ACTIVATION_NAMES`.

    Example:
        >>> check_activation("gated")
    """
    if activation not in ACTIVATION_NAMES:
        raise UserInputError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATION_NAMES)}"
        )


def widened(activation: str, width: int) -> int:
    """How many features a layer must compute for ``width`` units after ``activation``:
    twice as many for ``gated`` units (half of them are the gates), else ``width``.

    Example:
        >>> widened("relu", 300), widened("gated", 300)
        (300, 600)
    """
    return 2 * width if activation == "gated" else width


def nonlinearity(activation: str, dim: int = -1) -> nn.Module:
    """The module that follows a layer; ``dim`` is the feature (channel) axis that gated
    units split into values and gates (``-3`` after a convolution).

    Example:
        >>> nonlinearity("gated")(torch.tensor([[2.0, 0.0]]))
        tensor([[1.]])
    """
    check_activation(activation)
    return nn.GLU(dim) if activation == "gated" else ACTIVATIONS[activation]()


def mlp(sizes: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """A stack of ``Linear`` layers, each followed by ``activation``.

    Arguments:
        sizes: layer widths, input first (``[784, 400]`` is one hidden layer of 400).
        activation: one of ``relu``, ``tanh``, ``elu``, ``gelu``, ``softplus``, ``sigmoid``,
            or ``gated`` (each ``Linear`` computes twice the width, values and gates).

    Returns:
        ``nn.Sequential``; empty (the identity) when ``sizes`` has one entry.

    Example:
        >>> mlp([4, 8, 8])(torch.zeros(2, 4)).shape
        torch.Size([2, 8])
        >>> mlp([4, 8], "gated")
        Sequential(
          (0): Linear(in_features=4, out_features=16, bias=True)
          (1): GLU(dim=-1)
        )
    """
    check_activation(activation)
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [nn.Linear(n_in, widened(activation, n_out)), nonlinearity(activation)]
    return nn.Sequential(*layers)


def as_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    """A latent size or shape as a tuple: ``8`` -> ``(8,)``, ``(10, 4)`` -> ``(10, 4)``.

    Example:
        >>> as_shape(8), as_shape([10, 4])
        ((8,), (10, 4))
    """
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


def _with_context(h: torch.Tensor, y: torch.Tensor | None, context_dim: int) -> torch.Tensor:
    """Append the context ``y`` (shape (B, C)) to features ``h`` (shape (..., B, F))."""
    if context_dim == 0:
        return h
    if y is None:
        raise UserInputError("this network was built with a context input; pass y")
    if y.dim() < 2 or y.shape[-1] != context_dim:
        raise UserInputError(
            f"the context y must have shape (batch, {context_dim}), got {tuple(y.shape)}; "
            "one-hot encode class labels"
        )
    y = y.to(h.dtype).expand(*h.shape[:-1], context_dim)
    return torch.cat([h, y], dim=-1)


class MLPEncoder(nn.Module):
    """Encoder q(z | x, y): Normal(loc, scale) with a diagonal covariance, or a point mass.

    Arguments:
        x_shape: shape of one data point, e.g. ``(1, 28, 28)`` or ``(64,)``.
        latent_shape: size of z, or its shape (``(T, D)`` for a sequence prior).
        hidden: widths of the hidden layers (depth = ``len(hidden)``).
        context_dim: size of the optional context ``y`` concatenated to the input.
        activation: hidden-layer nonlinearity.
        min_scale: floor added to the softplus scale, for numerical safety.
        guide: ``normal`` (a VAE) or ``delta`` (a point mass at the code: an autoencoder).
        code: ``linear`` or ``sigmoid`` (codes in (0, 1); point-mass guide only).

    Returns (from ``forward``):
        ``Normal(loc, scale).to_event(len(latent_shape))`` (or ``Delta(code)``) with batch
        shape ``x.shape[:-len(x_shape)]``.

    Example:
        >>> enc = MLPEncoder((64,), latent_shape=2, hidden=(16,))
        >>> q = enc(torch.rand(5, 64))
        >>> q.batch_shape, q.event_shape
        (torch.Size([5]), torch.Size([2]))
        >>> MLPEncoder((64,), latent_shape=(3, 2))(torch.rand(5, 64)).event_shape
        torch.Size([3, 2])
    """

    def __init__(
        self,
        x_shape: Sequence[int],
        latent_shape: int | Sequence[int],
        hidden: Sequence[int] = (400,),
        context_dim: int = 0,
        activation: str = "relu",
        min_scale: float = 1e-5,
        guide: str = "normal",
        code: str = "linear",
    ) -> None:
        super().__init__()
        self.x_shape = tuple(int(s) for s in x_shape)
        self.latent_shape = as_shape(latent_shape)
        self.context_dim = int(context_dim)
        self.min_scale = float(min_scale)
        sizes = [math.prod(self.x_shape) + self.context_dim, *hidden]
        self.body = mlp(sizes, activation)
        self.head = make_head(guide, sizes[-1], self.latent_shape, min_scale, code)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The last hidden layer's activations (B, H): what the head sees."""
        h = x.flatten(start_dim=x.dim() - len(self.x_shape))  # (B, Dx)
        return self.body(_with_context(h, y, self.context_dim))  # (B, H)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dist.Distribution:
        return self.head(self.features(x, y))


class MLPDecoder(nn.Module):
    """Decoder from z (and context y) to the likelihood's parameters.

    Arguments:
        latent_shape: size of z, or its shape (flattened on input).
        out_shape: shape of the parameter tensor for one data point (the likelihood's
            ``param_shape``), e.g. ``(1, 28, 28)`` for Bernoulli logits.
        hidden: widths of the hidden layers, from z outwards.
        context_dim: size of the optional context ``y``.
        activation: hidden-layer nonlinearity.

    Returns (from ``forward``):
        a tensor of shape ``z.shape[:-1] + out_shape``.

    Example:
        >>> dec = MLPDecoder(2, (1, 8, 8), hidden=(16,))
        >>> dec(torch.zeros(3, 5, 2)).shape
        torch.Size([3, 5, 1, 8, 8])
    """

    def __init__(
        self,
        latent_shape: int | Sequence[int],
        out_shape: Sequence[int],
        hidden: Sequence[int] = (400,),
        context_dim: int = 0,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.latent_shape = as_shape(latent_shape)
        self.out_shape = tuple(int(s) for s in out_shape)
        self.context_dim = int(context_dim)
        sizes = [math.prod(self.latent_shape) + self.context_dim, *hidden]
        self.body = mlp(sizes, activation)
        self.head = nn.Linear(sizes[-1], math.prod(self.out_shape))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = z.flatten(start_dim=z.dim() - len(self.latent_shape))  # (..., B, Dz)
        h = self.body(_with_context(z, y, self.context_dim))  # (..., B, H)
        return self.head(h).unflatten(-1, self.out_shape)  # (..., B, *out_shape)
