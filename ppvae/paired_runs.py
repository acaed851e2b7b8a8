"""Paired differences between finished runs (``ppvae paired``), or runs whose test
evaluation is still going on.

Two runs scored on the same test points (same dataset, split and test binarisation)
differ by far less noise than their separate ± figures suggest: each run's ``± 0.76`` on
Fashion-MNIST is the spread of the images' difficulty, which both share.  This module
reads each run's per-point scores (``pointwise.pt``) and reports every run's log p(x) and
ELBO minus the first run's, with the paired standard error
(:func:`ppvae.inference.paired.paired_difference`).  It checks first that the runs were
scored on the same test points, in the same units (likelihood, context), with the weights
their checkpoints hold, so a difference is never taken across different things.

With ``partial=True`` a run without current scores is read from its evaluation in
progress: the batches a long ``ppvae fit`` or ``ppvae evaluate`` has finished so far
(:mod:`ppvae.inference.resumable`), found by the fingerprint of the run's current
weights, data and evaluation settings.  Test points are scored in order, so every run is
then compared on the first n test points, n the fewest any of them has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ppvae.data import DataConfig
from ppvae.errors import UserInputError
from ppvae.export import scores_match
from ppvae.inference.checkpoint import load_checkpoint
from ppvae.inference.evaluate import evaluation_key, mean_and_se
from ppvae.inference.paired import paired_difference
from ppvae.inference.resumable import PATTERN, Partial, saved_settings
from ppvae.io import load_torch, read_json
from ppvae.runs import RunConfig, evaluation_arguments, load_run
from ppvae.seeding import seeded

FIXED_TEST_FILES = ("mnist", "fashion-mnist")  # their test images come from the test files


@dataclass(frozen=True)
class PairedRow:
    """One run against the baseline: its own means, and the paired differences."""

    run: str
    num_samples: int | None
    log_likelihood: float
    log_likelihood_se: float
    delta_log_likelihood: float
    delta_log_likelihood_se: float
    delta_elbo: float
    delta_elbo_se: float
    points: int = 0  # test points compared
    of: int = 0  # test points in the run's test set


@dataclass(frozen=True)
class _Scored:
    """A run folder's configuration and per-point test scores, checked."""

    folder: Path
    config: RunConfig
    log_likelihood: torch.Tensor
    elbo: torch.Tensor
    num_samples: int | None
    of: int  # test points in the run's test set (more than scored while in progress)

    def first(self, n: int) -> _Scored:
        """The scores of the first ``n`` test points."""
        return replace(self, log_likelihood=self.log_likelihood[:n], elbo=self.elbo[:n])


def scored_points(data: DataConfig) -> dict[str, Any]:
    """The settings of ``data`` that decide which test images a run is scored on, and how
    they are binarised; runs with equal ``scored_points`` score the same points.  Dynamic
    and static binarisation share one test binarisation, the validation size never moves the
    test set, and MNIST and Fashion-MNIST take their test images from the test files.

    Example:
        >>> a = DataConfig(name="fashion-mnist", binarize="dynamic", val_size=100)
        >>> b = DataConfig(name="fashion-mnist", binarize="static", split_seed=3)
        >>> c = DataConfig(name="fashion-mnist", binarize="static", binarization_seed=1)
        >>> scored_points(a) == scored_points(b), scored_points(a) == scored_points(c)
        (True, False)
    """
    binarised = data.binarize != "none"
    return {
        "dataset": data.name,
        "binarised": binarised,
        "binarization_seed": data.binarization_seed if binarised else None,
        "split_seed": None if data.name in FIXED_TEST_FILES else data.split_seed,
        "exclude_classes": sorted(data.exclude_classes),
    }


def _vector(points: dict, key: str, file: Path) -> torch.Tensor:
    value = points.get(key)
    if not isinstance(value, torch.Tensor) or value.dim() != 1 or not len(value):
        raise UserInputError(f"{file} holds no per-point {key} (a non-empty 1-D tensor)")
    return value.double()


