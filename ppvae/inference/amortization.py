"""The amortisation gap: how much ELBO the shared encoder gives away on each data point.

An encoder q_φ(z|x) is one network for all x, so on a given x it may miss the best
Gaussian q*(z|x) that the same family holds.  Cremer, Li and Duvenaud (2018) split the
inference gap of a trained VAE in two:

    log p(x) − ELBO(q_φ)  =  [log p(x) − ELBO(q*)]  +  [ELBO(q*) − ELBO(q_φ)]
                              approximation gap        amortisation gap

Here q* is found for each data point separately: a Gaussian with its own ``loc`` and
``scale``, started at the encoder's output and raised by Adam on the reparameterised
ELBO with the decoder and prior held fixed.  Both ELBOs are then estimated with the same
estimator, sample count and seed as :func:`ppvae.inference.evaluate.pointwise`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from torch import nn
from tqdm.auto import tqdm

from ppvae.errors import UserInputError
from ppvae.inference.elbo import max_plate_nesting
from ppvae.inference.evaluate import (
    _innermost,
    _log_terms,
    elements_per_sample,
    pointwise,
    scoring,
)
from ppvae.seeding import seeded


@dataclass
class AmortizationGap:
    """Per-data-point ELBOs (M,) in nats of the encoder's guide and of the per-point
    optimised Gaussian, their difference ``gap`` (≥ 0 up to Monte-Carlo and optimiser
    noise) and the importance-sampled log p(x) under the encoder's guide."""

    amortized: torch.Tensor
    optimized: torch.Tensor
    log_likelihood: torch.Tensor
    steps: int
    num_samples: int

    @property
    def gap(self) -> torch.Tensor:
        """ELBO(q*) − ELBO(q_φ) per data point: the amortisation gap."""
        return self.optimized - self.amortized


class PerPointGuide(nn.Module):
    """A Gaussian guide with its own ``loc`` and ``scale`` for each of M data points,
    around a VAE whose model it scores, so that it can stand in for the VAE in
    :func:`~ppvae.inference.evaluate.pointwise` with any batch size.

    Model and guide take the context :meth:`context` makes: column 0 holds each point's
    index into ``loc`` and ``scale``, the other columns the VAE's own context y (if any).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> from ppvae.inference.evaluate import pointwise
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> x = torch.bernoulli(torch.full((5, 6), 0.4))
        >>> local = PerPointGuide(vae, vae.encode(x))
        >>> whole = pointwise(local, x, local.context(), num_samples=10, batch_size=5).elbo
        >>> parts = pointwise(local, x, local.context(), num_samples=10, batch_size=2).elbo
        >>> local.loc.shape, bool((whole - parts).abs().max() < 2)
        (torch.Size([5, 2]), True)
    """

    def __init__(self, vae: nn.Module, start: dist.Distribution) -> None:
        super().__init__()
        base = _innermost(start)
        if getattr(vae, "levels", 1) > 1:
            raise UserInputError(
                "the amortisation gap is measured for one latent layer; this is a "
                "hierarchical VAE (--levels 2), whose guide has two"
            )
        if not isinstance(base, dist.Normal):
            raise UserInputError(
                "the amortisation gap needs a Gaussian guide (a Normal encoder), got "
                f"{type(base).__name__}"
            )
        self.vae = vae
        self.event_dims = len(start.event_shape)
        self.loc = nn.Parameter(base.loc.detach().clone())  # (M, *event)
        self.log_scale = nn.Parameter(base.scale.detach().log().clone())
        self.likelihood = getattr(vae, "likelihood", None)

    @property
    def scale(self) -> torch.Tensor:
        """The per-point standard deviations, (M, *event)."""
        return self.log_scale.exp()

    def context(self, y: torch.Tensor | None = None) -> torch.Tensor:
        """The (M, 1 + C) context for the M points: their indices, then y (M, C)."""
        index = torch.arange(len(self.loc), dtype=self.loc.dtype, device=self.loc.device)
        return index[:, None] if y is None else torch.cat([index[:, None], y.to(self.loc)], 1)

    def model(self, x: torch.Tensor, context: torch.Tensor) -> None:
        """The wrapped VAE's model, given its own context."""
        self.vae.model(x, context[:, 1:] if context.shape[1] > 1 else None)

    def guide(self, x: torch.Tensor, context: torch.Tensor) -> None:
        """z_i ~ N(loc_i, scale_i) for the points whose indices ``context`` holds."""
        index = context[:, 0].long()
        with pyro.plate("data", x.shape[0]):
            q = dist.Normal(self.loc[index], self.scale[index])
            pyro.sample("z", q.to_event(self.event_dims))

    @contextlib.contextmanager
    def param_store_off(self) -> Iterator[PerPointGuide]:
        """The wrapped VAE's registration switch (see :meth:`VAE.param_store_off`)."""
        with getattr(self.vae, "param_store_off", contextlib.nullcontext)():
            yield self

    @contextlib.contextmanager
    def penalties_off(self) -> Iterator[PerPointGuide]:
        """The wrapped VAE's penalty switch (see :meth:`VAE.penalties_off`)."""
        with getattr(self.vae, "penalties_off", contextlib.nullcontext)():
            yield self


