"""``fit``: stochastic variational inference for any model/guide pair with parameters.

Each step is one EM-like move on a mini-batch: the gradient of the ELBO with respect to
the encoder tightens q(z|x) towards the posterior (E-step) and, with respect to the
decoder and prior, raises the bound on log p(x) (M-step).  The ELBO is Pyro's
``Trace_ELBO``, or ``TraceMeanField_ELBO`` (analytic KL) when every latent site has a
closed-form KL; the optimiser is torch's Adam over the module's parameters.

A beta-VAE, KL annealing and free bits change only the objective, never the program: the
latent sites of model and guide are scaled by the step's β (:mod:`ppvae.inference.kl_weight`)
and free bits floor each dimension's KL (:mod:`ppvae.inference.free_bits`).  The validation
columns of the history are always the plain ELBO and its two terms.
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
    check_resumable,
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from ppvae.inference.elbo import ELBOS, make_elbo, max_plate_nesting
from ppvae.inference.evaluate import has_log_likelihood, pointwise
from ppvae.inference.free_bits import FreeBitsELBO, check_free_bits
from ppvae.inference.iwae import IWAE_ELBO
from ppvae.inference.kl_weight import KLSchedule, LatentScale, check_schedule, scaled
from ppvae.inference.warm_start import warm_start
from ppvae.seeding import seeded


class TrainingDiverged(RuntimeError):
    """The loss or its gradient became NaN or infinite."""


ON_NAN = ("stop", "rollback")
LR_SCHEDULES = ("constant", "cosine")
MAX_ROLLBACKS = 6  # then the lr is 1/64 of where it started, and training stops


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
    beta: float = 1.0  # weight of the KL term (of the latent sites in model and guide)
    anneal: str = "none"  # none | linear (warm-up) | cyclical
    anneal_steps: int = 0  # warm-up length in steps (the period for cyclical)
    free_bits: float = 0.0  # floor in nats under each latent dimension's batch-mean KL
    on_nan: str = "stop"  # stop | rollback: redo the epoch from its start at half the lr
    lr_schedule: str = "constant"  # constant | cosine (from lr to 0 over all the epochs' steps)
    lr_warmup: int = 0  # steps of linear learning-rate warm-up from 0 at the start
    init_from: str | None = None  # a run folder or checkpoint whose weights start the fit

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
            (
                math.isfinite(self.free_bits) and self.free_bits >= 0,
                f"free_bits must be a finite number >= 0, got {self.free_bits}",
            ),
            (
                self.free_bits == 0 or self.elbo != "trace",
                "free bits use the analytic KL; they cannot be combined with elbo='trace'",
            ),
            (self.on_nan in ON_NAN, f"on_nan must be one of {', '.join(ON_NAN)}"),
            (
                self.lr_schedule in LR_SCHEDULES,
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}",
            ),
            (self.lr_warmup >= 0, f"lr_warmup must be >= 0 steps, got {self.lr_warmup}"),
            (
                self.elbo != "iwae" or self.num_particles >= 2,
                "the IWAE bound needs --num-particles K >= 2 (K = 1 is the ELBO); try 5",
            ),
            (
                self.elbo != "iwae" or (self.beta == 1 and self.anneal == "none"),
                "the IWAE bound takes no beta or KL annealing (they weight a KL term it has not)",
            ),
            (
                self.elbo != "iwae" or self.free_bits == 0,
                "free bits need the analytic KL; they cannot be combined with elbo='iwae'",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UserInputError(message)
        check_schedule(self.beta, self.anneal, self.anneal_steps)

    @property
    def schedule(self) -> KLSchedule:
        """β at every step, from ``beta``, ``anneal`` and ``anneal_steps``."""
        return KLSchedule(self.beta, self.anneal, self.anneal_steps)

    @property
    def is_elbo(self) -> bool:
        """Whether the training objective is the ELBO itself (β = 1, no annealing, free bits
        or importance weighting)."""
        return self.schedule.constant and self.free_bits == 0 and self.elbo != "iwae"

    def is_elbo_over(self, first: int, stop: int) -> bool:
        """Whether the objective was the ELBO itself at every step in ``[first, stop)``:
        always when :attr:`is_elbo`, and after a linear warm-up to β = 1 has finished.

        Example:
            >>> c = FitConfig(anneal="linear", anneal_steps=100)
            >>> c.is_elbo_over(0, 50), c.is_elbo_over(100, 150)
            (False, True)
        """
        if self.is_elbo:
            return True
        if self.free_bits != 0 or self.elbo == "iwae" or self.anneal != "linear":
            return False
        return self.beta == 1.0 and first >= self.anneal_steps

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)


@dataclass
class FitResult:
    """What :func:`fit` returns: losses and per-epoch ELBOs, all in nats per data point.

    Attributes:
        losses: the training loss (the negative objective) of every step.
        history: one dict per epoch: ``epoch``, ``train_elbo`` (NaN when the objective is
            not the ELBO: β ≠ 1, an epoch with KL annealing below 1, free bits or
            ``pyro.factor`` penalties),
            ``train_objective``, ``val_elbo``,
            ``val_rate`` (KL), ``val_distortion`` (−E log p(x|z)), ``kl_weight`` (β at the
            epoch's last step), ``beta``, ``free_bits``, ``lr`` (the learning rate after
            any NaN rollbacks) and ``seconds``.
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
    rollbacks: int = 0  # epochs redone at half the learning rate (``on_nan="rollback"``)

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
            states, history); with ``resume=True`` training continues from it.  Otherwise
            ``config.init_from`` (a run folder or checkpoint) gives the starting weights:
            a warm start, with a fresh optimiser, schedule and history
            (:mod:`ppvae.inference.warm_start`).
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
    elbo = _training_elbo(vae, config, (first_x, first_y))
    optimizer = _adam(vae, config.lr, device)
    state = _TrainState(result=FitResult(elbo=type(elbo).__name__))
    if resume and checkpoint is not None and Path(checkpoint).exists():
        ckpt = load_checkpoint(checkpoint)
        _check_same_settings(ckpt.get("fit_config", {}), config, str(checkpoint))
        state.restore(ckpt, vae, optimizer, generator, str(checkpoint))
    elif config.init_from is not None:  # a warm start: the weights only, all else afresh
        warm_start(vae, config.init_from)
    state.total_steps = config.epochs * _steps_per_epoch(data, config.batch_size)
    steps = max(0, config.epochs - state.epoch) * _steps_per_epoch(data, config.batch_size)
    bar = tqdm(total=steps, disable=not config.progress, unit="step", dynamic_ncols=True)
    loss_fn = _objective(vae, config, elbo)
    with seeded(config.seed):  # a probe that leaves the training random stream alone
        point = not has_log_likelihood(vae.model, vae.guide, first_x, first_y)
    state.not_a_bound = penalized(vae) or point
    while state.epoch < config.epochs and not state.result.stopped_early:
        start = time.perf_counter()
        row = _epoch_or_rollback(vae, data, config, loss_fn, optimizer, generator, state, bar)
        row.update(validation_terms(vae, data, config.batch_size, config.seed))
        if not math.isfinite(row["val_elbo"]):  # never checkpoint a broken model as good
            raise TrainingDiverged(
                f"the validation ELBO is not finite after epoch {state.epoch + 1}; the "
                "checkpoint keeps the previous epoch: try a lower learning rate or --clip-norm"
            )
        row["kl_weight"] = config.schedule.weight(len(state.result.losses) - 1)
        row["beta"] = config.beta
        row["free_bits"] = config.free_bits
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - start
        state.end_epoch(row, vae, config.patience)
        if checkpoint is not None:
            save_checkpoint(checkpoint, state.to_checkpoint(vae, optimizer, generator, config))
        if on_epoch is not None:
            on_epoch(state.result)
        if config.progress and _worth_a_line(state.epoch, config.epochs):
            bar.write(_format_row(row, config.epochs, point))
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
    not_a_bound: bool = False  # penalties, a point-mass guide or a flat prior
    rollbacks: int = 0  # epochs redone at a lower learning rate after a NaN (on_nan)
    total_steps: int = 0  # steps of the whole run: the span of the lr schedule
    validated: bool = False  # the first step ran with Pyro's validation on

    def end_epoch(self, row: dict[str, float], vae: nn.Module, patience: int | None) -> None:
        self.epoch += 1
        self.result.history.append(row)
        self.result.seconds += row["seconds"]
        if row["val_elbo"] > self.best_val:
            self.best_val, self.bad_epochs = row["val_elbo"], 0
            self.result.best_epoch = self.epoch
            if patience is not None:
                self.best_model = copy.deepcopy(vae.state_dict())
        elif row.get("kl_weight", 1.0) >= row.get("beta", row.get("kl_weight", 1.0)):
            # while a KL warm-up is below β the ELBO dips by design: those epochs do not
            # count against patience
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
            "rollbacks": self.rollbacks,
            "fit_config": config.to_dict(),
        }

    def restore(self, ckpt: dict[str, Any], vae, optimizer, generator, source: str) -> None:
        check_resumable(ckpt, source)
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
            self.rollbacks = self.result.rollbacks = int(ckpt.get("rollbacks", 0))
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise UserInputError(f"{source} cannot be resumed from ({err})") from None


