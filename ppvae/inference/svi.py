"""``fit``: stochastic variational inference for any model/guide pair with parameters.

Each step is one EM-like move on a mini-batch: the gradient of the ELBO with respect to
the encoder tightens q(z|x) towards the posterior (E-step) and, with respect to the
decoder and prior, raises the bound on log p(x) (M-step).  The ELBO is Pyro's
``Trace_ELBO``, or ``TraceMeanField_ELBO`` (analytic KL) when every latent site has a
closed-form KL; the optimiser is torch's Adam over the module's parameters.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyro
import torch
from pyro.infer import ELBO
from torch import nn
from tqdm.auto import tqdm

from ppvae.checks import check_fields, check_seed
from ppvae.data import Data, binarize
from ppvae.errors import UserInputError
from ppvae.inference.checkpoint import (
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from ppvae.inference.elbo import ELBOS, make_elbo


class TrainingDiverged(RuntimeError):
    """The loss or its gradient became NaN or infinite."""


@dataclass
class FitConfig:
    """Every setting of :func:`fit`, with its default.

    Example:
        >>> FitConfig(epochs=5).lr
        0.001
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    clip_norm: float | None = None  # clip the gradient's global norm (None: no clipping)
    num_particles: int = 1  # samples of z per data point in the training ELBO
    elbo: str = "auto"  # auto | trace (Monte Carlo KL) | meanfield (analytic KL)
    patience: int | None = None  # stop after this many epochs without a better validation ELBO
    seed: int = 0  # seeds the batch order, dynamic binarisation and Pyro's sampling
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        check_fields(self)
        check_seed("seed", self.seed)
        check_device(self.device)
        checks = [
            (self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be positive, got {self.lr}"),
            (self.num_particles >= 1, f"num_particles must be >= 1, got {self.num_particles}"),
            (self.elbo in ELBOS, f"unknown elbo {self.elbo!r}; choose one of {', '.join(ELBOS)}"),
            (self.clip_norm is None or self.clip_norm > 0, "clip_norm must be positive"),
            (self.patience is None or self.patience >= 1, "patience must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserInputError(message)

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)


@dataclass
class FitResult:
    """What :func:`fit` returns: losses and per-epoch ELBOs, all in nats per data point.

    Attributes:
        losses: the training loss (negative ELBO estimate) of every step.
        history: one dict per epoch: ``epoch``, ``train_elbo``, ``val_elbo``, ``seconds``.
        seconds: training time over all epochs (resumed runs included).
        elbo: the name of the Pyro ELBO used.
        best_epoch: the epoch with the highest validation ELBO.
        stopped_early: whether early stopping ended the run.
    """

    losses: list[float] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    elbo: str = ""
    best_epoch: int = 0
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Number of epochs trained."""
        return len(self.history)


def check_device(name: str) -> torch.device:
    """Parse a device name and check that this machine has it.

    Example:
        >>> check_device("cpu")
        device(type='cpu')
        >>> check_device("gpu")
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: unknown device 'gpu'; use cpu, cuda or cuda:N
    """
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserInputError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            raise UserInputError(f"device {name!r} is not available here ({count} CUDA devices)")
    elif device.type != "cpu":
        raise UserInputError(f"device {name!r} is not supported; use cpu, cuda or cuda:N")
    return device


def fit(
    vae: nn.Module,
    data: Data,
    config: FitConfig | None = None,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    on_epoch: Callable[[FitResult], None] | None = None,
    **overrides: Any,
) -> FitResult:
    """Fit ``vae`` (anything with ``model``, ``guide`` and parameters) to ``data`` by SVI.

    Arguments:
        vae: e.g. a :class:`~ppvae.models.VAE`; its ``model(x, y)`` and ``guide(x, y)``
            are Pyro programs and its ``parameters()`` are optimised.
        data: a :class:`~ppvae.data.Data`; training batches come from its train split and
            the validation ELBO from its validation split.
        config: a :class:`FitConfig`; keyword ``overrides`` replace its fields.
        checkpoint: file written atomically after every epoch (model, optimiser, RNG
            states, history); with ``resume=True`` training continues from it.
        on_epoch: called after every epoch with the :class:`FitResult` so far.

    Returns:
        :class:`FitResult`.  With early stopping (``patience``) the module ends with the
        parameters of its best validation epoch.

    Example:
        >>> from ppvae.data import load_data, DataConfig
        >>> from ppvae.models import build_vae, ModelConfig
        >>> data = load_data(DataConfig(name="digits", binarize="dynamic"))
        >>> vae = build_vae(ModelConfig(x_shape=data.x_shape, latent_dim=4, hidden=(64,)))
        >>> result = fit(vae, data, epochs=2, progress=False)
        >>> result.epochs, result.elbo, result.history[-1]["val_elbo"] < 0
        (2, 'AnalyticKL_ELBO', True)
    """
    config = replace(config or FitConfig(), **overrides)
    # ppvae optimises vae.parameters() directly, so Pyro's global param store is not needed.
    store_off = getattr(vae, "param_store_off", contextlib.nullcontext)
    with store_off():
        return _fit(vae, data, config, checkpoint, resume, on_epoch)


def _fit(vae, data, config, checkpoint, resume, on_epoch) -> FitResult:
    device = torch.device(config.device)
    vae.to(device)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    first_x, first_y = _first_batch(data, config, device)
    check_data(vae, data)
    elbo = make_elbo(config.elbo, vae.model, vae.guide, (first_x, first_y), config.num_particles)
    optimizer = _adam(vae, config.lr, device)
    state = _TrainState(result=FitResult(elbo=type(elbo).__name__))
    if resume and checkpoint is not None and Path(checkpoint).exists():
        ckpt = load_checkpoint(checkpoint)
        _check_same_settings(ckpt.get("fit_config", {}), config, str(checkpoint))
        state.restore(ckpt, vae, optimizer, generator, str(checkpoint))
    steps = max(0, config.epochs - state.epoch) * _steps_per_epoch(data, config.batch_size)
    bar = tqdm(total=steps, disable=not config.progress, unit="step", dynamic_ncols=True)
    while state.epoch < config.epochs and not state.result.stopped_early:
        row = _train_epoch(vae, data, config, elbo, optimizer, generator, state, bar, device)
        state.end_epoch(row, vae, config.patience)
        if checkpoint is not None:
            save_checkpoint(checkpoint, state.to_checkpoint(vae, optimizer, generator, config))
        if on_epoch is not None:
            on_epoch(state.result)
        if config.progress and _worth_a_line(state.epoch, config.epochs):
            bar.write(_format_row(row, config.epochs))
    bar.close()
    if state.best_model is not None and config.patience is not None:
        vae.load_state_dict(state.best_model)
    return state.result


@dataclass
class _TrainState:
    result: FitResult
    epoch: int = 0
    best_val: float = -math.inf
    best_model: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0

    def end_epoch(self, row: dict[str, float], vae: nn.Module, patience: int | None) -> None:
        self.epoch += 1
        self.result.history.append(row)
        self.result.seconds += row["seconds"]
        if row["val_elbo"] > self.best_val:
            self.best_val, self.bad_epochs = row["val_elbo"], 0
            self.result.best_epoch = self.epoch
            if patience is not None:
                self.best_model = copy.deepcopy(vae.state_dict())
        else:
            self.bad_epochs += 1
            self.result.stopped_early = patience is not None and self.bad_epochs >= patience

    def to_checkpoint(self, vae, optimizer, generator, config: FitConfig) -> dict[str, Any]:
        return {
            "model": vae.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng_state(generator),
            "epoch": self.epoch,
            "losses": torch.tensor(self.result.losses, dtype=torch.float64),
            "history": self.result.history,
            "train_seconds": self.result.seconds,
            "best_val": self.best_val,
            "best_epoch": self.result.best_epoch,
            "best_model": self.best_model,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.result.stopped_early,
            "fit_config": config.to_dict(),
        }

    def restore(self, ckpt: dict[str, Any], vae, optimizer, generator, source: str) -> None:
        load_weights(vae, ckpt["model"], source)
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
            set_rng_state(ckpt["rng"], generator)
            self.epoch = int(ckpt["epoch"])
            self.result.losses = [float(v) for v in ckpt["losses"]]
            self.result.history = list(ckpt["history"])
            self.result.seconds = float(ckpt["train_seconds"])
            self.best_val = float(ckpt["best_val"])
            self.result.best_epoch = int(ckpt["best_epoch"])
            self.best_model = ckpt["best_model"]
            self.bad_epochs = int(ckpt["bad_epochs"])
            self.result.stopped_early = bool(ckpt["stopped_early"])
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise UserInputError(f"{source} cannot be resumed from ({err})") from None


# Settings that may differ between a run and its resumption; all others must match.
RESUME_MAY_CHANGE = ("epochs", "progress", "device", "patience")


def _check_same_settings(saved: dict, config: FitConfig, source: str) -> None:
    changed = [
        f"{key}={saved[key]!r} (now {value!r})"
        for key, value in config.to_dict().items()
        if key not in RESUME_MAY_CHANGE and key in saved and saved[key] != value
    ]
    if changed:
        raise UserInputError(
            f"{source} was trained with other settings: {', '.join(changed)}; "
            "resume with the same ones"
        )


def _train_epoch(vae, data, config, elbo, optimizer, generator, state, bar, device) -> dict:
    start = time.perf_counter()
    vae.train()
    total, count = 0.0, 0
    params = [p for p in vae.parameters() if p.requires_grad]
    for step, (x, y) in enumerate(data.batches("train", config.batch_size, generator)):
        x, y = x.to(device), (None if y is None else y.to(device))
        # The very first step runs with Pyro's validation on, to catch shape and support
        # errors; later steps skip those checks for speed.
        with pyro.validation_enabled(state.epoch == 0 and step == 0):
            loss = elbo.differentiable_loss(vae.model, vae.guide, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = loss.item()
        # Clipping returns the global gradient norm; without clipping the loss is checked
        # here and a non-finite gradient shows up as a non-finite loss one step later.
        norm = 0.0
        if config.clip_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, config.clip_norm).item()
        _check_finite(value, norm, state.epoch + 1, step, config)
        optimizer.step()
        state.result.losses.append(value / x.shape[0])
        total, count = total + value, count + x.shape[0]
        bar.update(1)
        bar.set_postfix(epoch=state.epoch + 1, elbo=f"{-value / x.shape[0]:.2f}", refresh=False)
    return {
        "epoch": state.epoch + 1,
        "train_elbo": -total / count,
        "val_elbo": validation_elbo(vae, data, elbo, config.batch_size, device),
        "seconds": time.perf_counter() - start,
    }


@torch.no_grad()
def validation_elbo(vae: nn.Module, data: Data, elbo: ELBO, batch_size: int, device) -> float:
    """Mean ELBO per data point on the validation split (no parameter changes).

    Pyro's validation checks are off here: they ran on the first training step.
    """
    vae.eval()
    total = 0.0
    with pyro.validation_enabled(False):
        for x, y in data.batches("val", batch_size, shuffle=False):
            y = None if y is None else y.to(device)
            total += -elbo.loss(vae.model, vae.guide, x.to(device), y)
    vae.train()
    return total / len(data.x_val)


def _check_finite(loss: float, grad_norm: float, epoch: int, step: int, config: FitConfig) -> None:
    if math.isfinite(loss) and math.isfinite(grad_norm):
        return
    what = "loss" if not math.isfinite(loss) else "gradient"
    raise TrainingDiverged(
        f"the {what} is not finite at epoch {epoch}, batch {step} (loss {loss:.4g}); "
        f"try a lower learning rate (now {config.lr:g}), gradient clipping (--clip-norm 100), "
        "or check the data range"
    )


def _adam(vae: nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    params = [p for p in vae.parameters() if p.requires_grad]
    if not params:
        raise UserInputError("the model has no trainable parameters")
    fused = all(p.dtype in (torch.float32, torch.float64) for p in params) and device.type in (
        "cpu",
        "cuda",
    )
    return torch.optim.Adam(params, lr=lr, fused=fused)


def _first_batch(data: Data, config: FitConfig, device) -> tuple[torch.Tensor, torch.Tensor | None]:
    if len(data.x_train) == 0:
        raise UserInputError("the training split is empty")
    x, y = next(data.batches("train", min(config.batch_size, 16), torch.Generator().manual_seed(0)))
    return x.to(device), (None if y is None else y.to(device))


def check_data(vae: nn.Module, data: Data) -> None:
    """Check every split against the model's likelihood (shape and support) before training.

    Pyro's own checks run only on the first step, so this is what guarantees that no
    density is ever evaluated outside its support.

    Example:
        >>> from ppvae.data import load_data, DataConfig
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(1, 8, 8), latent_dim=2, hidden=(8,)))
        >>> check_data(vae, load_data(DataConfig(name="digits", binarize="none")))
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: the bernoulli likelihood needs 0/1 data: \
binarise grey levels (--binarize dynamic or static) or choose --likelihood continuous-bernoulli
    """
    likelihood = getattr(vae, "likelihood", None)
    if likelihood is None:
        return
    shape = tuple(getattr(likelihood, "x_shape", data.x_shape))
    if shape != data.x_shape:
        raise UserInputError(
            f"the model expects data of shape {shape}, the data have {data.x_shape}"
        )
    if data.binarize == "dynamic":
        if (data.x_train < 0).any() or (data.x_train > 1).any():
            raise UserInputError("dynamic binarisation needs grey levels in [0, 1]")
        likelihood.check_data(binarize(data.x_train[:16]))
    else:
        likelihood.check_data(data.x_train)
    likelihood.check_data(data.x_val)
    likelihood.check_data(data.x_test)


def _steps_per_epoch(data: Data, batch_size: int) -> int:
    return math.ceil(len(data.x_train) / batch_size)


def _worth_a_line(epoch: int, epochs: int) -> bool:
    """Print about twenty epoch lines however long the run (the bar shows the rest)."""
    return epoch % max(1, epochs // 20) == 0 or epoch == epochs


def _format_row(row: dict[str, float], epochs: int) -> str:
    return (
        f"epoch {row['epoch']:>3}/{epochs}  train ELBO {row['train_elbo']:9.3f}  "
        f"val ELBO {row['val_elbo']:9.3f}  {row['seconds']:6.1f}s"
    )
