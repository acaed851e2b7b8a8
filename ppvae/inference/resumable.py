"""Resumable evaluation: what a long importance-sampled evaluation has finished, kept on
disk so that an interrupted run goes on from its last saved data batch.

A K = 5000 evaluation of a large model on 10,000 test images takes hours on a CPU.
:func:`~ppvae.inference.evaluate.pointwise` with ``partial_dir=FOLDER`` saves, after a
batch once :data:`SAVE_EVERY_SECONDS` have passed since the last save and when
interrupted, the per-point estimates of the finished batches together with the random
generators' state after the last of them.  Run again with the same folder, it restores
that state and goes on, so the result is bit-for-bit the one an uninterrupted evaluation
gives on the same machine (same device, torch build and thread count).

The file is ``FOLDER/evaluation-<key>.partial.pt``, ``<key>`` the start of a SHA-256 of
everything the estimates depend on (:func:`fingerprint`): another evaluation (other
weights, data, K, seed, batch size, chunking or device) uses a file of its own and leaves
this one alone.  A completed evaluation deletes its own file.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.io import load_torch, save_torch

SAVE_EVERY_SECONDS = 30.0  # batches quicker than this are cheaper to redo than to save
PATTERN = "evaluation-*.partial.pt"  # what partial_file names, for clean-ups
_SCALARS = (bool, int, float, str, tuple, type(None))


def fingerprint(vae: nn.Module, tensors: Iterable[torch.Tensor | None], **settings) -> str:
    """A SHA-256 over ``vae`` (its modules, their scalar settings such as a prior's scale,
    and its weights), the given tensors, the settings and the torch version.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> x = torch.ones(3, 2)
        >>> fingerprint(net, [x], seed=0) == fingerprint(net, [x], seed=0)
        True
        >>> fingerprint(net, [x], seed=0) == fingerprint(net, [x], seed=1)
        False
    """
    digest = hashlib.sha256(repr(sorted(settings.items())).encode())
    digest.update(f"torch {torch.__version__}".encode())
    for name, module in vae.named_modules():
        attributes = {
            k: v for k, v in vars(module).items() if isinstance(v, _SCALARS) and k[0] != "_"
        }
        attributes.pop("training", None)
        digest.update(f"{name}:{type(module).__qualname__}:{sorted(attributes.items())};".encode())
    named = [(f"w.{k}", v) for k, v in vae.state_dict().items()]
    named += [(f"t.{i}", t) for i, t in enumerate(tensors) if t is not None]
    for name, tensor in named:
        flat = tensor.detach().cpu().reshape(-1).contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def partial_file(folder: str | os.PathLike, key: str) -> Path:
    """Where the evaluation with fingerprint ``key`` keeps its finished batches.

    Example:
        >>> partial_file("runs/a", "0123456789abcdef").name
        'evaluation-0123456789ab.partial.pt'
    """
    return Path(folder) / f"evaluation-{key[:12]}.partial.pt"


@dataclass
class Partial:
    """The finished batches of one evaluation, each with the random generators' state
    after it, saved to ``path`` under ``key``.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> p = Partial.open(folder, "abc")
        >>> p.add({"elbo": torch.zeros(2)}, {"cpu": torch.get_rng_state()}); p.save()
        >>> len(Partial.open(folder, "abc").parts), len(Partial.open(folder, "other").parts)
        (1, 0)
    """

    path: Path | None
    key: str
    # (estimates, generator state after them); only the last state is saved
    batches: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]] = field(
        default_factory=list
    )
    saved: int = 0  # how many of the batches the file holds
    saved_at: float = field(default_factory=time.monotonic)
    warned: bool = False
    # the evaluation's settings (K, batch size, seed...), kept in the file so that a reader
    # can recompute the key without knowing them (see saved_settings)
    settings: dict[str, int] | None = None

    @classmethod
    def open(cls, folder: str | os.PathLike | None, key: str) -> Partial:
        """What ``folder`` holds for the evaluation ``key``; nothing when there is no
        folder, no file, or an unreadable one (it is then replaced by the first save)."""
        if folder is None:
            return cls(None, key)
        path = partial_file(folder, key)
        try:
            saved = load_torch(path) if path.is_file() else {}
        except UserInputError:
            saved = {}
        if not isinstance(saved, dict) or saved.get("key") != key or not saved.get("parts"):
            return cls(path, key)
        parts = list(saved["parts"])
        batches = [(part, None) for part in parts[:-1]] + [(parts[-1], dict(saved["rng"]))]
        return cls(path, key, batches, saved=len(batches), settings=saved.get("settings"))

    @property
    def parts(self) -> list[dict[str, torch.Tensor]]:
        """The finished batches' estimates, in order."""
        return [part for part, _ in self.batches]

    @property
    def rng(self) -> dict[str, torch.Tensor] | None:
        """The generators' state after the last finished batch (None before the first)."""
        return self.batches[-1][1] if self.batches else None

    def add(self, part: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
        """Record one finished batch and the state after it, in a single step, so that an
        interrupt never separates the two."""
        self.batches.append((part, state))

    def save(self) -> None:
        """Save the finished batches and the state after the last (atomically).  A failed
        write (disk full, read-only folder) is reported once and does not stop the
        evaluation: the file only saves time."""
        if self.path is None or self.saved == len(self.batches):
            return
        count = len(self.batches)
        payload = {"key": self.key, "parts": self.parts[:count], "rng": self.batches[count - 1][1]}
        if self.settings is not None:
            payload["settings"] = dict(self.settings)
        try:
            save_torch(self.path, payload)
        except OSError as err:
            if not self.warned:
                print(f"ppvae: could not save {self.path} ({err}); going on", file=sys.stderr)
                self.warned = True
            return
        self.saved, self.saved_at = count, time.monotonic()

    def due(self) -> bool:
        """Whether :data:`SAVE_EVERY_SECONDS` have passed since the last save."""
        return self.path is not None and time.monotonic() - self.saved_at >= SAVE_EVERY_SECONDS

    def finish(self) -> None:
        """Delete the file: the evaluation is complete."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def saved_settings(folder: str | os.PathLike) -> list[dict[str, int]]:
    """The settings recorded in each evaluation file in ``folder`` (files written before
    settings were recorded, and unreadable ones, are skipped).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> p = Partial.open(folder, "abc")
        >>> p.settings = {"num_samples": 50}
        >>> p.add({"elbo": torch.zeros(2)}, {"cpu": torch.get_rng_state()}); p.save()
        >>> saved_settings(folder)
        [{'num_samples': 50}]
    """
    found = []
    for path in sorted(Path(folder).glob(PATTERN)):
        try:
            saved = load_torch(path)
        except UserInputError:
            continue
        settings = saved.get("settings") if isinstance(saved, dict) else None
        if isinstance(settings, dict):
            found.append(dict(settings))
    return found
