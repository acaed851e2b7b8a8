"""Exported runs: a run folder cut down to the weights it reports, small enough to keep.

A training checkpoint holds the optimiser's two moment estimates, the RNG states and,
under early stopping, a second copy of the weights: three to four times the model.
:func:`export_run` writes a new folder with the run's ``config.json``, ``history.csv``,
``metrics.json`` and ``pointwise.pt`` beside a ``checkpoint.pt`` that keeps only the
weights the run reports (:func:`~ppvae.inference.warm_start.final_weights`) and its
history.  Everything that reads a finished run reads the export the same way: ``ppvae
evaluate`` re-scores it, ``ppvae generate`` samples from it, ``--init-from`` starts a new
fit from it.  It cannot be resumed: there is no optimiser state to resume.
"""

from __future__ import annotations

import os
from pathlib import Path

from ppvae.errors import UserInputError
from ppvae.inference.checkpoint import EXPORTED, load_checkpoint, save_checkpoint
from ppvae.inference.warm_start import checkpoint_file, final_weights
from ppvae.io import write_bytes

KEPT_FILES = ("config.json", "history.csv", "metrics.json", "pointwise.pt")
KEPT_STATE = ("epoch", "history", "train_seconds", "best_epoch", "stopped_early")


def export_run(run: str | os.PathLike, dest: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the weights-only copy of the run folder ``run`` to the folder ``dest``.

    ``dest`` must be empty or new unless ``overwrite``; the source is only read.

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
    if not (run / "config.json").is_file():
        raise UserInputError(f"{run} is not a ppvae run folder (no config.json)")
    source = checkpoint_file(run)
    _check_destination(run, dest, overwrite)
    ckpt = load_checkpoint(source)
    slim = {key: ckpt[key] for key in KEPT_STATE if key in ckpt}
    slim.update(model=final_weights(ckpt), **{EXPORTED: str(run.resolve())})
    dest.mkdir(parents=True, exist_ok=True)
    for name in KEPT_FILES:
        if (run / name).is_file():
            write_bytes(dest / name, (run / name).read_bytes())
        elif (dest / name).exists():  # left by an earlier export that --overwrite replaces
            (dest / name).unlink()
    save_checkpoint(dest / "checkpoint.pt", slim)
    return dest


def _check_destination(run: Path, dest: Path, overwrite: bool) -> None:
    """``dest`` is a new or empty folder (any folder but ``run`` with ``overwrite``)."""
    if dest.exists() and not dest.is_dir():
        raise UserInputError(f"{dest} exists and is not a folder")
    if dest.exists() and dest.resolve() == run.resolve():
        raise UserInputError(f"cannot export {run} onto itself: name another folder")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise UserInputError(f"{dest} is not empty; pass --overwrite to replace its run files")