# Settings that may differ between a run and its resumption; all others must match.
RESUME_MAY_CHANGE = ("epochs", "progress", "device", "patience", "on_nan")


def _check_same_settings(saved: dict, config: FitConfig, source: str) -> None:
    if not saved:
        return
    cosine = saved.get("lr_schedule") == "cosine"
    if cosine and saved.get("epochs") != config.epochs:
        raise UserInputError(
            f"{source} follows a cosine learning-rate schedule over {saved.get('epochs')} "
            "epochs: resume it with those epochs, or start a new run to train longer"
        )
    # settings added after a checkpoint was written had their default value then
    defaults = FitConfig().to_dict()
    changed = [
        f"{key}={saved.get(key, defaults[key])!r} (now {value!r})"
        for key, value in config.to_dict().items()
        if key not in RESUME_MAY_CHANGE and saved.get(key, defaults[key]) != value
    ]
    if changed:
        raise UserInputError(
            f"{source} was trained with other settings: {', '.join(changed)}; "
            "resume with the same ones"
        )


def _training_elbo(vae: nn.Module, config: FitConfig, first: tuple) -> ELBO:
    """Pyro's ELBO for ``config.elbo``, the importance-weighted bound, or the free-bits
    objective when asked for."""
    if config.elbo == "iwae":
        return IWAE_ELBO(config.num_particles, max_plate_nesting(vae.model, vae.guide, *first))
    elbo = make_elbo(config.elbo, vae.model, vae.guide, first, config.num_particles)
    if config.free_bits == 0:
        return elbo
    check_free_bits(vae.model, vae.guide, *first)
    kwargs = {k: getattr(elbo, k) for k in ("num_particles", "vectorize_particles")}
    return FreeBitsELBO(config.free_bits, max_plate_nesting=elbo.max_plate_nesting, **kwargs)


