"""Training checkpoints: model, optimiser, RNG states and progress, saved atomically.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads
with ``torch.load(weights_only=True)``; the ``format`` key marks it as ppvae's own.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ppvae.errors import UserInputError
from ppvae.io import load_torch, save_torch

FORMAT = "ppvae-checkpoint"
FORMAT_VERSION = 1
EXPORTED = "exported_from"  # marks a weights-only export (ppvae.export); the source folder


def rng_state(generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Snapshot of torch's global RNG (used by Pyro's sampling) and the data generator
    (when given).

    Example:
        >>> g = torch.Generator().manual_seed(1)
        >>> state = rng_state(g)
        >>> a = torch.rand(1, generator=g)
        >>> set_rng_state(state, g)
        >>> bool(torch.rand(1, generator=g) == a)
        True
    """
    state = {"torch": torch.get_rng_state()}
    if generator is not None:
        state["data"] = generator.get_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> None:
    """Restore a snapshot taken by :func:`rng_state`.

    Example:
        >>> state = rng_state(torch.Generator())
        >>> a = torch.rand(1)
        >>> set_rng_state(state, torch.Generator())
        >>> bool(torch.rand(1) == a)
        True
    """
    torch.set_rng_state(state["torch"])
    if generator is not None:
        generator.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the format marker) to ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.pt"
        >>> save_checkpoint(p, {"epoch": 3, "model": {"w": torch.ones(2)}})
        >>> load_checkpoint(p)["epoch"]
        3
    """
    save_torch(path, {"format": FORMAT, "format_version": FORMAT_VERSION, **state})


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a ppvae checkpoint safely, refusing corrupt, foreign or newer files.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "foreign.pt"
        >>> torch.save({"weights": torch.ones(1)}, p)
        >>> load_checkpoint(p)
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: ... is not a ppvae checkpoint
    """
    state = load_torch(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserInputError(f"{path} is not a ppvae checkpoint")
    _check_structure(state, str(path))
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise UserInputError(
            f"{path} was written by a newer ppvae (checkpoint format {state['format_version']})"
        )
    if not isinstance(state.get("model"), dict):
        raise UserInputError(f"{path} has no model weights")
    return state


def check_resumable(state: dict[str, Any], source: str) -> None:
    """Refuse to resume from a weights-only export (:mod:`ppvae.export`): it has no
    optimiser or RNG state to continue.

    Example:
        >>> check_resumable({"model": {}, EXPORTED: "run"}, "kept/checkpoint.pt")
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: kept/checkpoint.pt is an exported run (weights only, ...
    """
    if EXPORTED in state:
        raise UserInputError(
            f"{source} is an exported run (weights only, no optimiser state) and cannot be "
            "resumed: start a new fit from it with --init-from"
        )


HISTORY_KEYS = ("epoch", "train_objective", "val_elbo", "seconds")  # in every row, always

# What a hand edit may not turn into something else (a missing key is fine: older files).
_SHAPES = {
    "format_version": int,
    "epoch": int,
    "history": list,
    "losses": torch.Tensor,
    "train_seconds": float,
    "best_epoch": int,
    "bad_epochs": int,
    "rollbacks": int,
    "stopped_early": bool,
    "fit_config": dict,
    "optimizer": dict,
    "rng": dict,
    "best_model": dict,
}


def _check_structure(state: dict[str, Any], source: str) -> None:
    for key, kind in _SHAPES.items():
        if key not in state or (key == "best_model" and state[key] is None):
            continue  # an older checkpoint; no best model without early stopping
        value = state[key]
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
        if (kind is int and isinstance(value, bool)) or (kind is int and ok and value < 0):
            ok = False
        if not ok:
            raise UserInputError(f"{source} has a malformed {key!r} (expected {kind.__name__})")
    history = state.get("history")
    number = lambda v: isinstance(v, int | float) and not isinstance(v, bool)  # noqa: E731
    for row in history or ():
        if not isinstance(row, dict) or not all(number(row.get(k)) for k in HISTORY_KEYS):
            raise UserInputError(f"{source} has a malformed history row ({row!r:.60})")
    if history is not None and state.get("epoch") is not None and len(history) != state["epoch"]:
        raise UserInputError(
            f"{source} says {state['epoch']} epochs but holds {len(history)} rows of history"
        )
    model = state.get("model")
    for name, value in model.items() if isinstance(model, dict) else ():
        if not isinstance(value, torch.Tensor):
            raise UserInputError(f"{source} holds a non-tensor weight {name!r}")


def load_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict`` with a clear message when the architecture does not match.

    Example:
        >>> load_weights(torch.nn.Linear(2, 3), torch.nn.Linear(2, 4).state_dict(), "w.pt")
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: w.pt does not fit this model (size mismatch for weight: ...
    """
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError) as err:
        # torch's first line only names the module; the next names the first mismatch
        lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise UserInputError(f"{source} does not fit this model ({detail})") from None
