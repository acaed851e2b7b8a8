"""Resumable evaluation: what a long importance-sampled evaluation has finished, kept on
disk so that an interrupted run goes on from its last finished data batch.

A K = 5000 evaluation of a large model on 10,000 test images takes hours on a CPU.
:func:`~ppvae.inference.evaluate.pointwise` with ``partial=FILE`` saves, at most every
:data:`SAVE_EVERY_SECONDS`, the per-point estimates of the finished batches together with
the random generators' state after the last of them.  Run again with the same file, it
restores that state and goes on, so the result is bit-for-bit the one an uninterrupted
evaluation gives.  The file is keyed by a fingerprint of everything the estimates depend
on (weights, data, K, batch size, seed, chunking); a file with another key is ignored.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.io import load_torch, save_torch

SAVE_EVERY_SECONDS = 30.0  # batches quicker than this are cheaper to redo than to save


def fingerprint(vae: nn.Module, tensors: Iterable[torch.Tensor | None], **settings) -> str:
    """A SHA-256 over ``vae``'s weights, the given tensors and the settings.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> x = torch.ones(3, 2)
        >>> fingerprint(net, [x], seed=0) == fingerprint(net, [x], seed=0)
        True
        >>> fingerprint(net, [x], seed=0) == fingerprint(net, [x], seed=1)
        False
    """
    digest = hashlib.sha256(repr(sorted(settings.items())).encode())
    named = [(f"w.{k}", v) for k, v in vae.state_dict().items()]
    named += [(f"t.{i}", t) for i, t in enumerate(tensors) if t is not None]
    for name, tensor in named:
        flat = tensor.detach().cpu().reshape(-1).contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The CPU generator's state, and that of ``device``'s when it is a CUDA device.

    Example:
        >>> sorted(rng_state(torch.device("cpu")))
        ['cpu']
    """
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore what :func:`rng_state` returned.

    Example:
        >>> s = rng_state(torch.device("cpu")); a = torch.rand(1)
        >>> set_rng_state(s, torch.device("cpu")); bool(torch.rand(1) == a)
        True
    """
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


@dataclass
class Partial:
    """The finished batches of one evaluation, saved to ``path`` under ``key``.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "evaluation.partial.pt"
        >>> p = Partial.open(path, "abc")
        >>> p.parts.append({"elbo": torch.zeros(2)}); p.save({"cpu": torch.get_rng_state()})
        >>> len(Partial.open(path, "abc").parts), len(Partial.open(path, "other").parts)
        (1, 0)
    """

    path: Path | None
    key: str
    parts: list[dict[str, torch.Tensor]] = field(default_factory=list)
    rng: dict[str, torch.Tensor] | None = None
    saved_at: float = field(default_factory=time.monotonic)

    @classmethod
    def open(cls, path: str | os.PathLike | None, key: str) -> Partial:
        """What ``path`` holds under ``key``; nothing when it is absent, unreadable or
        holds another evaluation (it is then overwritten by the first save)."""
        if path is None or not Path(path).is_file():
            return cls(None if path is None else Path(path), key)
        try:
            saved = load_torch(path)
        except UserInputError:
            saved = {}
        if not isinstance(saved, dict) or saved.get("key") != key:
            return cls(Path(path), key)
        return cls(Path(path), key, list(saved["parts"]), dict(saved["rng"]))

    def save(self, rng: dict[str, torch.Tensor]) -> None:
        """Save the finished batches and the generators' state after them (atomically)."""
        if self.path is None:
            return
        save_torch(self.path, {"key": self.key, "parts": self.parts, "rng": rng})
        self.saved_at = time.monotonic()

    def due(self) -> bool:
        """Whether :data:`SAVE_EVERY_SECONDS` have passed since the last save."""
        return self.path is not None and time.monotonic() - self.saved_at >= SAVE_EVERY_SECONDS

    def finish(self) -> None:
        """Delete the file: the evaluation is complete."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
