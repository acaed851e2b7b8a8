"""Paired differences between finished runs (``ppvae paired``).

Two runs scored on the same test points (same dataset, split and test binarisation)
differ by far less noise than their separate ± figures suggest: each run's ``± 0.76`` on
Fashion-MNIST is the spread of the images' difficulty, which both share.  This module
reads each run's per-point scores (``pointwise.pt``) and reports every run's log p(x) and
ELBO minus the first run's, with the paired standard error
(:func:`ppvae.inference.paired.paired_difference`).  It checks first that the runs were
scored on the same test set, so a difference is never taken across different data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ppvae.errors import UserInputError
from ppvae.inference.evaluate import mean_and_se
from ppvae.inference.paired import paired_difference
from ppvae.io import load_torch, read_json

# config.json "data" keys that decide which test points, binarised how, a run is scored on
TEST_SET_KEYS = (
    "name",
    "binarize",
    "split_seed",
    "binarization_seed",
    "val_size",
    "context",
    "exclude_classes",
)


@dataclass(frozen=True)
class PairedRow:
    """One run against the baseline: its own means, and the paired differences."""

    run: str
    num_samples: int
    log_likelihood: float
    log_likelihood_se: float
    delta_log_likelihood: float
    delta_log_likelihood_se: float
    delta_elbo: float
    delta_elbo_se: float


def _scores(run: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A run's data settings and its per-point scores, with user-facing errors."""
    if not (run / "config.json").is_file():
        raise UserInputError(f"{run} is not a ppvae run folder (no config.json)")
    if not (run / "pointwise.pt").is_file():
        raise UserInputError(
            f"{run} has no per-point test scores (pointwise.pt); "
            f"score it with `ppvae evaluate {run}`"
        )
    data = read_json(run / "config.json").get("data", {})
    points = load_torch(run / "pointwise.pt")
    if not isinstance(points, dict) or not {"log_likelihood", "elbo"} <= points.keys():
        raise UserInputError(f"{run / 'pointwise.pt'} holds no per-point log p(x) and ELBO")
    return data, points


def _check_same_test_set(base: Path, base_data: dict, run: Path, data: dict) -> None:
    for key in TEST_SET_KEYS:
        if base_data.get(key) != data.get(key):
            raise UserInputError(
                f"{run} and {base} were scored on different test sets: data.{key} is "
                f"{data.get(key)!r} against {base_data.get(key)!r}, so their points "
                "cannot be paired"
            )


def paired_runs(runs: Sequence[str | Path]) -> list[PairedRow]:
    """Every run's test log p(x) and the paired differences (log p(x) and ELBO) from the
    first run, over the same test points.

    Raises :class:`~ppvae.errors.UserInputError` for fewer than two runs, a folder without
    ``pointwise.pt``, or runs scored on different test sets.

    Example:
        >>> import tempfile
        >>> from ppvae.runs import RunConfig, FitConfig, EvalConfig, fit_run
        >>> from ppvae.models import ModelConfig
        >>> folders = []
        >>> for epochs in (1, 3):
        ...     folder = tempfile.mkdtemp()
        ...     config = RunConfig(model=ModelConfig(latent_dim=2, hidden=(16,)),
        ...                        fit=FitConfig(epochs=epochs, progress=False),
        ...                        eval=EvalConfig(num_samples=5))
        ...     _ = fit_run(config, folder)
        ...     folders.append(folder)
        >>> rows = paired_runs(folders)
        >>> rows[0].delta_log_likelihood, rows[1].delta_log_likelihood > 0
        (0.0, True)
    """
    folders = [Path(r) for r in runs]
    if len(folders) < 2:
        raise UserInputError("give at least two run folders: a baseline, then the runs to compare")
    base_data, base = _scores(folders[0])
    rows = []
    for folder in folders:
        data, points = _scores(folder)
        _check_same_test_set(folders[0], base_data, folder, data)
        if points["log_likelihood"].shape != base["log_likelihood"].shape:
            raise UserInputError(
                f"{folder} has {len(points['log_likelihood'])} scored test points and "
                f"{folders[0]} {len(base['log_likelihood'])}: they cannot be paired"
            )
        ll, ll_se = mean_and_se(points["log_likelihood"])
        d_ll, d_ll_se = paired_difference(points["log_likelihood"], base["log_likelihood"])
        d_elbo, d_elbo_se = paired_difference(points["elbo"], base["elbo"])
        k = int(points.get("num_samples", 0))
        rows.append(PairedRow(str(folder), k, ll, ll_se, d_ll, d_ll_se, d_elbo, d_elbo_se))
    return rows


def format_paired(rows: Sequence[PairedRow]) -> str:
    """A Markdown table of :func:`paired_runs`' rows (the first is the baseline).

    Example:
        >>> row = PairedRow("runs/a", 5000, -227.4, 0.76, 0.0, 0.0, 0.0, 0.0)
        >>> format_paired([row]).splitlines()[2]
        '| runs/a (baseline) | 5000 | -227.400 ± 0.760 | 0 | 0 |'
    """
    lines = [
        "| run | K | test log p(x) | Δ log p(x), paired | Δ ELBO, paired |",
        "|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows):
        name = f"{r.run} (baseline)" if i == 0 else r.run
        d_ll = "0" if i == 0 else f"{r.delta_log_likelihood:+.3f} ± {r.delta_log_likelihood_se:.3f}"
        d_elbo = "0" if i == 0 else f"{r.delta_elbo:+.3f} ± {r.delta_elbo_se:.3f}"
        ll = f"{r.log_likelihood:.3f} ± {r.log_likelihood_se:.3f}"
        lines.append(f"| {name} | {r.num_samples} | {ll} | {d_ll} | {d_elbo} |")
    return "\n".join(lines)