def _objective(vae: nn.Module, config: FitConfig, elbo: ELBO) -> Callable:
    """``loss(x, y, step)``: the ELBO's differentiable loss with step ``step``'s β applied
    to the latent sites of model and guide (the plain model and guide when β is always 1)."""
    schedule, scale = config.schedule, LatentScale()
    model, guide = vae.model, vae.guide
    if not schedule.constant:
        model, guide = scaled(model, scale), scaled(guide, scale)

    def loss(x: torch.Tensor, y: torch.Tensor | None, step: int) -> torch.Tensor:
        scale.weight = schedule.weight(step)
        return elbo.differentiable_loss(model, guide, x, y)

    return loss


def _epoch_or_rollback(vae, data, config, loss_fn, optimizer, generator, state, bar) -> dict:
    """One epoch; with ``on_nan="rollback"`` a NaN/inf loss or gradient restores the
    epoch's starting weights, optimiser and random state, halves the learning rate and
    trains the epoch again (at most ``MAX_ROLLBACKS`` times in a run)."""
    if config.on_nan != "rollback":
        return _train_epoch(vae, data, config, loss_fn, optimizer, generator, state, bar)
    while True:
        saved = _snapshot(vae, optimizer, generator, state)
        try:
            return _train_epoch(vae, data, config, loss_fn, optimizer, generator, state, bar)
        except TrainingDiverged as err:
            if state.rollbacks >= MAX_ROLLBACKS:
                raise TrainingDiverged(f"{err} (after {state.rollbacks} rollbacks)") from None
            _restore(saved, vae, optimizer, generator, state)
            state.rollbacks += 1
            state.result.rollbacks = state.rollbacks
            lr = learning_rate(config, len(state.result.losses), state.total_steps, state.rollbacks)
            bar.write(f"{err}: rolled back to the start of the epoch; lr now {lr:g}")


