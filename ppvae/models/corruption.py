"""Input corruption for denoising autoencoders: the guide sees x̃ ~ C(x̃ | x), the model
still scores the clean x.

    mask         each value set to 0 with probability ``level`` (zero-masking noise, the
                 original denoising autoencoder)
    gaussian     x + level · ε,  ε ~ N(0, 1)
    salt-pepper  each value, with probability ``level``, replaced by 0 or 1 (equally likely)

The corruption is applied only while the module is training; evaluation, reconstruction
and encoding see the clean input unless it is corrupted explicitly with :func:`corrupt`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ppvae.errors import UserInputError

CORRUPTIONS = ("none", "mask", "gaussian", "salt-pepper")


def check_corruption(kind: str, level: float) -> None:
    """Refuse an unknown kind or a level outside its range.

    Example:
        >>> check_corruption("mask", 1.5)
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: the mask noise level is a probability in [0, 1), got 1.5
    """
    if kind not in CORRUPTIONS:
        raise UserInputError(f"unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)}")
    if not math.isfinite(level) or level < 0:
        raise UserInputError(f"the noise level must be a finite number >= 0, got {level}")
    if kind in ("mask", "salt-pepper") and level >= 1:
        raise UserInputError(f"the {kind} noise level is a probability in [0, 1), got {level}")


def corrupt(
    x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A corrupted copy of ``x`` (the input is never modified).

    Example:
        >>> x = torch.ones(1000)
        >>> g = torch.Generator().manual_seed(0)
        >>> abs(1 - corrupt(x, "mask", 0.25, g).mean().item() - 0.25) < 0.05  # a quarter zeroed
        True
        >>> bool((corrupt(x, "none", 0.5) == x).all())
        True
    """
    check_corruption(kind, level)
    if kind == "none" or level == 0:
        return x.clone()
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + level * noise
    hit = torch.rand(x.shape, generator=generator, device=x.device) < level
    if kind == "mask":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


class Corruption(nn.Module):
    """Corrupts its input while training and passes it through unchanged otherwise.

    Arguments:
        kind: ``none``, ``mask``, ``gaussian`` or ``salt-pepper``.
        level: the masking probability, noise scale or replacement probability.

    Example:
        >>> c = Corruption("mask", 0.5)
        >>> x = torch.ones(8)
        >>> bool((c.eval()(x) == x).all()), bool((c.train()(x) == 0).any())
        (True, True)
    """

    def __init__(self, kind: str = "none", level: float = 0.0) -> None:
        super().__init__()
        check_corruption(kind, level)
        self.kind, self.level = kind, float(level)

    @property
    def active(self) -> bool:
        """Whether this module ever changes its input."""
        return self.kind != "none" and self.level > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return corrupt(x, self.kind, self.level) if self.training and self.active else x

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, level={self.level}"
