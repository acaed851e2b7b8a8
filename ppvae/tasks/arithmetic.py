"""Latent arithmetic: an attribute as the difference of two classes' mean codes.

    v = mean_x∈target E_q[z|x] − mean_x∈source E_q[z|x]

Adding s·v to a source image's code and decoding moves it towards the target class
(Fashion-MNIST: shirt → pullover); s = 0 gives back the reconstruction (for a hierarchical
VAE, the decode of the top code, with z_lower at its prior mean given it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.inference.evaluate import scoring


@torch.no_grad()
def mean_code(vae: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The mean of the posterior means E_q[z|x] over ``x``: (*latent_shape).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
        >>> mean_code(vae, torch.rand(10, 6)).shape
        torch.Size([3])
    """
    if len(x) == 0:
        raise UserInputError("no data points to average the codes of")
    with scoring(vae):
        batches = range(0, len(x), batch_size)
        total = sum(vae.encode(x[i : i + batch_size]).mean.sum(0) for i in batches)
    return total / len(x)


def attribute_vector(vae: nn.Module, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean code of ``target`` minus mean code of ``source``: (*latent_shape).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
        >>> x = torch.rand(10, 6)
        >>> attribute_vector(vae, x, x).abs().max().item()
        0.0
    """
    return mean_code(vae, target) - mean_code(vae, source)


STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0)  # multiples of an attribute vector shown by default


@torch.no_grad()
def apply_attribute(
    vae: nn.Module,
    x: torch.Tensor,
    vector: torch.Tensor,
    strengths: Sequence[float] = STRENGTHS,
) -> torch.Tensor:
    """Decoded means of E_q[z|x] + s·vector for each data point and strength:
    (N, len(strengths), *x_shape).  Strength 0 is the reconstruction (of the top code, for
    a hierarchical VAE).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
        >>> x = torch.rand(4, 6)
        >>> out = apply_attribute(vae, x, torch.zeros(3), strengths=[0, 1])
        >>> out.shape, bool(torch.allclose(out[:, 1], vae.reconstruct(x), atol=1e-6))
        (torch.Size([4, 2, 6]), True)
    """
    if not strengths:
        raise UserInputError("give at least one strength")
    with scoring(vae):
        return _moved(vae, x, vector, strengths)


def _moved(vae, x, vector, strengths) -> torch.Tensor:
    codes = vae.encode(x).mean  # (N, *latent)
    if vector.shape != codes.shape[1:]:
        raise UserInputError(
            f"the attribute vector has shape {tuple(vector.shape)}, "
            f"the codes {tuple(codes.shape[1:])}"
        )
    s = torch.as_tensor(list(strengths), dtype=codes.dtype, device=codes.device)
    moved = codes[:, None] + s.reshape(1, -1, *([1] * vector.dim())) * vector  # (N, S, *latent)
    decoded = vae.decode(moved.reshape(-1, *codes.shape[1:])).mean
    return decoded.reshape(len(x), len(s), *decoded.shape[1:])