def _snapshot(vae, optimizer, generator, state) -> dict[str, Any]:
    return {  # on the CPU: a GPU keeps only the model and optimiser it trains
        "model": _to_cpu(vae.state_dict()),
        "optimizer": _to_cpu(optimizer.state_dict()),
        "rng": rng_state(generator),
        "steps": len(state.result.losses),
    }


def _to_cpu(obj: Any) -> Any:
    """A deep copy of ``obj`` with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


def _restore(saved: dict[str, Any], vae, optimizer, generator, state) -> None:
    vae.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])  # each step sets its own rate anyway
    set_rng_state(saved["rng"], generator)
    del state.result.losses[saved["steps"] :]


def learning_rate(config: FitConfig, step: int, total_steps: int, rollbacks: int = 0) -> float:
    """The learning rate of step ``step`` (from 0) of ``total_steps``: ``lr`` after a linear
    warm-up over ``lr_warmup`` steps, on a cosine to 0 with ``lr_schedule="cosine"``,
    halved for every NaN rollback so far.

    Example:
        >>> c = FitConfig(lr=1e-3, lr_schedule="cosine", lr_warmup=10)
        >>> [round(learning_rate(c, s, 110), 6) for s in (0, 9, 10, 60, 109)]
        [0.0001, 0.001, 0.001, 0.0005, 0.0]
    """
    factor = 0.5**rollbacks
    if step < config.lr_warmup:
        return config.lr * factor * (step + 1) / config.lr_warmup
    if config.lr_schedule == "cosine":
        span = max(1, total_steps - config.lr_warmup)
        done = min(1.0, (step - config.lr_warmup) / span)
        factor *= 0.5 * (1 + math.cos(math.pi * done))
    return config.lr * factor


def _train_epoch(vae, data, config, loss_fn, optimizer, generator, state, bar) -> dict:
    device = torch.device(config.device)
    vae.train()
    total, count = 0.0, 0
    params = [p for p in vae.parameters() if p.requires_grad]
    first_step = len(state.result.losses)
    for step, (x, y) in enumerate(data.batches("train", config.batch_size, generator)):
        x, y = x.to(device), (None if y is None else y.to(device))
        # The very first step runs with Pyro's validation on, to catch shape and support
        # errors; later steps skip those checks for speed.
        with pyro.validation_enabled(state.epoch == 0 and step == 0 and not state.validated):
            loss = loss_fn(x, y, len(state.result.losses))
        state.validated = True  # once: a rolled-back first epoch is not checked again
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = loss.item()
        lr = learning_rate(config, len(state.result.losses), state.total_steps, state.rollbacks)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # The global gradient norm (which clipping returns anyway) is checked with the loss
        # before the step: a NaN gradient never reaches the weights, and the error names
        # the batch that produced it.
        if config.clip_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, config.clip_norm).item()
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            norm = norm.item()
        _check_finite(value, norm, state.epoch + 1, step, lr, config.on_nan == "rollback")
        optimizer.step()
        state.result.losses.append(value / x.shape[0])
        total, count = total + value, count + x.shape[0]
        bar.update(1)
        bar.set_postfix(epoch=state.epoch + 1, elbo=f"{-value / x.shape[0]:.2f}", refresh=False)
    objective = -total / count
    is_elbo = config.is_elbo_over(first_step, len(state.result.losses))
    return {
        "epoch": state.epoch + 1,
        "train_elbo": objective if is_elbo and not state.not_a_bound else math.nan,
        "train_objective": objective,
    }


def penalized(vae: nn.Module) -> bool:
    """Whether ``vae``'s model carries ``pyro.factor`` penalties, so that its training
    objective is not the ELBO even at β = 1.

    Example:
        >>> from ppvae.models import family_config, build_vae
        >>> penalized(build_vae(family_config("contractive", x_shape=(6,), hidden=(4,))))
        True
    """
    return bool(len(getattr(vae, "penalties", ()))) and getattr(vae, "penalize", True)


def validation_terms(vae: nn.Module, data: Data, batch_size: int, seed: int = 0) -> dict:
    """Mean ELBO, rate (KL) and distortion (−E log p(x|z)) per point on the validation split.

    Always the plain ELBO, whatever β, annealing or free bits training used; one seeded
    sample per point (analytic KL where there is one), so epochs are compared on the same
    noise.  No parameter changes.

    Example:
        >>> from ppvae.data import load_data, DataConfig
        >>> from ppvae.models import build_vae, ModelConfig
        >>> data = load_data(DataConfig(name="digits", binarize="dynamic"))
        >>> vae = build_vae(ModelConfig(x_shape=data.x_shape, latent_dim=2, hidden=(8,)))
        >>> v = validation_terms(vae, data, 128)
        >>> abs(v["val_elbo"] + v["val_rate"] + v["val_distortion"]) < 1e-6
        True
    """
    x, y = data.split("val")
    points = pointwise(vae, x, y, 1, batch_size=batch_size, seed=seed)
    return {
        "val_elbo": points.elbo.double().mean().item(),
        "val_rate": points.kl.double().mean().item(),
        "val_distortion": points.reconstruction.double().mean().item(),
    }


def _check_finite(
    loss: float, grad_norm: float, epoch: int, step: int, lr: float, rolling_back: bool = False
) -> None:
    if math.isfinite(loss) and math.isfinite(grad_norm):
        return
    what = "loss" if not math.isfinite(loss) else "gradient"
    rollback = "" if rolling_back else "--on-nan rollback, "
    raise TrainingDiverged(
        f"the {what} is not finite at epoch {epoch}, batch {step} (loss {loss:.4g}); "
        f"try a lower learning rate (now {lr:g}), gradient clipping (--clip-norm 100), "
        f"{rollback}or check the data range"
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


def check_objective(vae: nn.Module, data: Data, config: FitConfig) -> None:
    """Check, before any training or file writing, that ``config``'s objective applies to
    ``vae`` (free bits need a closed-form KL per latent dimension).

    Example:
        >>> from ppvae.data import load_data, DataConfig
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(1, 8, 8), latent_dim=2, hidden=(8,)))
        >>> check_objective(vae, load_data(DataConfig(name="digits")), FitConfig(free_bits=0.5))
    """
    if config.free_bits > 0:
        with torch.no_grad():
            check_free_bits(vae.model, vae.guide, *_first_batch(data, config, "cpu"))
    if config.elbo == "iwae":
        first = _first_batch(data, config, next(vae.parameters()).device)
        with torch.no_grad(), seeded(config.seed):
            if penalized(vae) or not has_log_likelihood(vae.model, vae.guide, *first):
                raise UserInputError(
                    "the IWAE bound needs a model with a log p(x): no point-mass guide, flat "
                    "prior or pyro.factor penalties"
                )


def _steps_per_epoch(data: Data, batch_size: int) -> int:
    return math.ceil(len(data.x_train) / batch_size)


def _worth_a_line(epoch: int, epochs: int) -> bool:
    """Print about twenty epoch lines however long the run (the bar shows the rest)."""
    return epoch % max(1, epochs // 20) == 0 or epoch == epochs


def _format_row(row: dict[str, float], epochs: int, point: bool = False) -> str:
    if math.isnan(row["train_elbo"]):
        train = f"train objective {row['train_objective']:9.3f}"
        if row["kl_weight"] != 1:
            train += f" (β {row['kl_weight']:.3g})"
    else:
        train = f"train ELBO {row['train_elbo']:9.3f}"
    val = "val objective" if point else "val ELBO"
    return (
        f"epoch {row['epoch']:>3}/{epochs}  {train}  {val} {row['val_elbo']:9.3f}  "
        f"KL {row['val_rate']:7.2f}  {row['seconds']:6.1f}s"
    )
