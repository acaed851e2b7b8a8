"""Run folders: one fit's settings, checkpoint, history, metrics and pictures together.

``fit_run`` writes into ``out/``:

    config.json           every setting, the seeds and package versions
    checkpoint.pt         model, optimiser and RNG state (after every epoch, atomically)
    history.csv           per-epoch train/validation ELBO and seconds
    metrics.json          test metrics in nats per example (names are stable)
    pointwise.pt          per-test-example log p(x) and ELBO (for paired comparisons)
    evaluation-*.partial.pt  the finished test batches of an interrupted evaluation (deleted
                          when it completes; the next fit --resume or evaluate goes on from it)
    samples.png, reconstructions.png, elbo.png

``evaluate_run`` recomputes the metrics from the checkpoint.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import torch

from ppvae import plots
from ppvae.checks import check_fields, check_positive, check_seed
from ppvae.data import Data, DataConfig, load_data, resolve_binarize
from ppvae.errors import UserInputError
from ppvae.inference.checkpoint import check_resumable, load_checkpoint, load_weights
from ppvae.inference.evaluate import is_discrete, pointwise, summarize
from ppvae.inference.resumable import PATTERN as PARTIAL_PATTERN
from ppvae.inference.svi import (
    FitConfig,
    FitResult,
    check_data,
    check_device,
    check_objective,
    fit,
)
from ppvae.inference.warm_start import checkpoint_file, final_weights, warm_start
from ppvae.io import read_json, remove_stale_temporaries, save_torch, write_csv, write_json
from ppvae.models.build import ModelConfig, build_vae
from ppvae.models.family import family_of
from ppvae.models.frames import FrameEncoder
from ppvae.models.likelihoods import likelihood_class
from ppvae.models.priors import canonical_spec, is_improper, resolve_prior
from ppvae.models.vae import VAE
from ppvae.seeding import seeded
from ppvae.sequences import continue_sequences, frame_strips
from ppvae.traversals import latent_traversals

RUN_FILES = (
    "config.json",
    "checkpoint.pt",
    "history.csv",
    "metrics.json",
    "pointwise.pt",
    "samples.png",
    "reconstructions.png",
    "elbo.png",
    "traversals.png",
    "continuations.png",
)


@dataclass
class EvalConfig:
    """Settings of the test-set evaluation."""

    num_samples: int = 5000  # importance samples K per test point
    batch_size: int = 100  # test points per batch
    seed: int = 0  # seeds the importance samples

    def __post_init__(self) -> None:
        check_fields(self)
        check_positive("num_samples", self.num_samples)
        check_positive("batch_size", self.batch_size)
        check_seed("eval seed", self.seed)


@dataclass
class RunConfig:
    """Everything that defines a run; saved as ``config.json``.

    Example:
        >>> RunConfig.from_dict(RunConfig().to_dict()).fit.epochs
        30
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        """JSON-ready settings plus the versions of the packages that ran them."""
        return {**asdict(self), "versions": versions()}

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> RunConfig:
        """Parse a saved configuration, with a clear error for a hand-edited or foreign one."""
        parts = {"data": DataConfig, "model": ModelConfig, "fit": FitConfig, "eval": EvalConfig}
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), dict) for k in parts):
            raise UserInputError(
                f"{source} is not a ppvae run configuration (sections {list(parts)})"
            )
        try:
            return cls(**{key: kind(**raw[key]) for key, kind in parts.items()})
        except TypeError as err:
            raise UserInputError(f"{source} is not a ppvae run configuration ({err})") from None


def versions() -> dict[str, str]:
    """Versions of Python, ppvae, torch, pyro and numpy.

    Example:
        >>> sorted(versions())
        ['numpy', 'ppvae', 'pyro', 'python', 'torch']
    """
    from ppvae import __version__

    return {
        "python": platform.python_version(),
        "ppvae": __version__,
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "numpy": np.__version__,
    }