def optimize_guide(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    steps: int = 500,
    lr: float = 0.01,
    particles: int = 10,
    seed: int = 0,
    progress: bool = False,
    max_elements: int = 2**24,
) -> PerPointGuide:
    """Fit a :class:`PerPointGuide` to the data points ``x`` by Adam on the
    reparameterised ELBO (``particles`` draws per point and step; the learning rate
    decays from ``lr`` to zero on a cosine), starting at the encoder's q(z|x); the VAE's
    own parameters are not changed.  Points are optimised in groups small enough that a
    step holds about ``max_elements`` numbers (see
    :func:`~ppvae.inference.evaluate.elements_per_sample`); gradients are on inside, even
    when called under ``torch.no_grad()``.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> before = [p.clone() for p in vae.parameters()]
        >>> local = optimize_guide(vae, torch.ones(3, 6), steps=5)
        >>> all(torch.equal(a, b) for a, b in zip(before, vae.parameters()))
        True
    """
    if steps < 0 or particles < 1 or not lr > 0:
        raise UserInputError("the guide optimisation needs steps >= 0, particles >= 1, lr > 0")
    device = next(iter(vae.parameters()), torch.empty(0)).device
    x, y = x.to(device), None if y is None else y.to(device)
    with scoring(vae), frozen(vae), seeded(seed), pyro.validation_enabled(False):
        with torch.no_grad():
            local = PerPointGuide(vae, vae.encoder(x, y)).to(device)
        context = local.context(y)
        nesting = max_plate_nesting(local.model, local.guide, x[:2], context[:2])
        cost = max(
            math.prod(x.shape[1:]),
            elements_per_sample(local.model, local.guide, x[:2], context[:2]),
        )
        group = max(1, max_elements // (particles * cost))
        bar = tqdm(
            total=steps * math.ceil(len(x) / group),
            disable=not progress,
            desc="per-point guides",
            unit="step",
        )
        with torch.enable_grad(), bar:
            for start in range(0, len(x), group):
                part = slice(start, start + group)
                _ascend(local, x[part], context[part], steps, lr, particles, nesting, bar)
    return local


def _ascend(local, x, context, steps, lr, particles, nesting, bar) -> None:
    """Adam on one group of points (the other rows get no gradient, so Adam leaves them)."""
    optimizer = torch.optim.Adam([local.loc, local.log_scale], lr=lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    for _ in range(steps):
        terms = _log_terms(local.model, local.guide, x, context, particles, nesting)
        elbo = (terms["lik"] + terms["prior"] - terms["q"]).mean(0)  # (B,)
        optimizer.zero_grad()
        (-elbo.sum()).backward()  # points are independent: the sum raises each
        optimizer.step()
        decay.step()  # to zero at the end: the optimiser's noise dies out
        bar.update()


def amortization_gap(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    steps: int = 500,
    lr: float = 0.01,
    particles: int = 10,
    num_samples: int = 1000,
    seed: int = 0,
    progress: bool = False,
    batch_size: int = 100,
) -> AmortizationGap:
    """The ELBO of the encoder's guide and of a per-point optimised Gaussian on each data
    point of ``x`` (see :func:`optimize_guide`), with ``num_samples`` draws each (the
    same seed and batches for both, so their difference has little Monte-Carlo noise);
    a progress bar over the optimisation steps with ``progress``.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> x = torch.bernoulli(torch.full((4, 6), 0.3))
        >>> result = amortization_gap(vae, x, steps=200, num_samples=200)
        >>> result.gap.shape, bool(result.gap.mean() > 0)
        (torch.Size([4]), True)

    References:
        Cremer, Li, Duvenaud. Inference suboptimality in variational autoencoders (ICML 2018).
    """
    if len(x) == 0:
        raise UserInputError("there are no data points to optimise a guide for")
    kw = {"num_samples": num_samples, "batch_size": batch_size, "seed": seed}
    amortized = pointwise(vae, x, y, **kw)
    local = optimize_guide(vae, x, y, steps, lr, particles, seed, progress)
    optimized = pointwise(local, x, local.context(y), **kw)
    return AmortizationGap(
        amortized=amortized.elbo,
        optimized=optimized.elbo,
        log_likelihood=amortized.log_likelihood,
        steps=steps,
        num_samples=num_samples,
    )


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """No gradients for ``module``'s parameters inside the block; restored afterwards.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> with frozen(net):
        ...     net.weight.requires_grad
        False
        >>> net.weight.requires_grad
        True
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
