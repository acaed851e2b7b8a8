"""Exported runs: a run folder cut down to the weights it reports, small enough to keep.

A training checkpoint holds the optimiser's two moment estimates, the RNG states and,
under early stopping, a second copy of the weights: three to four times the model.
:func:`export_run` writes a new folder with the run's ``config.json`` and ``history.csv``,
its ``metrics.json`` and ``pointwise.pt`` when they score these weights, the finished
batches of an interrupted test evaluation (``evaluation-*.partial.pt``), and a
``checkpoint.pt`` that keeps only the weights the run reports
(:func:`~ppvae.inference.warm_start.final_weights`) and its history.  Everything that reads
a finished run reads the export the same way: ``ppvae evaluate`` re-scores it, ``ppvae
generate`` samples from it, ``--init-from`` starts a new fit from it.  It cannot be
resumed: there is no optimiser state to resume.  An evaluation interrupted in the run
folder goes on in the export (``ppvae evaluate EXPORT`` with the same settings), on this
machine or another with the same torch build: the partial file is keyed by the weights,
data and settings (:mod:`ppvae.inference.resumable`), which the export leaves unchanged.

The folder is written whole or not at all (a temporary sibling renamed into place), so an
interrupted export never leaves new settings beside old weights.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ppvae.errors import UserInputError
from ppvae.inference.checkpoint import EXPORTED, load_checkpoint, save_checkpoint
from ppvae.inference.resumable import PATTERN as PARTIALS
from ppvae.inference.warm_start import final_weights
from ppvae.io import read_json, write_bytes, write_csv

KEPT_STATE = ("epoch", "history", "train_seconds", "best_epoch", "stopped_early")
SCORES = ("metrics.json", "pointwise.pt")  # kept when they score the exported weights


def export_run(run: str | os.PathLike, dest: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the weights-only copy of the run folder ``run`` to the folder ``dest``.

    ``dest`` must be new or empty; ``overwrite`` replaces an earlier export there as a whole
    (never a training run).  Test scores are copied only when they belong to the weights
    exported (``metrics.json`` counts as many epochs as the checkpoint).

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.runs import EvalConfig, RunConfig, fit_run, load_run
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.models import ModelConfig
        >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> config = RunConfig(model=ModelConfig(latent_dim=2, hidden=(16,)),
        ...                    fit=FitConfig(epochs=1, progress=False),
        ...                    eval=EvalConfig(num_samples=5))
        >>> _ = fit_run(config, run)
        >>> small = export_run(run, run.parent / "small")
        >>> sorted(p.name for p in small.iterdir())
        ['checkpoint.pt', 'config.json', 'history.csv', 'metrics.json', 'pointwise.pt']
        >>> load_run(small)[2].generate(2).shape
        torch.Size([2, 1, 8, 8])
    """
    run, dest = Path(run), Path(dest)
    ckpt = _source_checkpoint(run)
    _check_destination(run, dest, overwrite)
    staging = dest.parent / f".{dest.name}.exporting"
    shutil.rmtree(staging, ignore_errors=True)  # an interrupted export's leftovers
    staging.mkdir(parents=True)
    _write_export(run, ckpt, staging)
    _replace(staging, dest)
    return dest


def _source_checkpoint(run: Path) -> dict[str, Any]:
    """The checkpoint of the run folder ``run``, or an error that says what is missing."""
    if not (run / "config.json").is_file():
        raise UserInputError(f"{run} is not a ppvae run folder (no config.json)")
    if not (run / "checkpoint.pt").is_file():
        raise UserInputError(f"{run} has no checkpoint.pt: nothing to export")
    return load_checkpoint(run / "checkpoint.pt")


def _check_destination(run: Path, dest: Path, overwrite: bool) -> None:
    """``dest`` is new, empty, or (with ``overwrite``) an earlier export; never ``run``,
    inside it, or a folder that holds it."""
    if dest.exists() and not dest.is_dir():
        raise UserInputError(f"{dest} exists and is not a folder")
    source, target = run.resolve(), dest.resolve()
    if target.is_relative_to(source) or source.is_relative_to(target):
        raise UserInputError(f"cannot export {run} to {dest}: name a folder outside the run")
    if not dest.is_dir() or not any(dest.iterdir()):
        return
    if not overwrite:
        raise UserInputError(f"{dest} is not empty; pass --overwrite to replace an export there")
    checkpoint = dest / "checkpoint.pt"
    if not checkpoint.is_file() or EXPORTED not in load_checkpoint(checkpoint):
        raise UserInputError(f"{dest} is not an earlier export; --overwrite replaces only those")


def _write_export(run: Path, ckpt: dict[str, Any], folder: Path) -> None:
    """The export's files: settings, history, the reported weights, their test scores."""
    write_bytes(folder / "config.json", (run / "config.json").read_bytes())
    slim = {key: ckpt[key] for key in KEPT_STATE if key in ckpt}
    slim.update(model=final_weights(ckpt), **{EXPORTED: ckpt.get(EXPORTED, run.resolve().name)})
    if slim.get("history"):
        write_csv(folder / "history.csv", slim["history"])
    scores = [run / name for name in SCORES] if scores_match(run, ckpt) else []
    partials = sorted(run.glob(PARTIALS))  # an interrupted evaluation goes on in the export
    for path in scores + partials:
        if path.is_file():
            write_bytes(folder / path.name, path.read_bytes())
    save_checkpoint(folder / "checkpoint.pt", slim)


def scores_match(run: Path, ckpt: dict[str, Any]) -> bool:
    """Whether ``run/metrics.json`` scored the checkpoint's weights (same epoch count).

    Example:
        >>> import tempfile
        >>> scores_match(Path(tempfile.mkdtemp()), {"epoch": 3})  # no metrics.json
        False
    """
    if not (run / "metrics.json").is_file():
        return False
    return read_json(run / "metrics.json").get("epochs") == ckpt.get("epoch")


def _replace(staging: Path, dest: Path) -> None:
    """Rename the finished ``staging`` folder to ``dest``, moving an old ``dest`` aside
    first and deleting it last."""
    old = dest.parent / f".{dest.name}.replaced"
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
