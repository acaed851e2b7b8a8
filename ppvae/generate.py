"""Samples from a trained run: unconditional, one row per class, or one row per context.

For a conditional model (a conditional prior p(z|y), or networks that see y) each row of
the grid holds samples for one context: one class per row with ``--context labels``, the
first test contexts with ``--context array``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ppvae import plots
from ppvae.errors import UserInputError
from ppvae.models.frames import FrameEncoder
from ppvae.runs import load_run
from ppvae.seeding import seeded


@torch.no_grad()
def generate_grid(
    run: str | Path,
    out: str | Path | None = None,
    per_row: int = 10,
    rows: int | None = None,
    mean: bool = True,
    seed: int = 0,
) -> Path:
    """Draw a grid of samples from the model in ``run`` and save it as a PNG (returned).

    Without a context the grid is ``rows`` × ``per_row`` samples (``rows`` default 10);
    with labels one row per class (the first ``rows`` classes), with a context array one
    row per test context.  ``mean=True`` shows the decoder's mean instead of a draw.

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.runs import RunConfig, DataConfig, ModelConfig, FitConfig, EvalConfig
        >>> from ppvae.runs import fit_run
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> config = RunConfig(DataConfig(name="digits", context="labels"),
        ...                    ModelConfig(latent_dim=2, hidden=(16,), condition_networks=True),
        ...                    FitConfig(epochs=1, progress=False), EvalConfig(num_samples=5))
        >>> _ = fit_run(config, run)
        >>> generate_grid(run, per_row=4).name
        'generated.png'
    """
    if per_row < 1 or (rows is not None and rows < 1):
        raise UserInputError("per_row and rows must be positive")
    _, data, vae, _ = load_run(run)
    device = next(vae.parameters()).device
    contexts, labels = _row_contexts(data, rows)
    n_rows = len(contexts) if contexts is not None else (rows or 10)
    y = None if contexts is None else contexts.repeat_interleave(per_row, dim=0).to(device)
    with seeded(seed):
        x = vae.generate(n_rows * per_row, y, mean=mean).cpu()
    title = "samples" + (" (means)" if mean else "") + (f", one {labels} per row" if labels else "")
    path = Path(out) if out is not None else Path(run) / "generated.png"
    if isinstance(vae.encoder, FrameEncoder):  # sequences: one sequence per row of frames
        frame = data.x_shape[1:]
        title = title.replace("per row", "per group of rows") if labels else title
        plots.save_grid(x.reshape(-1, *frame), frame, path, title, ncol=data.x_shape[0])
    else:
        plots.save_grid(x, data.x_shape, path, title, ncol=per_row)
    return path


def _row_contexts(data, rows: int | None) -> tuple[torch.Tensor | None, str]:
    if data.context == "labels":
        classes = data.context_dim if rows is None else min(rows, data.context_dim)
        return torch.eye(data.context_dim)[:classes], "class"
    if data.context == "array":
        _, c = data.split("test")
        return c[: rows or 10], "test context"
    return None, ""