def prepare(config: RunConfig) -> tuple[RunConfig, Data, VAE]:
    """Load and check the data, and build the model (seeded by ``config.fit.seed``);
    ``auto`` binarisation and the data shape are resolved into the returned configuration.

    Example:
        >>> config, data, vae = prepare(RunConfig(model=ModelConfig(latent_dim=2, hidden=(8,))))
        >>> config.data.binarize, config.model.x_shape
        ('dynamic', (1, 8, 8))
    """
    binary = likelihood_class(config.model.likelihood).binary
    context = config.data.context
    if context == "none" and getattr(resolve_prior(config.model.prior), "needs_context", False):
        context = "labels"  # a conditional prior p(z|y) is given the labels as y
    resolved = {"binarize": resolve_binarize(config.data.binarize, binary), "context": context}
    resolved.update(_absolute_paths(config.data))  # a resumed run finds the same files
    data_config = DataConfig(**{**asdict(config.data), **resolved})
    data = load_data(data_config)
    resolved = {"x_shape": data.x_shape, "context_dim": data.context_dim}
    resolved["prior"] = canonical_spec(config.model.prior)
    model_config = ModelConfig(**{**asdict(config.model), **resolved})
    fit_config = config.fit
    if fit_config.init_from is not None:  # a resumed run finds the same source
        fit_config = replace(fit_config, init_from=str(Path(fit_config.init_from).resolve()))
    config = RunConfig(data=data_config, model=model_config, fit=fit_config, eval=config.eval)
    torch.manual_seed(config.fit.seed)  # the initial weights are part of the seeded run
    vae = build_vae(model_config)
    check_data(vae, data)
    check_objective(vae, data, config.fit)
    return config, data, vae


def _absolute_paths(data: DataConfig) -> dict[str, str]:
    """A data file and a data folder as absolute paths (registered names stay names)."""
    paths = {}
    if Path(data.name).suffix.lower() in (".npy", ".npz", ".csv"):
        paths["name"] = str(Path(data.name).expanduser().resolve())
    if data.data_dir is not None:
        paths["data_dir"] = str(Path(data.data_dir).expanduser().resolve())
    return paths


def start_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Make ``out`` ready: refuse to clobber an existing run unless asked to.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> start_folder(out, resume=False, overwrite=False); out.is_dir()
        True
    """
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} exists and is not a folder")
    if existing == ["config.json"] and not resume:  # a run that failed before its first epoch
        existing = []
    if existing and not (resume or overwrite):
        raise UserInputError(
            f"{out} already holds a run; pass --resume to continue it or --overwrite"
        )
    if overwrite and not resume:
        for name in existing:
            (out / name).unlink()
        for partial in out.glob(PARTIAL_PATTERN):  # an interrupted evaluation's batches
            partial.unlink()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # an interrupted write's leftovers


def fit_run(
    config: RunConfig, out: str | Path, resume: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Fit and evaluate one configuration, writing the run folder; returns the metrics.

    With ``resume=True`` and an existing ``out/checkpoint.pt`` training continues from it.

    Example:
        >>> import tempfile
        >>> config = RunConfig(data=DataConfig(name="digits"),
        ...                    model=ModelConfig(latent_dim=4, hidden=(32,)),
        ...                    fit=FitConfig(epochs=1, progress=False),
        ...                    eval=EvalConfig(num_samples=10))
        >>> metrics = fit_run(config, tempfile.mkdtemp())
        >>> {"test_elbo", "test_log_likelihood", "test_log_likelihood_se"} <= set(metrics)
        True
    """
    out = Path(out)
    config, data, vae = prepare(config)  # every input check happens before the folder is touched
    if config.fit.init_from is not None and not (resume and (out / "checkpoint.pt").exists()):
        _check_warm_start(vae, config.model, config.fit.init_from, out)
    if resume and (out / "checkpoint.pt").is_file():  # refused before config.json is touched
        check_resumable(load_checkpoint(out / "checkpoint.pt"), str(out / "checkpoint.pt"))
    start_folder(out, resume, overwrite)
    write_json(out / "config.json", config.to_dict())
    result = fit(
        vae,
        data,
        config.fit,
        checkpoint=out / "checkpoint.pt",
        resume=resume,
        on_epoch=lambda so_far: write_csv(out / "history.csv", so_far.history),
    )
    if result.history:
        write_csv(out / "history.csv", result.history)
        plots.save_elbo_curves(result.history, out / "elbo.png")
    metrics = _test_metrics(vae, data, config, result, out)
    write_json(out / "metrics.json", metrics)
    _pictures(vae, data, out)
    return metrics


def _check_warm_start(vae: VAE, config: ModelConfig, source: str, out: Path) -> None:
    """The warm start's source exists, fits the model and is not the folder about to be
    written (its weights would be gone before training read them)."""
    path = checkpoint_file(source).resolve()
    if path.is_relative_to(out.resolve()):
        raise UserInputError(
            f"--init-from {source} lies in the run folder {out}: write the new run elsewhere"
        )
    try:
        warm_start(vae, path)
    except UserInputError:
        differ = _model_differences(path.parent / "config.json", config)
        if not differ:
            raise
        raise UserInputError(
            f"--init-from {source} has another architecture: {', '.join(differ)}"
        ) from None


