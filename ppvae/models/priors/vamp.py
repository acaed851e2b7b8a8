"""The VampPrior: a mixture of the encoder's own posteriors at learned pseudo-inputs."""

from __future__ import annotations

from collections.abc import Sequence

import pyro.distributions as dist
import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.models.priors.gaussian_mixture import DiagonalGaussianMixture


class VampPrior(nn.Module):
    """p(z) = (1/K) Σ_k q(z | u_k), where q is the VAE's encoder and u_k are K learned
    pseudo-inputs shaped like data points.

    The prior approximates the aggregate posterior that the ELBO's KL term pulls towards,
    at the cost of K extra encoder passes per step. The encoder is *shared*, not owned:
    ``VAE`` binds its own encoder here, so its parameters are registered (with Pyro and in
    ``state_dict``) once, under the VAE's name, in both model and guide.

    Arguments:
        latent_dim: size of z.
        x_shape: shape of one data point (and of each pseudo-input).
        components: number of pseudo-inputs K.
        encoder: the encoder to share; usually left out and bound by ``VAE``.
        init_mean, init_std: the pseudo-inputs start as N(init_mean, init_std²) values.

    Example:
        >>> from ppvae.models import MLPEncoder
        >>> enc = MLPEncoder((6,), 2, hidden=(8,))
        >>> p = VampPrior(2, (6,), components=4, encoder=enc)
        >>> p().event_shape, [n for n, _ in p.named_parameters()]
        (torch.Size([2]), ['pseudo_inputs'])

    References:
        Tomczak & Welling. VAE with a VampPrior (AISTATS 2018).
    """

    def __init__(
        self,
        latent_dim: int,
        x_shape: Sequence[int],
        components: int = 100,
        encoder: nn.Module | None = None,
        init_mean: float = 0.5,
        init_std: float = 0.05,
    ) -> None:
        super().__init__()
        self.latent_shape = (int(latent_dim),)
        shape = (int(components), *(int(s) for s in x_shape))
        self.pseudo_inputs = nn.Parameter(init_mean + init_std * torch.randn(shape))
        self._encoder: list[nn.Module] = []  # a list, so the encoder is not a submodule
        if encoder is not None:
            self.bind_encoder(encoder)

    def bind_encoder(self, encoder: nn.Module) -> None:
        """Share ``encoder`` (the guide's network) as the source of the mixture components."""
        self._encoder[:] = [encoder]

    def init_from_data(self, z: torch.Tensor, x: torch.Tensor) -> None:
        """Start the pseudo-inputs at distinct random data points ``x`` (N, *x_shape), so
        the prior starts as the encoder's posteriors of K training images (``z`` unused).

        Example:
            >>> p = VampPrior(2, (6,), components=3)
            >>> p.init_from_data(torch.zeros(5, 2), torch.ones(5, 6))
            >>> bool((p.pseudo_inputs == 1).all())
            True
        """
        k = self.pseudo_inputs.shape[0]
        if len(x) < k:
            raise UserInputError(f"{k} pseudo-inputs need at least {k} data points, got {len(x)}")
        pick = torch.randperm(len(x))[:k]
        self.pseudo_inputs.data.copy_(x[pick].to(self.pseudo_inputs))

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        if not self._encoder:
            raise UserInputError(
                "the VampPrior has no encoder: pass it to VAE(...) or bind_encoder"
            )
        components = self._encoder[0](self.pseudo_inputs)  # batch (K,), event (Dz,)
        logits = self.pseudo_inputs.new_zeros(components.batch_shape)
        base = components.base_dist if isinstance(components, dist.Independent) else None
        if isinstance(base, dist.Normal) and base.loc.dim() == 2:  # the usual Gaussian encoder
            return DiagonalGaussianMixture(logits, base.loc, base.scale)
        return dist.MixtureSameFamily(dist.Categorical(logits=logits), components)
