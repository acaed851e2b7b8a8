"""Diagnostics of the amortised guide as an importance proposal, through ArviZ.

The importance-sampled log p(x) is only as good as its weights w_k = p(x, z_k)/q(z_k|x).
Pareto-smoothed importance sampling (Vehtari et al., 2024) fits a generalised Pareto
distribution to the largest weights of each data point; its shape k̂ says how heavy the
right tail is (Yao et al., 2018, for variational posteriors):

    k̂ < 0.5        the weights have finite variance: the estimate is reliable
    0.5 ≤ k̂ < 0.7  finite mean, infinite variance: usable, converges slowly
    k̂ ≥ 0.7        the estimate is unreliable for practical K: q misses mass of p(z|x)

This is the one module of ppvae that calls ArviZ.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

KHAT_UNRELIABLE = 0.7
EQUAL_WEIGHTS = 1e-6  # nats: log weights this close are one weight repeated


def pareto_khat(log_weights: torch.Tensor | np.ndarray) -> np.ndarray:
    """PSIS shape estimate k̂ per data point from log importance weights (N, K) (K ≥ 20
    for a meaningful fit); computed by ``arviz.psislw``.  A data point whose weights are
    all equal (log weights within ``EQUAL_WEIGHTS`` nats: the guide is its exact
    posterior) has no tail at all and gets k̂ = 0, where the Pareto fit is undefined.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> equal = np.zeros((2, 1000))  # a perfect proposal: every weight the same
        >>> light = 0.1 * rng.standard_normal((1, 1000))  # a close proposal
        >>> heavy = np.log(rng.pareto(1.0, (1, 4000)) + 1)  # a tail index of 1: k = 1
        >>> pareto_khat(equal).tolist(), bool(pareto_khat(light)[0] < 0.5)
        ([0.0, 0.0], True)
        >>> bool(pareto_khat(heavy)[0] > 0.7)
        True
    """
    import arviz as az

    lw = np.asarray(log_weights, dtype=np.float64)
    if lw.ndim != 2 or lw.shape[1] < 20:
        raise ValueError(f"need log weights of shape (N, K) with K >= 20, got {lw.shape}")
    khat = np.zeros(len(lw))
    spread = lw.max(axis=1) - lw.min(axis=1)
    varied = spread > EQUAL_WEIGHTS
    if varied.any():
        with warnings.catch_warnings():  # ArviZ warns about k̂ > 0.7; ppvae reports it
            warnings.simplefilter("ignore")
            rows = lw[varied]
            _, fitted = az.psislw(rows - rows.max(axis=1, keepdims=True))
        khat[varied] = np.asarray(fitted, dtype=np.float64)
    return khat


def unreliable_share(khat: np.ndarray, threshold: float = KHAT_UNRELIABLE) -> float:
    """Share of data points whose k̂ is at least ``threshold`` (0.7 by default).

    Example:
        >>> unreliable_share(np.array([0.1, 0.4, 0.8, 1.2]))
        0.5
    """
    khat = np.asarray(khat)
    return float((khat >= threshold).mean()) if khat.size else 0.0