def _model_differences(saved: Path, config: ModelConfig) -> list[str]:
    """``key=theirs (now ours)`` for each model setting in which the run whose
    ``config.json`` is ``saved`` differs from ``config`` (none when there is no file)."""
    if not saved.is_file():
        return []
    theirs = asdict(RunConfig.from_dict(read_json(saved), str(saved)).model)
    ours = asdict(config)
    plain = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    return [
        f"{key}={plain(theirs[key])} (now {plain(ours[key])})"
        for key in ours
        if plain(theirs[key]) != plain(ours[key])
    ]


def evaluate_run(
    run: str | Path, num_samples: int | None = None, seed: int | None = None, progress: bool = False
) -> dict[str, Any]:
    """Recompute a run's test metrics from its checkpoint and update ``metrics.json``.

    Example:
        >>> import tempfile
        >>> run = tempfile.mkdtemp()
        >>> config = RunConfig(model=ModelConfig(latent_dim=2, hidden=(16,)),
        ...                    fit=FitConfig(epochs=1, progress=False),
        ...                    eval=EvalConfig(num_samples=5))
        >>> _ = fit_run(config, run)
        >>> evaluate_run(run, num_samples=20)["num_samples"]
        20
    """
    run = Path(run)
    config, data, vae, ckpt = load_run(run)
    remove_stale_temporaries(run)
    if num_samples is not None:
        config.eval.num_samples = num_samples
    if seed is not None:
        config.eval.seed = seed
    previous = read_json(run / "metrics.json") if (run / "metrics.json").is_file() else {}
    result = FitResult(
        history=list(ckpt.get("history", [])),
        seconds=float(ckpt.get("train_seconds", previous.get("train_seconds", 0.0))),
        best_epoch=int(ckpt.get("best_epoch", 0)),
    )
    config.fit.progress = progress
    metrics = {**previous, **_test_metrics(vae, data, config, result, run)}
    write_json(run / "metrics.json", metrics)
    return metrics


def load_run(run: str | Path) -> tuple[RunConfig, Data, VAE, dict[str, Any]]:
    """The configuration, data, trained model (the weights :func:`final_weights` picks) and
    checkpoint of a run folder.

    Example:
        >>> import tempfile
        >>> run = tempfile.mkdtemp()
        >>> config = RunConfig(model=ModelConfig(latent_dim=2, hidden=(16,)),
        ...                    fit=FitConfig(epochs=1, progress=False),
        ...                    eval=EvalConfig(num_samples=5))
        >>> _ = fit_run(config, run)
        >>> load_run(run)[2].generate(3).shape
        torch.Size([3, 1, 8, 8])
    """
    run = Path(run)
    if not (run / "config.json").is_file():
        raise UserInputError(f"{run} is not a ppvae run folder (no config.json)")
    config = RunConfig.from_dict(read_json(run / "config.json"), str(run / "config.json"))
    config, data, vae = prepare(config)
    ckpt = load_checkpoint(run / "checkpoint.pt")
    load_weights(vae, final_weights(ckpt), str(run / "checkpoint.pt"))
    vae.to(check_device(config.fit.device))
    return config, data, vae, ckpt


def evaluation_arguments(settings: EvalConfig) -> dict[str, int]:
    """The arguments of :func:`~ppvae.inference.evaluate.pointwise` (and so of
    :func:`~ppvae.inference.evaluate.evaluation_key`) that a run's test evaluation uses.

    Example:
        >>> evaluation_arguments(EvalConfig(num_samples=50))
        {'num_samples': 50, 'batch_size': 100, 'seed': 0}
    """
    return {
        "num_samples": settings.num_samples,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
    }


