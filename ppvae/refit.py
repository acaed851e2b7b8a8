"""``ppvae refit-prior``: a trained run with a new prior fitted to its posteriors.

The encoder and decoder of the run stay as they are; the prior is replaced by another
(any prior ppvae can build: a VampPrior with more pseudo-inputs, a mixture, a flow, a
user's own) and fitted by maximum likelihood to draws from the run's posteriors on the
training images (:mod:`ppvae.inference.prior_fit`).  The result is a run folder like an
export (:mod:`ppvae.export`): ``ppvae evaluate`` scores it, ``ppvae paired`` compares it
with the source on the same test images, and ``ppvae fit --init-from`` trains on from it.

A prior that implements ``init_from_data(z, x)`` is first initialised from posterior
draws ``z`` and training images ``x`` (a VampPrior's pseudo-inputs become training
images, a mixture's means posterior draws).

The validation images are split in two halves: the first picks the step to keep, the
second reports the result, so the reported figures carry no selection bias.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ppvae.data import binarize
from ppvae.errors import UserInputError
from ppvae.export import KEPT_STATE
from ppvae.inference.checkpoint import EXPORTED, save_checkpoint
from ppvae.inference.evaluate import mean_and_se
from ppvae.inference.prior_fit import (
    fit_prior,
    log_likelihood_change,
    mean_log_density,
    posterior_draws,
    resample,
    weighted_draws,
)
from ppvae.inference.svi import check_objective
from ppvae.io import write_csv, write_json
from ppvae.models.build import ModelConfig, build_vae
from ppvae.models.priors import canonical_spec
from ppvae.models.priors.registry import IMPROPER_PRIORS
from ppvae.runs import RunConfig, load_run
from ppvae.seeding import seeded


@dataclass
class RefitSettings:
    """How the new prior is fitted (see :func:`~ppvae.inference.prior_fit.fit_prior`)."""

    proposals: int = 16  # guide draws per image, importance-resampled to one
    steps: int = 2000  # Adam steps
    lr: float = 1e-3
    batch_size: int = 500  # posterior draws per step
    eval_every: int = 100  # steps between held-out checks
    seed: int = 0
    progress: bool = False
    from_source: bool = False  # start the first components at the run's own prior's


def refit_prior_run(
    run: str | os.PathLike,
    dest: str | os.PathLike,
    prior: str,
    prior_args: dict[str, str] | None = None,
    settings: RefitSettings | None = None,
) -> dict[str, Any]:
    """Write ``dest``: the run ``run`` with its prior replaced by ``prior`` (a spec as for
    ``ppvae fit --prior``, with ``prior_args``) fitted to the run's posteriors.  Returns
    the summary also written to ``dest/refit.json``, measured on the second half of the
    validation images: ``gain``, the rise in mean log prior density at posterior draws (a
    lower bound, up to the resampling, on the rise in log p(x)), and
    ``log_likelihood_change`` with its standard error, the rise in log p(x) itself
    estimated on the same weighted draws.

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.runs import EvalConfig, fit_run
        >>> from ppvae.inference import FitConfig
        >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> _ = fit_run(RunConfig(model=ModelConfig(latent_dim=2, hidden=(16,)),
        ...     fit=FitConfig(epochs=1, progress=False), eval=EvalConfig(num_samples=5)), run)
        >>> s = refit_prior_run(run, run.parent / "mog", "mixture", {"components": "3"},
        ...                     RefitSettings(proposals=2, steps=20, eval_every=10))
        >>> s["prior"], sorted(p.name for p in (run.parent / "mog").iterdir())
        ('mixture', ['checkpoint.pt', 'config.json', 'history.csv', 'refit.csv', 'refit.json'])
    """
    settings = settings or RefitSettings()
    run, dest = Path(run), Path(dest)
    _check_destination(run, dest)
    config, data, source, ckpt = load_run(run)
    model_config = replace(
        config.model, prior=canonical_spec(prior), prior_args=dict(prior_args or {})
    )
    with seeded(settings.seed):
        vae = _new_model(source, model_config)
    try:  # DEST must load as the run's training settings say
        check_objective(vae, data, config.fit)
    except UserInputError as err:
        message = f"the run's training settings do not suit the new prior: {err}"
        raise UserInputError(message) from None
    start = time.perf_counter()
    rows, report = _fit(source, vae, data, settings)
    summary = {
        "source": str(run.resolve()),
        "prior": prior,
        "prior_args": dict(prior_args or {}),
        "best_step": max(rows, key=lambda r: r["val_log_density"])["step"],
        **report,
        "seconds": time.perf_counter() - start,
        "settings": asdict(settings),
    }
    new_config = RunConfig(data=config.data, model=model_config, fit=config.fit, eval=config.eval)
    _write(dest, new_config, vae, ckpt, rows, summary, run)
    return summary


def _fit(source, vae, data, settings: RefitSettings) -> tuple[list[dict], dict[str, float]]:
    """Draw from the source's posteriors, start and fit ``vae.prior`` (checked on the
    first half of the validation images); returns the checks and the report on the
    second half."""
    images, k, seed = _images(data, settings.seed), settings.proposals, settings.seed
    bar, device = settings.progress, next(vae.parameters()).device
    train_z = posterior_draws(source, images, None, k, seed=seed, progress=bar).to(device)
    val_w, val_all = weighted_draws(source, data.x_val, None, k, seed=seed + 1, progress=bar)
    val_w, val_all = val_w.to(device), val_all.to(device)
    val_z = resample(val_w.cpu(), val_all.cpu(), seed=seed + 1).to(device)
    half = len(val_z) // 2
    if half < 1:
        raise UserInputError("refit-prior needs at least two validation images")
    with seeded(seed):
        _start(vae.prior, source.prior, train_z, images.to(device), settings.from_source)
    vae.eval()  # the scored model: no dropout in a shared encoder
    s = settings
    rows = fit_prior(
        vae.prior, train_z, val_z[:half], s.steps, s.lr, s.batch_size, s.eval_every, seed, bar
    )
    before = mean_log_density(source.prior, val_z[half:])
    after = mean_log_density(vae.prior, val_z[half:])
    change = log_likelihood_change(source.prior, vae.prior, val_w[half:], val_all[half:])
    mean, se = mean_and_se(change.cpu())
    report = {
        "report_images": len(val_z) - half,
        "log_density_source_prior": before,
        "log_density": after,
        "gain": after - before,
        "log_likelihood_change": mean,
        "log_likelihood_change_se": se,
    }
    return rows, report


def _start(prior, source_prior, z: torch.Tensor, x: torch.Tensor, from_source: bool) -> None:
    """The new prior's starting point: from the data where it can, then the run's own."""
    init = getattr(prior, "init_from_data", None)
    if callable(init):
        with torch.no_grad():
            init(z, x)
    if from_source:
        _start_from_source(prior, source_prior)


def _check_destination(run: Path, dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserInputError(f"{dest} exists and is not an empty folder: name a new one")
    if dest.resolve().is_relative_to(run.resolve()):
        raise UserInputError(f"cannot write {dest} inside the run {run}: name a folder outside it")


def _new_model(source: torch.nn.Module, model_config: ModelConfig) -> torch.nn.Module:
    """The source's network with the new prior: every weight but the prior's copied."""
    if model_config.prior in IMPROPER_PRIORS:
        raise UserInputError("a flat prior has no density to fit: name a proper prior")
    vae = build_vae(model_config)
    if getattr(vae.prior, "needs_context", False) or model_config.context_dim:
        raise UserInputError("refit-prior fits unconditional priors of runs without context")
    if len(vae.prior().event_shape) != 1:
        raise UserInputError(
            f"refit-prior fits priors over a vector latent; {model_config.prior!r} has "
            f"latent shape {tuple(vae.prior().event_shape)}"
        )
    if not any(True for _ in vae.prior.parameters()):
        raise UserInputError(f"the prior {model_config.prior!r} has no parameters to fit")
    ours, theirs = vae.state_dict(), source.state_dict()
    network = {k: v for k, v in theirs.items() if not k.startswith("prior.")}
    differ = [k for k in ours if not k.startswith("prior.") and k not in network]
    differ += [k for k, v in network.items() if k not in ours or ours[k].shape != v.shape]
    if differ:
        raise UserInputError(
            f"the new prior changes the network (latent size or shape): {', '.join(differ[:3])}"
        )
    vae.load_state_dict({**ours, **network})
    return vae.to(next(source.parameters()).device)


def _start_from_source(new: torch.nn.Module, old: torch.nn.Module) -> None:
    """Copy the run's prior into the new one of the same class: every parameter and buffer
    (a flow's permutations) whole, or into the first rows when the new prior has more
    components (the other rows keep their start)."""
    if type(new) is not type(old):
        raise UserInputError(
            f"--from-source needs the run's prior class ({type(old).__name__}), "
            f"not {type(new).__name__}"
        )
    theirs, ours = old.state_dict(), new.state_dict()
    with torch.no_grad():
        for name, value in ours.items():
            given = theirs.get(name)
            if given is None or given.shape[1:] != value.shape[1:] or len(given) > len(value):
                raise UserInputError(
                    f"--from-source: the run's prior entry {name!r} does not fit the new "
                    "prior (it may only grow in its first dimension, the components)"
                )
            value[: len(given)] = given


def _images(data, seed: int) -> torch.Tensor:
    """The training images as the model sees them (one binarisation when dynamic)."""
    x = data.x_train
    if data.binarize == "dynamic":
        x = binarize(x, torch.Generator().manual_seed(seed))
    return x


def _write(dest, config, vae, ckpt, rows, summary, run: Path) -> None:
    """The folder, whole or not at all (staged beside it, then renamed)."""
    dest = dest.resolve()
    staging = dest.parent / f".{dest.name}.refitting"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_json(staging / "config.json", config.to_dict())
    state = {k: ckpt[k] for k in KEPT_STATE if k in ckpt}
    origin = ckpt.get(EXPORTED, run.resolve().name)
    state.update(model=vae.state_dict(), **{EXPORTED: f"{origin} (prior refitted)"})
    save_checkpoint(staging / "checkpoint.pt", state)
    if state.get("history"):
        write_csv(staging / "history.csv", state["history"])
    write_csv(staging / "refit.csv", rows)
    write_json(staging / "refit.json", summary)
    if dest.exists():
        dest.rmdir()  # checked empty above
    staging.rename(dest)
