"""What a comparison needs from each finished run folder beyond its metrics, computed
once and kept in ``diagnostics.pt`` beside the checkpoint:

    importance   log importance weights (P, K) of the first P test points, their k̂ (P,),
                 and the guide's draws (M, K, L) of the first M of them
    gap          per-point ELBO of the encoder's guide and of a per-point optimised one
                 (the amortisation gap) on the first G test points, if asked for
    samples      images decoded from prior draws (for side-by-side grids)
    history      the per-epoch training traces

Each part is stored with the settings that made it (and a digest of the run's checkpoint
and configuration) and recomputed only when they change, so running a comparison again
(or with a new option) costs only what is new, and a refitted run gets fresh diagnostics.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ppvae.checks import check_fields
from ppvae.errors import UserInputError
from ppvae.inference.amortization import amortization_gap
from ppvae.inference.diagnostics import pareto_khat
from ppvae.inference.evaluate import importance_draws
from ppvae.io import load_torch, save_torch
from ppvae.models.priors import is_improper
from ppvae.runs import load_run
from ppvae.seeding import seeded

CACHE = "diagnostics.pt"


@dataclass
class DiagnosticsConfig:
    """Settings of the per-run diagnostics of a comparison."""

    khat_points: int = 200  # test points whose importance weights give k̂
    khat_samples: int = 1000  # importance samples per point for k̂
    latent_points: int = 20  # of those (at most), points whose draws go into InferenceData
    gap_points: int = 0  # test points for the amortisation gap (0: not computed)
    gap_steps: int = 500  # Adam steps of each per-point guide
    gap_lr: float = 0.01  # their initial learning rate (cosine decay to zero)
    gap_samples: int = 1000  # samples for the two ELBOs of the gap
    samples: int = 32  # images drawn from each model's prior for the report

    def __post_init__(self) -> None:
        check_fields(self)
        if self.khat_points < 1 or self.khat_samples < 20:
            raise UserInputError("k-hat needs at least one test point and 20 importance samples")
        if self.latent_points < 0:
            raise UserInputError(f"latent_points must be >= 0, got {self.latent_points}")
        if self.gap_points < 0 or self.gap_steps < 1 or not self.gap_lr > 0:
            raise UserInputError("the gap needs gap_points >= 0, gap_steps >= 1 and gap_lr > 0")
        if self.gap_samples < 1 or self.samples < 0:
            raise UserInputError("gap_samples must be >= 1 and samples >= 0")


def run_diagnostics(
    folder: str | Path, config: DiagnosticsConfig, progress: bool = False
) -> dict[str, Any]:
    """The diagnostics of the finished run in ``folder`` (see the module notes), read from
    ``diagnostics.pt`` where they were made with the same settings, else computed (the
    run is loaded only then, with a progress bar for the gap if ``progress``) and saved.

    Example:
        >>> import tempfile
        >>> from ppvae.models import ModelConfig
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.runs import RunConfig, EvalConfig, fit_run
        >>> run = tempfile.mkdtemp()
        >>> _ = fit_run(RunConfig(model=ModelConfig(latent_dim=2, hidden=(16,)),
        ...                       fit=FitConfig(epochs=1, progress=False), eval=EvalConfig(5)), run)
        >>> d = run_diagnostics(run, DiagnosticsConfig(khat_points=5, khat_samples=30,
        ...                                            latent_points=2, samples=4))
        >>> d["importance"]["log_weights"].shape, d["importance"]["latents"].shape
        (torch.Size([5, 30]), torch.Size([2, 30, 2]))
        >>> d["gap"] is None, d["samples"].shape
        (True, torch.Size([4, 1, 8, 8]))
    """
    folder = Path(folder)
    path = folder / CACHE
    cached = load_torch(path) if path.is_file() else {}
    wanted = _settings(config, _fingerprint(folder))
    stale = [
        part
        for part, settings in wanted.items()
        if cached.get(part, {}).get("settings") != settings
    ]
    if not stale:
        return {part: cached[part]["value"] for part in wanted}
    run_config, data, vae, ckpt = load_run(folder)
    x, y = data.split("test")
    make = {
        "importance": lambda: _importance(vae, x, y, config, run_config.eval.seed),
        "gap": lambda: _gap(vae, x, y, config, run_config.eval.seed, progress),
        "samples": lambda: _samples(vae, data, config.samples),
        "history": lambda: _history(ckpt),
    }
    for part in stale:
        cached[part] = {"settings": wanted[part], "value": make[part]()}
        save_torch(path, cached)  # after each part: an interrupt keeps what was finished
    return {part: cached[part]["value"] for part in wanted}


def _settings(config: DiagnosticsConfig, run: str) -> dict[str, dict[str, Any]]:
    c = asdict(config)
    keys = {
        "importance": ("khat_points", "khat_samples", "latent_points"),
        "gap": ("gap_points", "gap_steps", "gap_lr", "gap_samples"),
        "samples": ("samples",),
        "history": (),
    }
    if c["gap_points"] == 0:
        keys["gap"] = ("gap_points",)  # no gap: its other settings do not matter
    return {part: {"run": run, **{k: c[k] for k in names}} for part, names in keys.items()}


def _fingerprint(folder: Path) -> str:
    """A digest of the run's checkpoint and configuration: a refitted or extended run
    has other weights; re-evaluating it (``ppvae evaluate``) changes neither."""
    if not (folder / "metrics.json").is_file():
        raise UserInputError(f"{folder} holds no finished run (no metrics.json)")
    digest = hashlib.sha256()
    for name in ("config.json", "checkpoint.pt"):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def _importance(vae, x, y, config: DiagnosticsConfig, seed: int) -> dict[str, torch.Tensor]:
    n = config.khat_points
    x, y = x[:n], None if y is None else y[:n]
    log_w, z = importance_draws(
        vae, x, y, config.khat_samples, seed=seed, keep_latents=config.latent_points
    )
    khat = torch.as_tensor(pareto_khat(log_w))
    return {"log_weights": log_w, "khat": khat, "latents": z.float()}


def _gap(vae, x, y, config: DiagnosticsConfig, seed: int, progress: bool) -> dict | None:
    n = config.gap_points
    if n == 0 or getattr(vae, "levels", 1) > 1:  # a two-level guide: no one-layer gap (NaN)
        return None
    x, y = x[:n], None if y is None else y[:n]
    result = amortization_gap(
        vae,
        x,
        y,
        config.gap_steps,
        config.gap_lr,
        num_samples=config.gap_samples,
        seed=seed,
        progress=progress,
    )
    return {
        "amortized": result.amortized,
        "optimized": result.optimized,
        "log_likelihood": result.log_likelihood,
    }


def _samples(vae, data, num: int) -> torch.Tensor:
    if num == 0 or is_improper(vae.prior):
        return torch.empty(0, *data.x_shape)
    device = next(vae.parameters()).device
    context = None
    if data.context == "array":  # the test points' own contexts
        context = data.split("test")[1][:num]
        num = len(context)
    elif data.context_dim:  # one class after another
        context = torch.eye(data.context_dim)[torch.arange(num) % data.context_dim]
    context = None if context is None else context.to(device)
    with seeded(0):
        return vae.generate(num, context).cpu()


def _history(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    rows = list(ckpt.get("history", []))
    keys = ("train_elbo", "train_objective", "val_elbo", "val_rate", "val_distortion")
    nan = float("nan")
    return {
        k: torch.tensor([float(r.get(k, nan)) for r in rows], dtype=torch.float64) for k in keys
    }
