"""A resampled prior: a standard normal filtered by a learned acceptance function.

Learned accept/reject sampling (Bauer & Mnih, 2019) draws z ~ π = N(0, I) and keeps it with
probability a(z) ∈ (0, 1), a small network; after T − 1 rejections the T-th proposal is
kept whatever a says. With Z = E_π[a(z)] the acceptance rate, the density of the kept z is

    p_T(z) = π(z) [ a(z) (1 − (1 − Z)^(T−1)) / Z + (1 − Z)^(T−1) ],

a proper density for every T (T = 1 is π itself; T → ∞ is π(z) a(z) / Z). Z has no closed
form: while training it is a fresh Monte-Carlo mean over ``samples`` proposals at every
call (differentiable, so the gradient of log Z reaches a); in evaluation mode it is one
seeded estimate over ``eval_samples`` proposals, cached until a parameter changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from pyro.distributions import TorchDistribution, constraints
from torch import nn
from torch.distributions import Normal
from torch.nn import functional as F

from ppvae.checks import check_positive
from ppvae.errors import UserInputError
from ppvae.models.nets import mlp


class TruncatedResampledNormal(TorchDistribution):
    """p_T(z) for a standard normal proposal over z of shape (L,), acceptance logits
    ``acceptance(z)`` and log acceptance rate ``log_z`` (see the module docstring).

    Example:
        >>> p = TruncatedResampledNormal(lambda z: z[..., 0], torch.tensor(0.5).log(), 10, 2)
        >>> p.sample((4,)).shape, p.log_prob(torch.zeros(3, 2)).shape
        (torch.Size([4, 2]), torch.Size([3]))
    """

    arg_constraints: ClassVar[dict] = {}
    support = constraints.real_vector
    has_rsample = False

    def __init__(
        self,
        acceptance: Callable[[torch.Tensor], torch.Tensor],
        log_z: torch.Tensor,
        truncation: int,
        latent_dim: int,
        batch_shape: torch.Size | tuple[int, ...] = (),
        validate_args: bool | None = False,
    ) -> None:
        self.acceptance, self.log_z, self.truncation = acceptance, log_z, int(truncation)
        super().__init__(torch.Size(batch_shape), (int(latent_dim),), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None) -> TruncatedResampledNormal:
        return TruncatedResampledNormal(
            self.acceptance, self.log_z, self.truncation, self.event_shape[0], batch_shape
        )

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        log_proposal = Normal(value.new_zeros(()), 1.0).log_prob(value).sum(-1)
        if self.truncation == 1:  # the one proposal is always kept: p is the proposal
            return log_proposal
        log_a = F.logsigmoid(self.acceptance(value))
        # Z in (0, 1) strictly: a Z that rounds to 1 (every logit above ~16 in float32) or
        # underflows would give infinite logs and NaN gradients; at e^-80 the weights below
        # have long reached their Z → 0 limits, so the clamp changes no density.
        log_z = self.log_z.clamp(-80.0, -1e-6)
        # (1 − Z)^(T−1): the chance that all T − 1 earlier proposals were rejected
        log_rest = (self.truncation - 1) * log1mexp(log_z)
        log_scale = log1mexp(log_rest) - log_z
        return log_proposal + torch.logaddexp(log_a + log_scale, log_rest)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        z = torch.randn(
            self.truncation,
            *shape,
            *self.event_shape,
            device=self.log_z.device,
            dtype=self.log_z.dtype,
        )
        accept = torch.rand(z.shape[:-1], device=z.device) < torch.sigmoid(self.acceptance(z))
        accept[-1] = True  # the T-th proposal is kept whatever a says
        first = accept.to(torch.uint8).argmax(0)  # the first kept proposal
        index = first[None, ..., None].expand(1, *shape, *self.event_shape)
        return z.gather(0, index)[0]


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 − eˣ) for x < 0, accurate near 0 and far below it (Mächler 2012), with
    finite gradients on both branches.

    Example:
        >>> log1mexp(torch.tensor([-1e-9, -50.0]))
        tensor([-2.0723e+01, -1.9287e-22])
    """
    near = x > -math.log(2)
    small = torch.log(-torch.expm1(torch.where(near, x, -1.0)))
    large = torch.log1p(-torch.exp(torch.where(near, -1.0, x)))
    return torch.where(near, small, large)


