"""Diagnostics of the amortised guide as an importance proposal, through ArviZ.

The importance-sampled log p(x) is only as good as its weights w_k = p(x, z_k)/q(z_k|x).
Pareto-smoothed importance sampling (Vehtari et al., 2024) fits a generalised Pareto
distribution to the largest weights of each data point; its shape k̂ says how heavy the
right tail is (Yao et al., 2018, for variational posteriors):

    k̂ < 0.5        the weights have finite variance: the estimate is reliable
    0.5 ≤ k̂ ≤ 0.7  finite mean, infinite variance: usable, converges slowly
    k̂ > 0.7        the estimate is unreliable for practical K: q misses mass of p(z|x)

It also writes a model's results as ArviZ ``InferenceData`` (netCDF) and draws ArviZ's k̂
plot.  This is the one module of ppvae that calls ArviZ.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ppvae.io import atomic_path

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
    """Share of data points whose k̂ is above ``threshold`` (0.7 by default).

    Example:
        >>> unreliable_share(np.array([0.1, 0.4, 0.8, 1.2]))
        0.5
    """
    khat = np.asarray(khat)
    return float((khat > threshold).mean()) if khat.size else 0.0


def inference_data(
    log_likelihood: np.ndarray,
    elbo: np.ndarray,
    observed: np.ndarray,
    latents: np.ndarray,
    log_weights: np.ndarray,
    history: dict[str, np.ndarray],
    chains: Sequence[int],
    attrs: dict[str, Any] | None = None,
) -> Any:
    """One model's results as ``arviz.InferenceData``, one chain per training seed.

    Arguments:
        log_likelihood: importance-sampled log p(x_i) per chain and test point, (S, N).
        elbo: the ELBO per chain and test point, (S, N).
        observed: the N test points, (N, *x_shape).
        latents: draws z_k ~ q(z | x_i) for the first M test points, (S, K, M, L).
        log_weights: their log importance weights for the first P ≥ M points, (S, K, P).
        history: per-epoch training traces (train ELBO, validation ELBO, ...), each (S, E).
        chains: the chain labels (the training seeds), length S.
        attrs: settings to keep with the data (prior, K, dataset, versions ...).

    Returns:
        InferenceData with groups ``posterior`` (``z``: draws from the amortised guide,
        not from p(z|x)), ``sample_stats`` (``log_weight``, ``pareto_k`` per point,
        ``elbo`` per test point and the training traces over ``epoch``),
        ``log_likelihood`` (``x``: one estimate per test point, not per draw) and
        ``observed_data`` (``x``).

    Example:
        >>> s, k, n = 2, 30, 5
        >>> idata = inference_data(np.zeros((s, n)), np.zeros((s, n)), np.zeros((n, 4)),
        ...                        np.zeros((s, k, 2, 3)), np.zeros((s, k, 4)),
        ...                        {"val_elbo": np.zeros((s, 7))}, chains=[0, 1])
        >>> dict(idata.posterior.z.sizes)
        {'chain': 2, 'draw': 30, 'test_point': 2, 'latent': 3}
        >>> idata.sample_stats.pareto_k.shape
        (2, 4)
    """
    import arviz as az
    import xarray as xr

    s, k, m, dim = latents.shape
    p = log_weights.shape[2]
    chain = {"chain": list(chains)}
    points = lambda n: {"test_point": np.arange(n)}  # noqa: E731  the same images everywhere
    khat = (
        np.stack([pareto_khat(lw.T) for lw in log_weights]) if k >= 20 else np.full((s, p), np.nan)
    )
    posterior = xr.Dataset(
        {"z": (("chain", "draw", "test_point", "latent"), latents)},
        coords={**chain, "draw": np.arange(k), **points(m), "latent": np.arange(dim)},
        attrs={"note": "draws from the amortised guide q(z|x), not from p(z|x)"},
    )
    stats = {name: (("chain", "epoch"), np.asarray(v)) for name, v in history.items()}
    epochs = next(iter(history.values())).shape[1] if history else 0
    sample_stats = xr.Dataset(
        {
            "log_weight": (("chain", "draw", "khat_point"), log_weights),
            "pareto_k": (("chain", "khat_point"), khat),
            "elbo": (("chain", "test_point"), elbo),
            **stats,
        },
        coords={
            **chain,
            "draw": np.arange(k),
            "khat_point": np.arange(p),
            **points(elbo.shape[1]),
            "epoch": np.arange(1, epochs + 1),
        },
        attrs={"note": "log_weight = log p(x, z) - log q(z|x) of the posterior draws"},
    )
    x_dims = tuple(f"x_dim_{i}" for i in range(observed.ndim - 1))
    groups = {
        "posterior": posterior,
        "sample_stats": sample_stats,
        "log_likelihood": xr.Dataset(
            {"x": (("chain", "test_point"), log_likelihood)},
            coords={**chain, **points(log_likelihood.shape[1])},
            attrs={"note": "importance-sampled log p(x), one estimate per test point"},
        ),
        "observed_data": xr.Dataset(
            {"x": (("test_point", *x_dims), observed)}, coords=points(len(observed))
        ),
    }
    idata = az.InferenceData(**groups)
    for group in groups:
        getattr(idata, group).attrs.update({**(attrs or {}), **getattr(idata, group).attrs})
    return idata


def save_inference_data(idata: Any, path: str | os.PathLike) -> None:
    """Write ``idata`` as netCDF (compressed) to ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> idata = inference_data(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((3, 2)),
        ...                        np.zeros((1, 20, 1, 2)), np.zeros((1, 20, 2)), {}, [0])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.nc"
        >>> save_inference_data(idata, path)
        >>> load_inference_data(path).log_likelihood.x.shape
        (1, 3)
    """
    with atomic_path(path) as tmp:
        idata.to_netcdf(str(tmp))


def load_inference_data(path: str | os.PathLike) -> Any:
    """Read an InferenceData netCDF file written by :func:`save_inference_data`.

    Example:
        >>> import tempfile, pathlib
        >>> idata = inference_data(np.ones((1, 3)), np.zeros((1, 3)), np.zeros((3, 2)),
        ...                        np.zeros((1, 20, 1, 2)), np.zeros((1, 20, 2)), {}, [7])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.nc"
        >>> save_inference_data(idata, path)
        >>> load_inference_data(path).log_likelihood.chain.values.tolist()
        [7]
    """
    import arviz as az

    return az.from_netcdf(str(path))


def save_khat_plot(khats: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """ArviZ's k̂ plot for each model side by side: k̂ per data point with the 0.5, 0.7
    and 1 thresholds and the share of points in each band.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "khat.png"
        >>> save_khat_plot({"a": np.random.rand(30), "b": np.random.rand(30)}, path)
        >>> path.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    import arviz as az

    from ppvae.plots import save_figure, subplots

    fig, axes = subplots(1, len(khats), figsize=(4.2 * len(khats), 3.6), squeeze=False)
    with warnings.catch_warnings():  # arrays instead of ELPDData: ArviZ warns
        warnings.simplefilter("ignore")
        for ax, (name, khat) in zip(axes[0], khats.items(), strict=True):
            az.plot_khat(np.asarray(khat), show_hlines=True, show_bins=True, ax=ax)
            ax.set_title(name)
            ax.set_xlabel("test point")
    save_figure(fig, path)
