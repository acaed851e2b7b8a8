"""A sequential prior over z of shape (T, D): a Gaussian Markov chain with a learned,
optionally nonlinear (gated) transition, with exact log-density and ancestral sampling."""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions import TorchDistribution
from torch import nn
from torch.distributions import constraints

from ppvae.errors import UserInputError

TRANSITIONS = ("linear", "gated")


class LinearTransition(nn.Module):
    """z_t | z_{t-1} ~ N(A z_{t-1} + b, diag σ²), with A, b and σ learned (A starts at I).

    Example:
        >>> loc, scale = LinearTransition(3)(torch.zeros(2, 3))
        >>> loc.shape, bool((scale > 0).all())
        (torch.Size([2, 3]), True)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        nn.init.eye_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.raw_scale = nn.Parameter(torch.full((dim,), math.log(math.e - 1)))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = F.softplus(self.raw_scale) + 1e-4
        return self.linear(z), scale.expand(z.shape)


class GatedTransition(nn.Module):
    """The deep Markov model's gated transition: a gate g(z) mixes a linear mean with a
    nonlinear proposal h(z); the scale is a function of the proposal.

        loc = (1 - g) ⊙ (A z + b) + g ⊙ h(z),    scale = softplus(W relu(h(z)) + c)

    Example:
        >>> loc, scale = GatedTransition(3, hidden=8)(torch.zeros(2, 3))
        >>> loc.shape, scale.shape
        (torch.Size([2, 3]), torch.Size([2, 3]))

    References:
        Krishnan, Shalit & Sontag. Structured inference networks for nonlinear state space
        models (AAAI 2017).
    """

    def __init__(self, dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        nn.init.eye_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.gate = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.proposal = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.to_scale = nn.Linear(dim, dim)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gate = torch.sigmoid(self.gate(z))
        proposal = self.proposal(z)
        loc = (1 - gate) * self.linear(z) + gate * proposal
        return loc, F.softplus(self.to_scale(F.relu(proposal))) + 1e-4


class GaussianMarkovChain(TorchDistribution):
    """z_1 ~ N(init_loc, init_scale²), z_t | z_{t-1} ~ N(transition(z_{t-1})) for t = 2..T.

    The density is exact (a sum of Gaussian log-densities, all transitions in one batched
    call); ``rsample`` draws the chain ancestrally and is reparameterised.

    Example:
        >>> chain = GaussianMarkovChain(torch.zeros(2), torch.ones(2), LinearTransition(2), 4)
        >>> z = chain.rsample((3,))
        >>> z.shape, chain.log_prob(z).shape
        (torch.Size([3, 4, 2]), torch.Size([3]))
    """

    arg_constraints: dict = {}  # noqa: RUF012 - torch's convention
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(
        self, init_loc, init_scale, transition, steps: int, batch_shape=(), validate_args=None
    ):
        self.init_loc, self.init_scale, self.transition = init_loc, init_scale, transition
        self.steps = int(steps)
        event_shape = torch.Size((self.steps, init_loc.shape[-1]))
        super().__init__(torch.Size(batch_shape), event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return GaussianMarkovChain(
            self.init_loc, self.init_scale, self.transition, self.steps, batch_shape
        )

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        first = dist.Normal(self.init_loc, self.init_scale).log_prob(value[..., 0, :]).sum(-1)
        if self.steps == 1:
            return first
        loc, scale = self.transition(value[..., :-1, :])  # every transition at once
        rest = dist.Normal(loc, scale).log_prob(value[..., 1:, :]).sum((-2, -1))
        return first + rest

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:  # noqa: B008
        shape = self._extended_shape(sample_shape)[:-2] + self.init_loc.shape[-1:]
        z = dist.Normal(self.init_loc, self.init_scale).expand(shape).rsample()
        chain = [z]
        for _ in range(1, self.steps):
            z = dist.Normal(*self.transition(z)).rsample()
            chain.append(z)
        return torch.stack(chain, dim=-2)


def sequence_steps(steps: int, x_shape: tuple[int, ...] | None) -> int:
    """The number of latent steps: ``steps`` if given, else the data's number of frames
    (the first axis of a data point), else 5.

    Example:
        >>> sequence_steps(0, (10, 1, 16, 16)), sequence_steps(3, (10, 8)), sequence_steps(0, None)
        (10, 3, 5)
    """
    if steps:
        return int(steps)
    return int(x_shape[0]) if x_shape else 5


class MarkovPrior(nn.Module):
    """A Markov prior over a sequence of ``steps`` latent vectors of size ``latent_dim``.

    z has shape (steps, latent_dim). The transition is ``linear`` (a linear-Gaussian state
    space model) or ``gated`` (the deep Markov model's nonlinear transition). Swapping it
    for an i.i.d. prior over time changes only the prior, never the guide.

    Arguments:
        latent_dim: size of each z_t.
        steps: length T of the latent sequence (0: the data's number of frames, or 5
            without data).
        x_shape: shape of one data point (T, *frame), passed by ppvae.
        transition: ``linear`` or ``gated``.
        hidden: hidden width of the gated transition's networks.

    Example:
        >>> p = MarkovPrior(2, steps=5, transition="gated", hidden=8)
        >>> p().event_shape, p().sample((3,)).shape
        (torch.Size([5, 2]), torch.Size([3, 5, 2]))

    References:
        Krishnan, Shalit & Sontag. Structured inference networks for nonlinear state space
        models (AAAI 2017); Chung et al. A recurrent latent variable model for sequential
        data (NeurIPS 2015).
    """

    def __init__(
        self,
        latent_dim: int,
        steps: int = 0,
        transition: str = "gated",
        hidden: int = 32,
        x_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        steps = sequence_steps(steps, x_shape)
        if transition not in TRANSITIONS:
            raise UserInputError(
                f"unknown transition {transition!r}; choose one of {', '.join(TRANSITIONS)}"
            )
        if steps < 1:
            raise UserInputError(f"steps must be at least 1, got {steps}")
        self.latent_shape = (int(steps), int(latent_dim))
        self.init_loc = nn.Parameter(torch.zeros(latent_dim))
        self.raw_init_scale = nn.Parameter(torch.full((latent_dim,), math.log(math.e - 1)))
        self.transition = (
            GatedTransition(latent_dim, hidden)
            if transition == "gated"
            else LinearTransition(latent_dim)
        )

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        init_scale = F.softplus(self.raw_init_scale) + 1e-4
        return GaussianMarkovChain(self.init_loc, init_scale, self.transition, self.latent_shape[0])

    @torch.no_grad()
    def continuation(self, z_prefix: torch.Tensor, mean: bool = False) -> torch.Tensor:
        """Continue latent sequences (..., t0, D) to the full length by the transition:
        z_{t+1} ~ p(z_{t+1} | z_t) (or its mean); returns (..., steps, D), prefix included.

        Example:
            >>> p = MarkovPrior(2, steps=5)
            >>> p.continuation(torch.zeros(3, 2, 2)).shape
            torch.Size([3, 5, 2])
        """
        chain = list(z_prefix.unbind(-2))
        while len(chain) < self.latent_shape[0]:
            loc, scale = self.transition(chain[-1])
            chain.append(loc if mean else dist.Normal(loc, scale).sample())
        return torch.stack(chain, dim=-2)
