"""Per-frame networks for sequence data x of shape (T, *frame) and latents z of shape (T, D).

The guide factorises over time, q(z | x) = Π_t q(z_t | x_t), with one network (an MLP by
default, or any encoder class with the same signature, e.g. the convolutional one) shared by
every frame; the decoder maps each z_t to the likelihood's parameters for frame t.  Everything
that couples the frames lives in the prior — an i.i.d. prior over (T, D) or the Markov
prior — so swapping the prior is the only difference between the two sequence models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyro.distributions as dist
import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.models.nets import MLPDecoder, MLPEncoder


class FrameEncoder(nn.Module):
    """q(z | x, y) = Π_t Normal(z_t; loc(x_t, y), scale(x_t, y)), event shape (T, D).

    Example:
        >>> enc = FrameEncoder((5, 1, 4, 4), latent_dim=3, hidden=(16,))
        >>> enc(torch.rand(2, 5, 1, 4, 4)).event_shape
        torch.Size([5, 3])
    """

    def __init__(
        self,
        x_shape: Sequence[int],
        latent_dim: int,
        hidden: Sequence[int] = (400,),
        context_dim: int = 0,
        activation: str = "relu",
        network: type[nn.Module] = MLPEncoder,
        **options: Any,
    ) -> None:
        super().__init__()
        self.x_shape = tuple(int(s) for s in x_shape)
        self.context_dim = int(context_dim)
        self.frame = network(
            self.x_shape[1:], latent_dim, hidden, context_dim, activation, **options
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dist.Distribution:
        per_frame = self.frame(x, _per_frame(y))  # batch (..., B, T), event (D,)
        return per_frame.to_event(1)


class FrameDecoder(nn.Module):
    """z of shape (..., B, T, D) → likelihood parameters (..., B, T, *frame_params).

    Example:
        >>> dec = FrameDecoder(3, (5, 1, 4, 4), hidden=(16,))
        >>> dec(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 5, 1, 4, 4])
    """

    def __init__(
        self,
        latent_dim: int,
        out_shape: Sequence[int],
        hidden: Sequence[int] = (400,),
        context_dim: int = 0,
        activation: str = "relu",
        network: type[nn.Module] = MLPDecoder,
        **options: Any,
    ) -> None:
        super().__init__()
        self.context_dim = int(context_dim)
        self.frame = network(
            latent_dim, tuple(out_shape)[1:], hidden, context_dim, activation, **options
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.frame(z, _per_frame(y))


def _per_frame(y: torch.Tensor | None) -> torch.Tensor | None:
    """A context (B, C) made to broadcast over frames: (B, 1, C)."""
    return None if y is None else y.unsqueeze(-2)


def check_sequence_shapes(x_shape: tuple, latent_shape: tuple, param_shape: tuple) -> None:
    """Refuse a sequence prior on data that are not sequences of the same length.

    Example:
        >>> check_sequence_shapes((1, 28, 28), (1, 5), (1, 28, 28))
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: the data are not sequences (one data point has shape \
(1, 28, 28)), but the prior is a sequence prior; use sequence data (N, T, ...) with T >= 2 \
frames, such as --data moving-digits, or a prior over single vectors
    """
    steps = latent_shape[0]
    if len(x_shape) < 2 or x_shape[0] < 2:
        raise UserInputError(
            f"the data are not sequences (one data point has shape {tuple(x_shape)}), but the "
            "prior is a sequence prior; use sequence data (N, T, ...) with T >= 2 frames, "
            "such as --data moving-digits, or a prior over single vectors"
        )
    if x_shape[0] != steps:
        raise UserInputError(
            f"the prior is a sequence prior over {steps} steps, but the data are sequences of "
            f"{x_shape[0]} frames; drop --prior-arg steps (it defaults to the data's frames) or "
            "set it to the number of frames"
        )
    if param_shape[0] != steps:
        raise UserInputError(
            "sequence models need a likelihood with one parameter per value (bernoulli, "
            "continuous-bernoulli or gaussian)"
        )