def _test_metrics(
    vae: VAE, data: Data, config: RunConfig, result: FitResult, out: Path | None = None
) -> dict[str, Any]:
    x, y = data.split("test")
    start = time.perf_counter()
    points = pointwise(
        vae,
        x,
        y,
        **evaluation_arguments(config.eval),
        progress=config.fit.progress,
        partial_dir=out,
    )
    m = summarize(points, is_discrete(vae), math.prod(x.shape[1:]), time.perf_counter() - start)
    if out is not None:  # per-test-point values, for paired comparisons between runs
        save_torch(
            out / "pointwise.pt",
            {
                "log_likelihood": points.log_likelihood,
                "elbo": points.elbo,
                "num_samples": points.num_samples,
                "seed": config.eval.seed,
            },
        )
    return {
        "dataset": data.name,
        "likelihood": config.model.likelihood,
        "prior": config.model.prior,
        "family": family_of(config.model),
        "context": data.context,  # with labels, the likelihood is log p(x | y)
        "test_elbo": m.elbo,
        "test_elbo_se": m.elbo_se,
        # None for the deterministic autoencoders: log p(x) is undefined without a density
        "test_log_likelihood": None if m.point_estimate else m.log_likelihood,
        "test_log_likelihood_se": None if m.point_estimate else m.log_likelihood_se,
        "point_estimate": m.point_estimate,  # test_elbo is then the objective, not a bound
        "num_samples": m.num_samples,
        "num_test": m.num_points,
        "kl": m.kl,
        "reconstruction": m.reconstruction,
        "active_units": m.active_units,
        "latent_dim": config.model.latent_dim,
        # numbers in the latents: T * latent_dim for sequences, z and z_lower for two levels
        "latent_size": points.posterior_mean.shape[1],
        "bits_per_dim": m.bits_per_dim,
        "train_seconds": result.seconds,
        "eval_seconds": m.seconds,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "val_elbo": _evaluated_val_elbo(result, config.fit.patience),
        "test_binarization_seed": config.data.binarization_seed
        if data.binarize != "none"
        else None,
        "units": "nats per example",
    }


def _evaluated_val_elbo(result: FitResult, patience: int | None) -> float | None:
    """Validation ELBO of the epoch whose weights are evaluated (the best under early stopping)."""
    if not result.history:
        return None
    row = result.history[result.best_epoch - 1] if patience is not None else result.history[-1]
    return row["val_elbo"]


def _pictures(vae: VAE, data: Data, out: Path) -> None:
    if isinstance(vae.encoder, FrameEncoder):
        _sequence_pictures(vae, data, out)
        return
    device = next(vae.parameters()).device
    cycle = (
        torch.eye(data.context_dim)[torch.arange(100) % data.context_dim]
        if data.context_dim
        else None
    )
    if not is_improper(vae.prior):  # a flat prior has nothing to sample
        with seeded(0):
            samples = vae.generate(100, None if cycle is None else cycle.to(device)).cpu()
        title = "samples (means)" + (", one class per column" if cycle is not None else "")
        plots.save_grid(samples, data.x_shape, out / "samples.png", title)
    x, y = data.split("test")
    x, y = x[:50].to(device), None if y is None else y[:50].to(device)
    x_hat = vae.reconstruct(x, y).cpu()
    x = x.cpu()
    plots.save_reconstructions(x, x_hat, data.x_shape, out / "reconstructions.png")
    x, y = data.split("test")
    x, y = x[:1000].to(device), None if y is None else y[:1000].to(device)
    images, chosen = latent_traversals(vae, x, y, dims=10, steps=11)
    title = f"latent traversals: rows sweep z[{', '.join(map(str, chosen))}] (most active first)"
    plots.save_grid(images.cpu(), data.x_shape, out / "traversals.png", title, ncol=11)


def _sequence_pictures(vae: VAE, data: Data, out: Path) -> None:
    """Frame strips (one sequence per row): samples, reconstructions, continuations."""
    device = next(vae.parameters()).device
    frame, steps = data.x_shape[1:], data.x_shape[0]
    x, y = data.split("test")
    x, y = x[:4].to(device), None if y is None else y[:4].to(device)
    with seeded(0):
        context = None if y is None else y[:1].expand(8, -1)
        samples = vae.generate(8, context).cpu()
        given = max(1, steps // 2)
        continued = None
        if hasattr(vae.prior, "continuation"):  # a user's sequence prior may have none
            continued = continue_sequences(vae, x, given, y, mean=True).cpu()
    strip = lambda parts: frame_strips(parts).reshape(-1, *frame)  # noqa: E731
    plots.save_grid(
        samples.reshape(-1, *frame),
        frame,
        out / "samples.png",
        "sampled sequences (means), one per row",
        ncol=steps,
    )
    x_hat = vae.reconstruct(x, y).cpu()
    plots.save_grid(
        strip([x.cpu(), x_hat]),
        frame,
        out / "reconstructions.png",
        "test sequences (odd rows) and reconstructions (even rows)",
        ncol=steps,
    )
    if continued is None:
        return
    plots.save_grid(
        strip([x.cpu(), continued]),
        frame,
        out / "continuations.png",
        f"test sequences and continuations from their first {given} frames",
        ncol=steps,
    )
