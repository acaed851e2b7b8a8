"""A β sweep: one run per β, then the rate-distortion curve and log p(x) against β.

Each β is an ordinary run folder ``OUT/beta-<β>``, so an interrupted sweep loses nothing:
finished runs are reused, a run with a checkpoint and no metrics is resumed, and the rest
are fitted.  ``OUT/sweep.csv`` and ``OUT/rate_distortion.png`` are rewritten at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ppvae import plots
from ppvae.errors import UserInputError
from ppvae.inference.kl_weight import check_schedule
from ppvae.inference.svi import FitConfig
from ppvae.io import read_json, write_csv
from ppvae.models.priors.registry import IMPROPER_PRIORS
from ppvae.runs import RUN_FILES, EvalConfig, RunConfig, fit_run, prepare

SWEEP_FILES = ("sweep.csv", "rate_distortion.png")
# Settings a finished run may differ in and still be reused by a sweep.
MAY_DIFFER = ("progress", "device", "download", "data_dir")
DEFAULTS = {"fit": FitConfig().to_dict(), "eval": asdict(EvalConfig())}


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
    if not overwrite:
        _check_existing(config, betas, out)  # every folder, before anything is fitted
    rows = []
    for beta in betas:
        folder = out / f"beta-{beta:g}"
        if on_run is not None:
            on_run(beta, folder)
        run_config = replace(config, fit=replace(config.fit, beta=beta))
        metrics = _run_or_reuse(run_config, folder, overwrite)
        rows.append(_row(beta, metrics, folder))
    write_csv(out / "sweep.csv", rows)
    plots.save_rate_distortion(rows, out / "rate_distortion.png")
    return rows


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


def _check_existing(config: RunConfig, betas: list[float], out: Path) -> None:
    """Refuse a sweep folder whose runs were made with other settings (any resolved data,
    model, training or evaluation setting other than β, progress and device)."""
    resolved = None
    for beta in betas:
        folder = out / f"beta-{beta:g}"
        if not (folder / "config.json").is_file():
            if any((folder / name).exists() for name in RUN_FILES):
                raise UserInputError(
                    f"{folder} holds part of a run but no config.json; pass --overwrite"
                )
            continue
        if resolved is None:
            resolved = prepare(config)[0].to_dict()
        saved = read_json(folder / "config.json")
        differs = []
        for section in ("data", "model", "fit", "eval"):
            now = {**resolved[section], "beta": beta} if section == "fit" else resolved[section]
            differs += _differences(saved.get(section, {}), now, section)
        if differs:
            raise UserInputError(
                f"{folder} holds a run with other settings ({', '.join(differs)}); "
                "pass --overwrite or choose another --out"
            )


def _run_or_reuse(config: RunConfig, folder: Path, overwrite: bool) -> dict[str, Any]:
    if overwrite or not (folder / "config.json").is_file():
        return fit_run(config, folder, overwrite=overwrite)
    if (folder / "metrics.json").is_file():
        return read_json(folder / "metrics.json")
    return fit_run(config, folder, resume=True)  # interrupted: continue from the checkpoint


def _differences(saved: dict, now: dict, section: str) -> list[str]:
    # a setting added after a run was saved had its default value then
    defaults = DEFAULTS.get(section, {})
    old = {key: saved.get(key, defaults.get(key)) for key in now}
    return [
        f"{section}.{key}={old[key]!r} (now {value!r})"
        for key, value in now.items()
        if key not in MAY_DIFFER and _plain(old[key]) != _plain(value)
    ]


def _plain(value: Any) -> Any:
    """JSON's view of a value (tuples become lists), for comparing with a saved config."""
    return json.loads(json.dumps(value))


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
