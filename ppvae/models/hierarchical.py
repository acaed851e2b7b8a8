"""A VAE with two stochastic layers (the HVAE of Tomczak & Welling's VampPrior paper).

    model:  z ~ prior,  z_lower ~ p(z_lower | z),  x ~ likelihood(decoder(z_lower, z))
    guide:  z ~ q(z | x),  z_lower ~ q(z_lower | x, z)

The top latent keeps the site name ``"z"``, so any prior in ppvae (a VampPrior, a flow, a
resampled prior) is the prior of the top layer, and the encoder of ``z`` is the one a
VampPrior shares.  ``z_lower`` is a second sample site with a learned conditional Gaussian
prior, so importance-sampled log p(x), the IWAE bound and the ELBO all see both layers
without special cases: they score every latent site of the traces.

Latent tools (traversals, interpolation, latent maps) work on the top layer: ``encode``
returns q(z | x) and ``decode`` fills in ``z_lower`` with the mean of p(z_lower | z).
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from ppvae.models.conv import ConvEncoder
from ppvae.models.likelihoods import Likelihood
from ppvae.models.nets import MLPEncoder
from ppvae.models.priors.flat import refuse_sampling
from ppvae.models.vae import VAE, Prior

LOWER = "z_lower"


class HierarchicalVAE(VAE):
    """A two-level VAE written as a Pyro ``model`` and ``guide`` (see the module docstring).

    Arguments:
        encoder: q(z | x), the top layer's encoder (the one a VampPrior shares).
        lower_encoder: q(z_lower | x, z): an encoder built with ``context_dim`` = size of z,
            called as ``lower_encoder(x, z)``.
        lower_prior: p(z_lower | z): a Gaussian encoder of z (its ``x_shape`` is z's shape).
        decoder: maps the concatenation (z_lower, z) to the likelihood's parameters.
        likelihood, prior: as for :class:`~ppvae.models.vae.VAE`; ``prior`` is p(z).

    Example:
        >>> from ppvae.models import MLPEncoder, MLPDecoder, Bernoulli, StandardNormal
        >>> vae = HierarchicalVAE(MLPEncoder((6,), 2, (8,)), MLPEncoder((6,), 2, (8,), 2),
        ...     MLPEncoder((2,), 2, (8,)), MLPDecoder(4, (6,), (8,)), Bernoulli((6,)),
        ...     StandardNormal(2))
        >>> x = torch.bernoulli(torch.full((4, 6), 0.5))
        >>> loss = pyro.infer.Trace_ELBO().differentiable_loss(vae.model, vae.guide, x)
        >>> loss.shape, vae.reconstruct(x).shape, vae.generate(3).shape
        (torch.Size([]), torch.Size([4, 6]), torch.Size([3, 6]))

    References:
        Tomczak, Welling. VAE with a VampPrior (AISTATS 2018), section 3.3.
    """

    levels = 2

    def __init__(
        self,
        encoder: nn.Module,
        lower_encoder: nn.Module,
        lower_prior: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        prior: Prior,
    ) -> None:
        super().__init__(encoder, decoder, likelihood, prior)
        self.lower_encoder = lower_encoder
        self.lower_prior = lower_prior

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """p(z) p(z_lower | z) p(x | z_lower, z) for a batch ``x`` of shape (B, *x_shape)."""
        self._register()
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", self.prior(y))  # (..., B, Dz)
            lower = pyro.sample(LOWER, self.lower_prior(z))  # (..., B, Dz)
            pyro.sample("x", self.likelihood(self.decoder(joined(lower, z))), obs=x)

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """q(z | x) q(z_lower | x, z)."""
        self._register()
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", self.encoder(x, y))  # (..., B, Dz)
            pyro.sample(LOWER, self.lower_posterior(x, z))

    def lower_posterior(self, x: torch.Tensor, z: torch.Tensor) -> dist.Distribution:
        """q(z_lower | x, z), with x broadcast over any leading sample axes of z."""
        if _has_dense_layer(self.lower_encoder):
            return _late_context(self.lower_encoder, x, z)
        x_dims = len(self.lower_encoder.x_shape)
        lead = torch.broadcast_shapes(x.shape[: x.dim() - x_dims], z.shape[:-1])
        x = x.expand(*lead, *x.shape[x.dim() - x_dims :])
        return self.lower_encoder(x, z.expand(*lead, z.shape[-1]))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> dist.Distribution:
        """p(x | z_lower, z) with z_lower at the mean of p(z_lower | z)."""
        return self.likelihood(self.decoder(joined(self.lower_prior(z).mean, z)))

    @torch.no_grad()
    def reconstruction(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dist.Distribution:
        """p(x | z_lower, z) at the posterior means of z, then of z_lower given that z."""
        z = self.encode(x, y).mean
        lower = self.lower_posterior(x, z).mean
        return self.likelihood(self.decoder(joined(lower, z)))

    @torch.no_grad()
    def generate(self, num: int, y: torch.Tensor | None = None, mean: bool = True) -> torch.Tensor:
        """Draw ``num`` data points: z from the prior, z_lower from p(z_lower | z), then x
        (or its mean) from p(x | z_lower, z)."""
        refuse_sampling(self.prior)
        p = self.prior(y)
        z = p.sample() if p.batch_shape else p.sample((num,))  # (num, Dz)
        lower = self.lower_prior(z).sample()
        px = self.likelihood(self.decoder(joined(lower, z)))
        return px.mean if mean else px.sample()


def joined(lower: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The decoder's input: (z_lower, z) side by side, broadcast over leading axes.

    Example:
        >>> joined(torch.zeros(5, 3, 2), torch.ones(3, 2)).shape
        torch.Size([5, 3, 4])
    """
    lead = torch.broadcast_shapes(lower.shape[:-1], z.shape[:-1])
    return torch.cat([lower.expand(*lead, -1), z.expand(*lead, -1)], dim=-1)


def _late_context(encoder: nn.Module, x: torch.Tensor, z: torch.Tensor) -> dist.Distribution:
    """``encoder(x, z)`` for an MLP or conv encoder whose context z joins before its first
    dense layer, with everything of x up to that layer (the convolutions, and the layer's
    x part) computed once per data point rather than once per sample of z: the same
    function, without K copies of the costliest work when z carries K samples per point."""
    if isinstance(encoder, ConvEncoder):
        h, layers = encoder.conv_features(x), encoder.dense  # (B, F)
    else:
        h, layers = x.flatten(start_dim=x.dim() - len(encoder.x_shape)), encoder.body  # (B, Dx)
    first, rest = layers[0], layers[1:]
    dx = first.in_features - encoder.context_dim
    pre = F.linear(h, first.weight[:, :dx], first.bias) + F.linear(z, first.weight[:, dx:])
    return encoder.head(rest(pre))  # pre: (..., B, H), broadcast over z's sample axes


def _has_dense_layer(encoder: nn.Module) -> bool:
    if isinstance(encoder, ConvEncoder):
        return len(encoder.dense) > 0
    return isinstance(encoder, MLPEncoder) and len(encoder.body) > 0
