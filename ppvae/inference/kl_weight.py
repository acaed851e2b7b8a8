"""The weight of the latent sites: beta, KL annealing, and the messenger that applies it.

A beta-VAE (Higgins et al., 2017) maximises E_q[log p(x|z)] − β KL(q(z|x) ‖ p(z)).  In a
Pyro program that is the ordinary ELBO with every *latent* sample site scaled by β in both
the model and the guide: log p(z) and log q(z|x) are each multiplied by β, so the KL term
(analytic or Monte Carlo) is, and the likelihood of the observed sites is not.
:class:`LatentScale` is that scaling; :class:`KLSchedule` says what β is at each step:

* ``anneal="none"``: β throughout;
* ``anneal="linear"``: warm-up from 0 to β over ``anneal_steps`` steps (Bowman et al., 2016);
* ``anneal="cyclical"``: repeated warm-ups with period ``anneal_steps``, rising over the first
  half of each period and holding β over the second (Fu et al., 2019).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyro.poutine.messenger import Messenger

from ppvae.errors import UserInputError

ANNEALING = ("none", "linear", "cyclical")


@dataclass(frozen=True)
class KLSchedule:
    """β at every training step.

    Example:
        >>> s = KLSchedule(beta=4.0, anneal="linear", anneal_steps=100)
        >>> s.weight(0), s.weight(50), s.weight(100), s.weight(1000)
        (0.0, 2.0, 4.0, 4.0)
        >>> c = KLSchedule(anneal="cyclical", anneal_steps=10)
        >>> [c.weight(step) for step in (0, 2, 5, 9, 10, 12)]
        [0.0, 0.4, 1.0, 1.0, 0.0, 0.4]
    """

    beta: float = 1.0
    anneal: str = "none"
    anneal_steps: int = 0

    def __post_init__(self) -> None:
        check_schedule(self.beta, self.anneal, self.anneal_steps)

    def weight(self, step: int) -> float:
        """The latent sites' scale at training step ``step`` (counted from 0)."""
        if self.anneal == "linear":
            return self.beta * min(1.0, step / self.anneal_steps)
        if self.anneal == "cyclical":
            rise = self.anneal_steps / 2
            return self.beta * min(1.0, (step % self.anneal_steps) / rise)
        return self.beta

    @property
    def constant(self) -> bool:
        """Whether the weight is 1 at every step (the objective is the ELBO itself)."""
        return self.anneal == "none" and self.beta == 1.0


def check_schedule(beta: float, anneal: str, anneal_steps: int) -> None:
    """Refuse a negative or non-finite β, an unknown schedule, or a schedule with no length.

    Example:
        >>> check_schedule(-1.0, "none", 0)
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: beta must be a finite number >= 0, got -1.0
    """
    if not (isinstance(beta, int | float) and math.isfinite(beta) and beta >= 0):
        raise UserInputError(f"beta must be a finite number >= 0, got {beta}")
    if anneal not in ANNEALING:
        raise UserInputError(f"unknown annealing {anneal!r}; choose one of {', '.join(ANNEALING)}")
    if anneal != "none" and not anneal_steps >= 2:
        raise UserInputError(
            f"--anneal {anneal} needs --anneal-steps >= 2 (the warm-up length), got {anneal_steps}"
        )


class LatentScale(Messenger):
    """Multiply the log-density of every latent (unobserved) sample site by ``weight``.

    Pyro's ``poutine.scale`` scales every site and refuses a zero scale; this one leaves
    observed sites alone and accepts 0 (the first step of a warm-up).  Apply the same
    instance to the model and the guide so that the two scales match, as Pyro's ELBOs need.

    Example:
        >>> import pyro, pyro.distributions as dist, torch
        >>> def model():
        ...     z = pyro.sample("z", dist.Normal(0.0, 1.0))
        ...     pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))
        >>> with LatentScale(0.5):
        ...     trace = pyro.poutine.trace(model).get_trace()
        >>> trace.nodes["z"]["scale"], trace.nodes["x"]["scale"]
        (0.5, 1.0)
    """

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight

    def _process_message(self, msg: Any) -> None:
        if msg["type"] == "sample" and not msg["is_observed"]:
            msg["scale"] = self.weight * msg["scale"]


def scaled(fn: Callable, scale: LatentScale) -> Callable:
    """``fn`` run under ``scale`` (a plain function, so Pyro's ELBOs can trace it).

    Example:
        >>> scaled(lambda: 3, LatentScale(2.0))()
        3
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with scale:
            return fn(*args, **kwargs)

    return wrapped
