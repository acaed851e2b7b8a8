"""A β sweep: one run per β, then the rate-distortion curve and log p(x) against β.

Each β is an ordinary run folder ``OUT/beta-<β>``, so an interrupted sweep loses nothing:
finished runs are reused, a run with a checkpoint and no metrics is resumed, and the rest
are fitted.  ``OUT/sweep.csv`` and ``OUT/rate_distortion.png`` are rewritten at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ppvae import plots
from ppvae.errors import UserInputError
from ppvae.inference.kl_weight import check_schedule
from ppvae.io import remove_stale_temporaries, write_csv
from ppvae.models.priors.registry import IMPROPER_PRIORS
from ppvae.reuse import check_existing, run_or_reuse
from ppvae.runs import RunConfig

SWEEP_FILES = ("sweep.csv", "rate_distortion.png")


def beta_sweep(
    config: RunConfig,
    betas: Sequence[float],
    out: str | Path,
    overwrite: bool = False,
    on_run: Callable[[float, Path], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit ``config`` once per β in ``betas`` and write the sweep's CSV and PNG in ``out``.

    Returns one row per β: ``beta``, ``rate`` (test KL), ``distortion`` (test
    −E log p(x|z)), ``elbo``, ``log_likelihood`` and its ``log_likelihood_se``,
    ``active_units``, ``run`` (the folder), all in nats per example.

    Example:
        >>> import tempfile
        >>> from ppvae.data import DataConfig
        >>> from ppvae.models import ModelConfig
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.runs import EvalConfig
        >>> config = RunConfig(DataConfig(name="digits"), ModelConfig(latent_dim=2, hidden=(16,)),
        ...                    FitConfig(epochs=1, progress=False), EvalConfig(num_samples=5))
        >>> rows = beta_sweep(config, [0.5, 2.0], tempfile.mkdtemp())
        >>> [row["beta"] for row in rows], rows[0]["rate"] > 0
        ([0.5, 2.0], True)
    """
    betas = _check_betas(betas, config)
    out = Path(out)
    runs = [(_with_beta(config, beta), out / f"beta-{beta:g}") for beta in betas]
    if not overwrite:
        check_existing(runs)  # every folder, before anything is fitted
    remove_stale_temporaries(out)
    rows = []
    for beta, (run_config, folder) in zip(betas, runs, strict=True):
        if on_run is not None:
            on_run(beta, folder)
        metrics = run_or_reuse(run_config, folder, overwrite)
        rows.append(_row(beta, metrics, folder))
    write_csv(out / "sweep.csv", rows)
    plots.save_rate_distortion(rows, out / "rate_distortion.png")
    return rows


def _with_beta(config: RunConfig, beta: float) -> RunConfig:
    return replace(config, fit=replace(config.fit, beta=beta))


def _check_betas(betas: Sequence[float], config: RunConfig) -> list[float]:
    if not betas:
        raise UserInputError("give at least one beta")
    if config.model.guide == "delta" or config.model.prior in IMPROPER_PRIORS:
        raise UserInputError(
            "a β sweep compares rate, distortion and log p(x), which a point-mass guide or "
            "a flat prior does not have: sweep a VAE (--guide normal)"
        )
    for beta in betas:
        check_schedule(beta, config.fit.anneal, config.fit.anneal_steps)
    if len({f"{b:g}" for b in betas}) != len(betas):
        raise UserInputError(f"the betas repeat a value: {list(betas)}")
    return sorted(betas)


def _row(beta: float, metrics: dict[str, Any], folder: Path) -> dict[str, Any]:
    return {
        "beta": beta,
        "rate": metrics["kl"],
        "distortion": metrics["reconstruction"],
        "elbo": metrics["test_elbo"],
        "log_likelihood": metrics["test_log_likelihood"],
        "log_likelihood_se": metrics["test_log_likelihood_se"],
        "num_samples": metrics["num_samples"],
        "active_units": metrics["active_units"],
        "run": str(folder),
    }
