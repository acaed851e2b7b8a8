"""The model/guide pair: one latent site ``"z"``, one observed site ``"x"``, plate ``"data"``.

    model:  z ~ prior(y),  x ~ likelihood(decoder(z, y))     p(x, z | y) · Π factors
    guide:  z ~ encoder(corrupt(x), y)                       q(z | x̃, y)

Every variant in ppvae (beta-VAE, CVAE, learned priors, deterministic autoencoders) is a
swap of one of these parts, not a new loss: a point-mass encoder and a flat prior give the
plain autoencoder, a Laplace prior the sparse one, a corruption of the guide's input the
denoising one, and a ``pyro.factor`` penalty the contractive one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ppvae.models.likelihoods import Likelihood
from ppvae.models.priors.flat import refuse_sampling

Prior = Callable[..., dist.Distribution]


class VAE(nn.Module):
    """A variational autoencoder written as a Pyro ``model`` and ``guide``.

    Arguments:
        encoder: module mapping ``(x, y)`` to the guide distribution q(z | x, y).
        decoder: module mapping ``(z, y)`` to the likelihood's parameters.
        likelihood: :class:`~ppvae.models.likelihoods.Likelihood` turning those parameters
            into p(x | z, y).
        prior: an ``nn.Module`` (or any callable) whose ``forward(context=None)`` returns
            p(z) (or p(z | y)). A prior with a ``bind_encoder`` method (the VampPrior) is
            given this VAE's encoder.
        corruption: applied to the guide's input while training (a denoising model); the
            model always scores the clean x.  Default: none.
        penalties: named modules ``penalty(vae, x, y, z)`` returning a log-factor per data
            point, added to the model as ``pyro.factor`` sites (contractive, sparsity).

    Example:
        >>> from ppvae.models import MLPEncoder, MLPDecoder, Bernoulli, StandardNormal
        >>> vae = VAE(MLPEncoder((6,), 2, (8,)), MLPDecoder(2, (6,), (8,)),
        ...           Bernoulli((6,)), StandardNormal(2))
        >>> x = torch.bernoulli(torch.full((4, 6), 0.5))
        >>> loss = pyro.infer.Trace_ELBO().differentiable_loss(vae.model, vae.guide, x)
        >>> loss.shape, vae.reconstruct(x).shape, vae.generate(3).shape
        (torch.Size([]), torch.Size([4, 6]), torch.Size([3, 6]))
    """

    levels = 1  # stochastic layers (HierarchicalVAE: 2)

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        prior: Prior,
        corruption: nn.Module | None = None,
        penalties: dict[str, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.corruption = corruption if corruption is not None else nn.Identity()
        self.penalties = nn.ModuleDict(penalties or {})
        if hasattr(prior, "bind_encoder"):  # e.g. the VampPrior shares the guide's encoder
            prior.bind_encoder(encoder)
        self.register_params = True
        self.penalize = True

    def _register(self) -> None:
        # Registers the module's parameters with Pyro so plain pyro.infer.SVI can optimise them.
        if self.register_params:
            pyro.module("vae", self)

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Generative model p(z | y) p(x | z, y) for a batch ``x`` of shape (B, *x_shape)."""
        self._register()
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", self.prior(y))  # (B, Dz)
            for name, penalty in self.penalties.items() if self.penalize else ():
                pyro.factor(name, penalty(self, x, y, z))  # (B,)
            pyro.sample("x", self.likelihood(self.decoder(z, y)), obs=x)

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Amortised variational posterior q(z | x̃, y), x̃ the (training-time) corrupted x."""
        self._register()
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", self.encoder(self.corruption(x), y))  # (B, Dz)

    @contextlib.contextmanager
    def param_store_off(self) -> Iterator[VAE]:
        """Skip ``pyro.module`` registration inside the block.

        ppvae's own loops optimise ``self.parameters()`` with a torch optimiser, so
        re-registering the same tensors in Pyro's global param store at every step is
        wasted work, and evaluating a model must not leave entries in that store.
        """
        previous, self.register_params = self.register_params, False
        try:
            yield self
        finally:
            self.register_params = previous

    @contextlib.contextmanager
    def penalties_off(self) -> Iterator[VAE]:
        """Leave the ``pyro.factor`` penalties out of the model inside the block.

        Evaluation scores the model itself: penalties, like β, shape training only.
        """
        previous, self.penalize = self.penalize, False
        try:
            yield self
        finally:
            self.penalize = previous

    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dist.Distribution:
        """The guide's distribution q(z | x, y) for a batch of data."""
        return self.encoder(x, y)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> dist.Distribution:
        """The likelihood p(x | z, y) for latents ``z``."""
        return self.likelihood(self.decoder(z, y))

    @torch.no_grad()
    def reconstruction(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dist.Distribution:
        """p(x | z) at the posterior mean of z (of every latent layer, for a deeper model)."""
        return self.decode(self.encode(x, y).mean, y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of p(x | z) at the posterior mean of z: the model's reconstruction of ``x``."""
        return self.reconstruction(x, y).mean

    @torch.no_grad()
    def generate(self, num: int, y: torch.Tensor | None = None, mean: bool = True) -> torch.Tensor:
        """Draw ``num`` data points: z from the prior, then x (or its mean) from p(x | z).

        With a context ``y`` of batch size ``num`` the prior is p(z | y).  An improper
        (flat) prior has nothing to sample: that raises a :class:`UserInputError`.
        """
        refuse_sampling(self.prior)
        p = self.prior(y)
        z = p.sample() if p.batch_shape else p.sample((num,))  # (num, Dz)
        px = self.decode(z, y)
        return px.mean if mean else px.sample()