def _check_fresh(run: Path) -> None:
    """Refuse scores of other weights than the checkpoint's (a run resumed since)."""
    if not (run / "metrics.json").is_file() or not (run / "checkpoint.pt").is_file():
        return
    ckpt = load_checkpoint(run / "checkpoint.pt")
    if not scores_match(run, ckpt):
        scored = read_json(run / "metrics.json").get("epochs")
        raise UserInputError(
            f"{run}'s test scores are of epoch {scored}, its checkpoint of epoch "
            f"{ckpt.get('epoch')}; "
            f"score it again with `ppvae evaluate {run}`{_hint(run)}"
        )


def _hint(run: Path) -> str:
    """Where a run holds an evaluation file, how to compare what it has finished."""
    if not any(run.glob(PATTERN)):
        return ""
    return " (if its evaluation is in progress, --partial compares the points it has finished)"


def _scored(run: Path, partial: bool = False) -> _Scored:
    """A run's configuration and per-point scores (from its evaluation in progress when
    ``partial`` and it has no current ones), with user-facing errors."""
    if not (run / "config.json").is_file():
        raise UserInputError(f"{run} is not a ppvae run folder (no config.json)")
    config = RunConfig.from_dict(read_json(run / "config.json"), str(run / "config.json"))
    if config.model.guide == "delta" or config.model.prior == "flat":
        raise UserInputError(f"{run} is a point estimate with no log p(x) to compare")
    file = run / "pointwise.pt"
    if partial and not _current(run, file):
        return _in_progress(run)
    if not file.is_file():
        raise UserInputError(
            f"{run} has no per-point test scores (pointwise.pt); "
            f"score it with `ppvae evaluate {run}`{_hint(run)}"
        )
    points = load_torch(file)
    if not isinstance(points, dict):
        raise UserInputError(f"{file} holds no per-point log p(x) and ELBO")
    ll, elbo = _vector(points, "log_likelihood", file), _vector(points, "elbo", file)
    if len(ll) != len(elbo) or not torch.isfinite(ll).all():
        raise UserInputError(f"{file} holds no finite log p(x) and ELBO for every point")
    _check_fresh(run)
    k = points.get("num_samples")
    return _Scored(run, config, ll, elbo, k if isinstance(k, int) else None, len(ll))


def _current(run: Path, file: Path) -> bool:
    """Whether ``file`` holds scores of the weights the run's checkpoint holds now."""
    if not file.is_file():
        return False
    try:
        _check_fresh(run)
    except UserInputError:
        return False
    return True


def _in_progress(run: Path) -> _Scored:
    """The scores a run's evaluation in progress has finished, for its current weights:
    that of its configured settings, else one of another K or seed (``ppvae evaluate
    --num-samples``) recorded in its evaluation files."""
    with seeded(0):  # load_run seeds torch: leave the caller's generators as they were
        config, data, vae, _ = load_run(run)
    x, y = data.split("test")
    for settings in _candidate_settings(run, config):
        parts = Partial.open(run, evaluation_key(vae, x, y, **settings)).parts
        if parts:
            break
    else:
        stale = (
            " (those there are of other weights, data or settings)"
            if any(run.glob(PATTERN))
            else ""
        )
        raise UserInputError(
            f"{run} has neither current test scores nor an evaluation in progress of its "
            f"current weights{stale}; score it with `ppvae evaluate {run}`"
        )
    ll = torch.cat([p["log_likelihood"] for p in parts]).double()
    elbo = torch.cat([p["elbo"] for p in parts]).double()
    if len(ll) != len(elbo) or not torch.isfinite(ll).all() or not torch.isfinite(elbo).all():
        raise UserInputError(f"{run}'s evaluation in progress holds non-finite scores")
    return _Scored(run, config, ll, elbo, int(settings["num_samples"]), len(x))


_SETTINGS = {"num_samples", "batch_size", "seed", "max_elements"}


def _candidate_settings(run: Path, config: RunConfig) -> list[dict[str, int]]:
    """The run's configured evaluation settings, then those its evaluation files record."""
    found = [evaluation_arguments(config.eval)]
    for settings in saved_settings(run):
        valid = set(settings) <= _SETTINGS and "num_samples" in settings
        if valid and all(type(v) is int for v in settings.values()) and settings not in found:
            found.append(settings)
    return found


