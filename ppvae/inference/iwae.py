"""The importance-weighted objective (IWAE): a tighter bound to train on.

For K samples z_k ~ q(z|x) of each data point,

    L_K(x) = E[ log (1/K) Σ_k p(x, z_k) / q(z_k|x) ]  ≤  log p(x),

with L_1 the ELBO and L_K rising to log p(x) as K grows (Burda et al., 2016).  The
log-mean-exp is taken per data point — Pyro's ``RenyiELBO`` takes it over the whole
batch's summed weights, which is a different (and for IWAE wrong) objective — and the
gradient flows through reparameterised samples.  Training on L_K gives decoders with
higher log p(x), at K times the cost of a step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ppvae.errors import UserInputError
from ppvae.inference.evaluate import _log_terms


class IWAE_ELBO:
    """The K-sample importance-weighted bound as a training loss; it has Pyro's
    ``differentiable_loss(model, guide, x, y)`` so :func:`ppvae.inference.fit` uses it
    like any ELBO.

    Arguments:
        num_particles: K, the samples per data point (K = 1 is the ELBO).
        max_plate_nesting: the plates model and guide use (the particles go one further).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> x = torch.bernoulli(torch.full((4, 6), 0.5))
        >>> loss = IWAE_ELBO(num_particles=8).differentiable_loss(vae.model, vae.guide, x)
        >>> loss.shape, loss.requires_grad
        (torch.Size([]), True)

    References:
        Burda, Grosse, Salakhutdinov. Importance weighted autoencoders (ICLR 2016).
    """

    def __init__(self, num_particles: int = 5, max_plate_nesting: int = 1) -> None:
        if num_particles < 1:
            raise UserInputError(f"the IWAE bound needs num_particles >= 1, got {num_particles}")
        self.num_particles = num_particles
        self.max_plate_nesting = max_plate_nesting
        self.vectorize_particles = True

    def bound(self, model: Callable, guide: Callable, x: torch.Tensor, y=None) -> torch.Tensor:
        """L_K per data point, (B,)."""
        terms = _log_terms(model, guide, x, y, self.num_particles, self.max_plate_nesting)
        log_w = terms["lik"] + terms["prior"] - terms["q"]  # (K, B)
        return torch.logsumexp(log_w, dim=0) - math.log(self.num_particles)

    def differentiable_loss(self, model: Callable, guide: Callable, x: torch.Tensor, y=None):
        """−Σ_i L_K(x_i) over the batch (a sum, like Pyro's ELBO losses)."""
        return -self.bound(model, guide, x, y).sum()

    def loss(self, model: Callable, guide: Callable, x: torch.Tensor, y=None) -> float:
        """The loss as a number, without gradients."""
        with torch.no_grad():
            return self.differentiable_loss(model, guide, x, y).item()
