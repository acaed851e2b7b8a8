"""Warm starts: begin a fit from the weights of an earlier run.

A run trained on a cosine schedule has finished its schedule; training it longer, or on
another objective (the importance-weighted bound, a different β), means a new run whose
weights start where the old one ended.  Only the weights travel: the optimiser's moments,
the learning-rate schedule, the KL warm-up and the history start afresh, and the source
is never written to.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ppvae.errors import UserInputError
from ppvae.inference.checkpoint import load_checkpoint, load_weights


def checkpoint_file(source: str | os.PathLike) -> Path:
    """The checkpoint a warm start reads: ``source`` itself, or a run folder's
    ``checkpoint.pt``; an error that says what is missing otherwise.

    Example:
        >>> checkpoint_file("no/such/run")
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: cannot start from no/such/run: no such run folder or checkpoint
    """
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / "checkpoint.pt"
        if not path.is_file():
            raise UserInputError(f"cannot start from {source}: the folder has no checkpoint.pt")
    elif not path.is_file():
        raise UserInputError(f"cannot start from {source}: no such run folder or checkpoint")
    return path


def final_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a finished run reports: the best validation epoch's under early stopping.

    Example:
        >>> final_weights({"fit_config": {"patience": None}, "model": {"w": 1}})
        {'w': 1}
    """
    early_stopping = ckpt.get("fit_config", {}).get("patience") is not None
    return ckpt["best_model"] if early_stopping and ckpt.get("best_model") else ckpt["model"]


def warm_start(module: torch.nn.Module, source: str | os.PathLike) -> Path:
    """Load into ``module`` the weights a run reports (:func:`final_weights`) from a run
    folder or a ppvae checkpoint; returns the checkpoint file read.

    The architecture must match exactly (same prior, widths and latent size); otherwise
    :class:`~ppvae.errors.UserInputError` names the first mismatch.

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.inference.checkpoint import save_checkpoint
        >>> trained = torch.nn.Linear(2, 3)
        >>> source = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.pt"
        >>> save_checkpoint(source, {"model": trained.state_dict()})
        >>> net = torch.nn.Linear(2, 3)
        >>> warm_start(net, source.parent) == source, torch.equal(net.weight, trained.weight)
        (True, True)
    """
    path = checkpoint_file(source)
    load_weights(module, final_weights(load_checkpoint(path)), str(path))
    return path
