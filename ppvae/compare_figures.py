"""A comparison's files beyond the table: each entry's InferenceData and the figures.

``results`` maps ``(entry, seed)`` to ``(metrics, per-point log p(x), diagnostics)`` as
:func:`ppvae.compare.compare` collects them (diagnostics from
:func:`ppvae.run_diagnostics.run_diagnostics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ppvae import plots
from ppvae.inference.diagnostics import (
    KHAT_UNRELIABLE,
    inference_data,
    save_inference_data,
    save_khat_plot,
)

FIGURES = {
    "differences": "paired log p(x) differences to the baseline",
    "elbo_curves": "validation ELBO per epoch",
    "samples": "samples from each prior (decoder means)",
    "khat_histogram": "Pareto k̂ of the guide as an importance proposal",
    "khat_arviz": "k̂ per test point (ArviZ)",
    "gap_histogram": "amortisation gap per test point",
}


def write_inference_data(
    path: Path, entry: str, seeds: Sequence[int], results: dict, x_test: torch.Tensor
) -> None:
    """Save one entry's runs (one chain per seed) as InferenceData netCDF at ``path``.

    Example:
        >>> import tempfile, pathlib
        >>> weights = {"log_weights": torch.zeros(3, 20), "latents": torch.zeros(1, 20, 2)}
        >>> diag = {"importance": weights, "history": {"val_elbo": torch.zeros(4)}}
        >>> metrics = {"prior": "normal", "num_samples": 10, "dataset": "digits"}
        >>> points = {"log_likelihood": torch.zeros(5), "elbo": torch.zeros(5)}
        >>> results = {("normal", 0): (metrics, points, diag)}
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "idata.nc"
        >>> write_inference_data(p, "normal", [0], results, torch.zeros(5, 1, 8, 8)); p.exists()
        True
    """
    runs = [results[entry, s] for s in seeds]
    history_keys = runs[0][2]["history"].keys()
    length = max((len(d["history"][k]) for _, _, d in runs for k in history_keys), default=0)
    history = {  # seeds stopped early are padded with NaN to the longest run
        k: np.stack([_padded(d["history"][k].numpy(), length) for _, _, d in runs])
        for k in history_keys
    }
    metrics = runs[0][0]
    binary = bool(((x_test == 0) | (x_test == 1)).all())
    idata = inference_data(
        log_likelihood=np.stack([p["log_likelihood"].double().numpy() for _, p, _ in runs]),
        elbo=np.stack([p["elbo"].double().numpy() for _, p, _ in runs]),
        observed=x_test.numpy().astype(np.uint8 if binary else np.float32),
        latents=np.stack([d["importance"]["latents"].transpose(0, 1).numpy() for _, _, d in runs]),
        log_weights=np.stack([d["importance"]["log_weights"].T.numpy() for _, _, d in runs]),
        history=history,
        chains=list(seeds),
        attrs={
            "entry": entry,
            "dataset": str(metrics.get("dataset")),
            "num_samples": int(metrics.get("num_samples", 0)),
            "units": "nats per example",
            "chains": "training seeds",
        },
    )
    save_inference_data(idata, path)


def _padded(values: np.ndarray, length: int) -> np.ndarray:
    return np.concatenate([values, np.full(length - len(values), np.nan)])


def write_figures(
    folder: Path,
    rows: Sequence[dict[str, Any]],
    entries: Sequence[str],
    seeds: Sequence[int],
    results: dict,
    x_shape: Sequence[int],
) -> dict[str, Path]:
    """Draw the comparison's figures into ``folder``; returns ``{name: path}`` (names and
    captions in ``FIGURES``; the gap histogram only where a gap was computed).

    Example:
        >>> import tempfile, pathlib
        >>> diag = lambda k: {"importance": {"khat": torch.full((5,), k)}, "gap": None,
        ...                   "samples": torch.rand(4, 1, 8, 8),
        ...                   "history": {"val_elbo": torch.tensor([-3.0, -2.0])}}
        >>> results = {("a", 0): ({}, None, diag(0.2)), ("b", 0): ({}, None, diag(0.8))}
        >>> import math
        >>> rows = [{"prior": p, "diff": 0.0, "diff_se": 0.1, "diff_seed_se": math.nan}
        ...         for p in "ab"]
        >>> figs = write_figures(pathlib.Path(tempfile.mkdtemp()), rows, "ab", [0], results,
        ...                      (1, 8, 8))
        >>> sorted(figs)
        ['differences', 'elbo_curves', 'khat_arviz', 'khat_histogram', 'samples']
    """
    diag = {e: [results[e, s][2] for s in seeds] for e in entries}
    paths = {name: folder / f"{name}.png" for name in FIGURES}
    written = ["differences", "elbo_curves", "khat_histogram", "khat_arviz"]
    plots.save_differences(rows, paths["differences"])
    curves = {e: [d["history"]["val_elbo"].tolist() for d in diag[e]] for e in entries}
    plots.save_curves_by_model(curves, paths["elbo_curves"], "validation ELBO (nats)")
    grids = {e: diag[e][0]["samples"] for e in entries if len(diag[e][0]["samples"])}
    if grids:
        plots.save_grids_side_by_side(grids, x_shape, paths["samples"])
        written.append("samples")
    khats = {e: torch.cat([d["importance"]["khat"] for d in diag[e]]).numpy() for e in entries}
    plots.save_histograms(
        {e: k.tolist() for e, k in khats.items()},
        paths["khat_histogram"],
        "Pareto k̂ (below 0.5: reliable; above 0.7: unreliable)",
        lines=(0.5, KHAT_UNRELIABLE),
    )
    save_khat_plot(khats, paths["khat_arviz"])  # every seed's points, one after another
    gaps = {
        e: torch.cat([d["gap"]["optimized"] - d["gap"]["amortized"] for d in diag[e]]).tolist()
        for e in entries
        if all(d["gap"] is not None for d in diag[e])
    }
    if gaps:
        plots.save_histograms(gaps, paths["gap_histogram"], "amortisation gap (nats)", lines=(0,))
        written.append("gap_histogram")
    return {name: paths[name] for name in FIGURES if name in written}
