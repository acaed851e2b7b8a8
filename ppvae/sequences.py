"""Sequence pictures: frame strips of samples, reconstructions and continuations.

A continuation encodes the first ``given`` frames of a sequence with the guide (the
posterior means of z_1..z_given), carries the latent sequence on with the prior's
``continuation`` (the Markov transition; independent draws for the i.i.d. prior) and
decodes every step.
"""

from __future__ import annotations

import torch
from torch import nn

from ppvae.errors import UserInputError


@torch.no_grad()
def continue_sequences(
    vae: nn.Module, x: torch.Tensor, given: int, y: torch.Tensor | None = None, mean: bool = False
) -> torch.Tensor:
    """Decoded means of sequences (B, T, ...) continued from their first ``given`` frames.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(5, 6), latent_dim=2, hidden=(8,),
        ...                             prior="markov"))
        >>> continue_sequences(vae, torch.rand(3, 5, 6), given=2).shape
        torch.Size([3, 5, 6])
    """
    prior = vae.prior
    if not hasattr(prior, "continuation"):
        raise UserInputError(f"the {type(prior).__name__} prior cannot continue a sequence")
    steps = x.shape[1]
    if not 1 <= given < steps:
        raise UserInputError(f"given must be between 1 and {steps - 1} frames, got {given}")
    z = vae.encode(x, y).mean  # (B, T, D): each z_t from frame t alone
    z = prior.continuation(z[:, :given], mean=mean)
    return vae.decode(z, y).mean


def frame_strips(sequences: list[torch.Tensor]) -> torch.Tensor:
    """Interleave several (B, T, *frame) tensors row by row: (B·len(sequences)·T, *frame),
    ready for a grid with T columns.

    Example:
        >>> frame_strips([torch.zeros(2, 3, 1, 4, 4), torch.ones(2, 3, 1, 4, 4)]).shape
        torch.Size([12, 1, 4, 4])
    """
    rows = torch.stack(sequences, dim=1)  # (B, S, T, *frame)
    return rows.reshape(-1, *rows.shape[3:])
