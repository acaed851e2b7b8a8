"""Latent traversals: decode one code while sweeping a single latent coordinate at a time.

The coordinates shown are those whose posterior means vary most over the data (the most
active units, Burda et al. 2016); each is swept over its mean ± ``span`` standard deviations
of the aggregate posterior (variance of the posterior means plus their mean variance), the
others held at one example's posterior mean.  With a
disentangling β-VAE each row should change one factor of variation.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def latent_traversals(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    dims: int = 8,
    steps: int = 9,
    span: float = 2.5,
) -> tuple[torch.Tensor, list[int]]:
    """Decoded means for ``dims`` rows × ``steps`` columns, and the coordinates swept.

    ``x`` (N, *x_shape) gives the aggregate posterior; its first point is the code held
    fixed.  Returns images of shape (rows * steps, *x_shape) and the row coordinates
    (indices into the flattened latent).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
        >>> images, chosen = latent_traversals(vae, torch.rand(20, 6), dims=2, steps=5)
        >>> images.shape, len(chosen)
        (torch.Size([10, 6]), 2)
    """
    q = vae.encode(x, y)
    means = q.mean  # (N, *latent_shape)
    latent_shape = means.shape[1:]
    flat = means.reshape(len(x), -1)
    activity = flat.var(dim=0) if len(x) > 1 else torch.zeros(flat.shape[1])
    try:  # the aggregate posterior's variance: variance of the means + mean variance
        spread = (activity + q.variance.reshape(len(x), -1).mean(0)).sqrt()
    except NotImplementedError:
        spread = activity.sqrt()
    chosen = torch.argsort(activity, descending=True)[: min(dims, flat.shape[1])].tolist()
    offsets = torch.linspace(-span, span, steps, device=flat.device)
    rows = []
    for d in chosen:
        z = flat[:1].repeat(steps, 1)
        z[:, d] = flat[:, d].mean() + offsets * spread[d]
        context = None if y is None else y[:1].expand(steps, -1)
        rows.append(vae.decode(z.reshape(steps, *latent_shape), context).mean)
    return torch.cat(rows), chosen