class ResampledPrior(nn.Module):
    """p(z): N(0, I) resampled by a learned acceptance network a(z) = σ(f(z)), truncated
    after ``truncation`` proposals (learned accept/reject sampling).

    Arguments:
        latent_dim: size of z.
        hidden: hidden widths of the acceptance network f.
        truncation: T, the proposals drawn before one is kept unconditionally.
        samples: proposals in the Monte-Carlo estimate of Z at each training call.
        eval_samples: proposals in the (seeded, cached) estimate of Z in evaluation mode.
        activation: the acceptance network's hidden nonlinearity.

    Example:
        >>> p = ResampledPrior(3, hidden=(16,))
        >>> z = p().sample((5,))
        >>> z.shape, p().log_prob(z).shape
        (torch.Size([5, 3]), torch.Size([5]))

    References:
        Bauer & Mnih. Resampled priors for variational autoencoders (AISTATS 2019).
    """

    def __init__(
        self,
        latent_dim: int,
        hidden: Sequence[int] | int = (100, 100),
        truncation: int = 100,
        samples: int = 1024,
        eval_samples: int = 100_000,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        hidden = [hidden] if isinstance(hidden, int) else list(hidden)
        _check(latent_dim, hidden, truncation, samples, eval_samples)
        self.latent_shape = (int(latent_dim),)
        self.truncation, self.samples = int(truncation), int(samples)
        self.eval_samples = int(eval_samples)
        self.body = mlp([latent_dim, *hidden], activation)
        self.logit = nn.Linear(([latent_dim, *hidden])[-1], 1)
        self._cache: tuple[tuple[int, list[torch.Tensor]], torch.Tensor] | None = None

    def acceptance_logit(self, z: torch.Tensor) -> torch.Tensor:
        """f(z), shape ``z.shape[:-1]``: the acceptance probability is σ(f(z))."""
        return self.logit(self.body(z)).squeeze(-1)

    def log_normalizer(self) -> torch.Tensor:
        """log Z, Z = E_π[a(z)]: a fresh estimate while training, a cached one in evaluation.

        Example:
            >>> p = ResampledPrior(2, hidden=(8,), eval_samples=1000).eval()
            >>> bool(p.log_normalizer() == p.log_normalizer())
            True
        """
        like = {"device": self.logit.weight.device, "dtype": self.logit.weight.dtype}
        if self.training:
            return self._log_mean_acceptance(torch.randn(self.samples, *self.latent_shape, **like))
        # The estimate is kept with a copy of the parameters it was made with, and redone when
        # any differs (a fused optimiser step changes values without bumping tensor versions).
        params = [q.detach() for q in self.parameters()]
        if self._cache is None or not _same(self._cache[0], params, self.eval_samples):
            with torch.no_grad():
                generator = torch.Generator().manual_seed(0)
                z = torch.randn(self.eval_samples, *self.latent_shape, generator=generator)
                log_z = self._log_mean_acceptance(z.to(**like))
            self._cache = ((self.eval_samples, [q.clone() for q in params]), log_z)
        return self._cache[1]

    def _log_mean_acceptance(self, z: torch.Tensor, chunk: int = 65_536) -> torch.Tensor:
        log_a = torch.cat([F.logsigmoid(self.acceptance_logit(part)) for part in z.split(chunk)])
        return torch.logsumexp(log_a, 0) - math.log(len(z))

    def forward(self, context: torch.Tensor | None = None) -> TruncatedResampledNormal:
        return TruncatedResampledNormal(
            self.acceptance_logit, self.log_normalizer(), self.truncation, self.latent_shape[0]
        )


def _same(saved: tuple[int, list[torch.Tensor]], params: list[torch.Tensor], samples: int) -> bool:
    """Whether ``params`` (and ``samples``) are exactly those the cached estimate used."""
    count, copies = saved
    return (
        count == samples
        and len(copies) == len(params)
        and all(
            c.dtype == q.dtype and c.device == q.device and torch.equal(c, q)
            for c, q in zip(copies, params, strict=True)
        )
    )


def _check(latent_dim: int, hidden: list[int], truncation: int, samples: int, evals: int) -> None:
    for name, value in (
        ("latent_dim", latent_dim),
        ("truncation", truncation),
        ("samples", samples),
        ("eval_samples", evals),
        *(("hidden", h) for h in hidden),
    ):
        check_positive(f"the resampled prior's {name}", value)
        if int(value) != value:
            raise UserInputError(f"the resampled prior's {name} must be an integer, got {value}")
