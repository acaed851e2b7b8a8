"""Denoising as an application: corrupt test images, reconstruct them, score by PSNR.

For each corruption level the test images x are corrupted once (seeded) into x̃, and
every model reconstructs x̃ by the mean of p(x | code(x̃)); the table reports the peak
signal-to-noise ratio against the clean x, ``10 log10(1 / MSE)`` for data in [0, 1],
averaged over images, of the corrupted input itself and of each model's reconstruction.
A denoising autoencoder was trained for exactly this map; a plain one was not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ppvae import plots
from ppvae.errors import UserInputError
from ppvae.inference.evaluate import mean_and_se, scoring
from ppvae.models.corruption import check_corruption, corrupt


def psnr(clean: torch.Tensor, estimate: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per example in dB: 10 log10(peak² / MSE), shape (N,).

    The estimate is clipped to [0, peak] first (a reconstruction's mean can overshoot).

    Example:
        >>> clean = torch.zeros(2, 4)
        >>> [round(v, 4) for v in psnr(clean, torch.full((2, 4), 0.1)).tolist()]
        [20.0, 20.0]
    """
    err = (clean - estimate.clamp(0, peak)).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(peak**2 / err.clamp_min(1e-12))


@torch.no_grad()
def reconstruct_batches(vae: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The model's reconstruction of ``x`` (in evaluation mode: no training corruption).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> reconstruct_batches(vae, torch.rand(7, 6), batch_size=3).shape
        torch.Size([7, 6])
    """
    device = next(vae.parameters()).device
    with scoring(vae):
        parts = [
            vae.reconstruct(x[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(parts)


def denoising_table(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    kind: str = "mask",
    levels: Sequence[float] = (0.1, 0.25, 0.5),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """PSNR (dB, mean ± standard error over images) of the corrupted input and of each
    model's reconstruction of it, per corruption level.

    Returns one row per (level, source): ``corruption``, ``level``, ``model`` (``input``
    for the corrupted images themselves), ``psnr``, ``psnr_se``, and ``gain`` over the
    corrupted input.  Level 0 scores the reconstructions of the clean images (no
    ``input`` row, ``gain`` None).

    Example:
        >>> from ppvae.models import build_vae, family_config
        >>> ae = build_vae(family_config("ae", x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> rows = denoising_table({"ae": ae}, torch.rand(20, 6), levels=[0.5])
        >>> [(r["model"], r["level"]) for r in rows]
        [('input', 0.5), ('ae', 0.5)]
    """
    check_corruption(kind, 0.0)
    if kind == "none":
        raise UserInputError("choose a corruption to denoise: mask, gaussian or salt-pepper")
    if not levels:
        raise UserInputError("give at least one noise level")
    _check_range(x)
    rows = []
    for level in levels:
        check_corruption(kind, level)
        noisy = corrupt(x, kind, level, torch.Generator().manual_seed(seed))
        base = None  # level 0: the clean images themselves, reconstructed
        if level > 0:
            base, base_se = mean_and_se(psnr(x, noisy))
            rows.append(_row(kind, level, "input", base, base_se, base))
        for name, vae in models.items():
            value, se = mean_and_se(psnr(x, reconstruct_batches(vae, noisy)))
            rows.append(_row(kind, level, name, value, se, base))
    return rows


def _row(kind, level, model, value, se, base) -> dict[str, Any]:
    return {
        "corruption": kind,
        "level": level,
        "model": model,
        "psnr": value,
        "psnr_se": se,
        "gain": None if base is None else value - base,
    }


def _check_range(x: torch.Tensor) -> None:
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise UserInputError("PSNR is computed for data in [0, 1]; these data leave that range")


def save_denoising_figure(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    x_shape: Sequence[int],
    path: str | Path,
    kind: str = "mask",
    level: float = 0.5,
    num: int = 10,
    seed: int = 0,
) -> None:
    """A grid: clean test images, their corrupted copies, then each model's reconstruction
    (one row each); at ``level`` 0 the reconstructions of the clean images.

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.models import build_vae, family_config
        >>> ae = build_vae(family_config("ae", x_shape=(1, 8, 8), latent_dim=2, hidden=(8,)))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "denoise.png"
        >>> save_denoising_figure({"ae": ae}, torch.rand(4, 1, 8, 8), (1, 8, 8), path, num=4)
        >>> path.exists()
        True
    """
    x = x[:num]
    noisy = corrupt(x, kind, level, torch.Generator().manual_seed(seed))
    rows = [x, noisy] if level > 0 else [x]  # level 0: reconstructions of clean images
    rows += [reconstruct_batches(vae, noisy).clamp(0, 1) for vae in models.values()]
    noise = f"{kind} {level:g}, " if level > 0 else ""
    title = f"rows: clean, {noise}then " + ", ".join(models)
    plots.save_grid(torch.cat(rows), x_shape, path, title, ncol=len(x))


def format_denoising(rows: Sequence[dict[str, Any]]) -> str:
    """The PSNR table as text, one line per (level, model).

    Example:
        >>> print(format_denoising([{"corruption": "mask", "level": 0.25, "model": "input",
        ...                          "psnr": 12.0, "psnr_se": 0.1, "gain": 0.0}]).splitlines()[1])
        mask       0.25  input                  12.00 ± 0.10     +0.00
    """
    lines = [f"{'corruption':<10} {'level':>5}  {'model':<20} {'PSNR (dB)':>13} {'gain':>9}"]
    for r in rows:
        value = f"{r['psnr']:.2f} ± {r['psnr_se']:.2f}"
        gain = "-" if r["gain"] is None else f"{r['gain']:+.2f}"
        lines.append(
            f"{r['corruption']:<10} {r['level']:>5g}  {r['model']:<20} {value:>13} {gain:>9}"
        )
    return "\n".join(lines)
