"""Paired comparisons: two models scored on the same test points, or trained with the
same seeds, differ by less noise than their separate standard errors suggest.

For per-point values a_i and b_i of two models on the same N points, the difference of
means has standard error sd(a_i − b_i)/√N, which is far smaller than
√(se_a² + se_b²) when the points' difficulty dominates their variation.  Across S seeds
(each a full training run) the difference's standard error is sd(d_s)/√S, which also
counts the variation of training itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ppvae.errors import UserInputError
from ppvae.inference.evaluate import mean_and_se


def paired_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean of a − b over the same points and its paired standard error.

    Example:
        >>> hard = torch.linspace(-100, 0, 50)  # the points' difficulty, shared by both
        >>> a, b = hard + 1.0 + 0.1 * torch.randn(50), hard + 0.1 * torch.randn(50)
        >>> diff, se = paired_difference(a, b)
        >>> round(diff), se < 0.05
        (1, True)
    """
    if a.shape != b.shape or a.dim() != 1:
        raise UserInputError(
            f"a paired difference needs two per-point vectors of one length, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    return mean_and_se(a.double() - b.double())


def across_seeds(differences: Sequence[float]) -> tuple[float, float]:
    """Mean of per-seed differences and its standard error sd/√S (NaN for one seed, where
    the variation between training runs is not measured).

    Example:
        >>> across_seeds([1.0, 2.0, 3.0])
        (2.0, 0.5773502691896258)
        >>> across_seeds([1.5])
        (1.5, nan)
    """
    values = torch.tensor(list(differences), dtype=torch.float64)
    if values.numel() == 0:
        raise UserInputError("no seeds to average over")
    if values.numel() == 1:
        return values.item(), math.nan
    return mean_and_se(values)
