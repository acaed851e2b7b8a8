"""A flow prior: a standard normal pushed through learned autoregressive transforms."""

from __future__ import annotations

from collections.abc import Sequence

import pyro.distributions as dist
import pyro.distributions.transforms as T
import torch
from torch import nn

from ppvae.errors import UserInputError

FLOWS = ("affine", "spline")


class FlowPrior(nn.Module):
    """p(z): a standard normal base pushed through ``layers`` learned autoregressive flows
    (Pyro's own affine or rational-quadratic spline transforms) with permutations between.

    Each flow is used in the direction that makes the *density* one parallel pass (a masked
    autoregressive flow): the ELBO evaluates log p(z) at the guide's samples every step,
    while sampling from the prior (sequential, one pass per dimension) is only needed to
    generate.

    Arguments:
        latent_dim: size of z.
        layers: number of flow layers.
        hidden: hidden widths of each autoregressive network.
        flow: ``affine`` (MAF) or ``spline`` (neural spline flow).

    Example:
        >>> p = FlowPrior(3, layers=2, hidden=(16,))
        >>> z = p().sample((5,))
        >>> z.shape, p().log_prob(z).shape
        (torch.Size([5, 3]), torch.Size([5]))

    References:
        Papamakarios, Pavlakou & Murray. Masked autoregressive flow for density estimation
        (NeurIPS 2017); Durkan et al. Neural spline flows (NeurIPS 2019); Huang et al.
        Augmented normalizing flows / flow priors for VAEs; Chen et al. Variational lossy
        autoencoder (ICLR 2017), for autoregressive flow priors.
    """

    def __init__(
        self,
        latent_dim: int,
        layers: int = 2,
        hidden: Sequence[int] | int = (64,),
        flow: str = "affine",
    ) -> None:
        super().__init__()
        if flow not in FLOWS:
            raise UserInputError(f"unknown flow {flow!r}; choose one of {', '.join(FLOWS)}")
        if latent_dim < 2:
            raise UserInputError("the flow prior needs latent_dim >= 2")
        hidden = [hidden] if isinstance(hidden, int) else list(hidden)
        self.latent_shape = (int(latent_dim),)
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))
        make = T.affine_autoregressive if flow == "affine" else T.spline_autoregressive
        self.flows = nn.ModuleList(make(latent_dim, hidden_dims=hidden) for _ in range(layers))
        generator = torch.Generator().manual_seed(0)
        perms = torch.stack(
            [torch.randperm(latent_dim, generator=generator) for _ in range(layers)]
        )
        self.register_buffer("perms", perms)

    def forward(self, context: torch.Tensor | None = None) -> dist.Distribution:
        transforms: list = []
        for flow, perm in zip(self.flows, self.perms, strict=True):
            transforms += [flow.inv, T.Permute(perm)]
        base = dist.Normal(self.loc, self.scale).to_event(1)
        return dist.TransformedDistribution(base, transforms)