def _check_pairable(base: _Scored, run: _Scored) -> None:
    """Refuse two runs whose per-point scores are not of the same points and quantity."""
    a, b = base.config, run.config
    points_a = scored_points(a.data)
    for key, value in scored_points(b.data).items():
        if points_a[key] != value:
            raise UserInputError(
                f"{run.folder} and {base.folder} were scored on different test sets: "
                f"{key} {value!r} against {points_a[key]!r}, so their points cannot be paired"
            )
    if a.data.context != b.data.context:
        raise UserInputError(
            f"{run.folder} scores log p(x | {b.data.context}) and {base.folder} "
            f"log p(x | {a.data.context}): different quantities"
        )
    if a.model.likelihood != b.model.likelihood:
        raise UserInputError(
            f"{run.folder} uses the {b.model.likelihood} likelihood and {base.folder} the "
            f"{a.model.likelihood}: their log p(x) are not in the same units"
        )


def _check_same_length(base: _Scored, run: _Scored) -> None:
    if len(run.log_likelihood) != len(base.log_likelihood):
        raise UserInputError(
            f"{run.folder} has {len(run.log_likelihood)} scored test points and "
            f"{base.folder} {len(base.log_likelihood)}: they cannot be paired"
        )


def _row(base: _Scored, run: _Scored) -> PairedRow:
    ll, ll_se = mean_and_se(run.log_likelihood)
    d_ll, d_ll_se = paired_difference(run.log_likelihood, base.log_likelihood)
    d_elbo, d_elbo_se = paired_difference(run.elbo, base.elbo)
    n = len(run.log_likelihood)
    return PairedRow(
        str(run.folder), run.num_samples, ll, ll_se, d_ll, d_ll_se, d_elbo, d_elbo_se, n, run.of
    )


def paired_runs(runs: Sequence[str | Path], partial: bool = False) -> list[PairedRow]:
    """Every run's test log p(x) and the paired differences (log p(x) and ELBO) from the
    first run, over the same test points.

    With ``partial``, a run without current ``pointwise.pt`` scores contributes the test
    points its evaluation in progress has finished, and every run is compared on the first
    n test points, n the fewest any run has (each row's ``points``, out of ``of``).

    Raises :class:`~ppvae.errors.UserInputError` for fewer than two runs, a folder without
    current scores (or, with ``partial``, without an evaluation in progress of its current
    weights either), a point estimate, or runs whose scores are not of the same test
    points (:func:`scored_points`), context and likelihood.

    Example:
        >>> import tempfile
        >>> from ppvae.runs import FitConfig, EvalConfig, fit_run
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
    if len(runs) < 2:
        raise UserInputError("give at least two run folders: a baseline, then the runs to compare")
    scored = [_scored(Path(r), partial) for r in runs]
    for run in scored[1:]:
        _check_pairable(scored[0], run)
    if partial:
        if len({run.of for run in scored}) > 1:
            sizes = ", ".join(f"{run.folder}: {run.of}" for run in scored)
            raise UserInputError(f"the runs have test sets of different sizes ({sizes})")
        n = min(len(run.log_likelihood) for run in scored)
        scored = [run.first(n) for run in scored]
    for run in scored[1:]:
        _check_same_length(scored[0], run)
    return [_row(scored[0], run) for run in scored]


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
        name = r.run.replace("|", "\\|") + (" (baseline)" if i == 0 else "")
        d_ll = "0" if i == 0 else f"{r.delta_log_likelihood:+.3f} ± {r.delta_log_likelihood_se:.3f}"
        d_elbo = "0" if i == 0 else f"{r.delta_elbo:+.3f} ± {r.delta_elbo_se:.3f}"
        ll = f"{r.log_likelihood:.3f} ± {r.log_likelihood_se:.3f}"
        k = "?" if r.num_samples is None else r.num_samples
        lines.append(f"| {name} | {k} | {ll} | {d_ll} | {d_elbo} |")
    if rows and 0 < rows[0].points < rows[0].of:
        lines.append(
            f"\nOn the first {rows[0].points} of {rows[0].of} test points (in file order, "
            "not a random sample): an evaluation is still in progress."
        )
    return "\n".join(lines)
