"""A linear-Gaussian VAE (probabilistic PCA) whose marginal likelihood is known exactly.

    z ~ N(0, I_k),   x | z ~ N(W z + b, s^2 I_d)   =>   x ~ N(b, W W^T + s^2 I_d)

With orthogonal columns of W the exact posterior has a diagonal covariance, so an affine
encoder can represent it exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal

from ppvae.models import VAE, Gaussian, MLPDecoder, MLPEncoder, StandardNormal

D, K, NOISE = 5, 2, 0.5


def make_ppca(seed: int = 0, scale_factor: float = 1.0, shift: float = 0.0):
    """A PPCA VAE whose encoder is the exact posterior, with its scale multiplied by
    ``scale_factor`` and its mean shifted by ``shift`` (1, 0: exact)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(D, K, generator=g))
    w = q * torch.tensor([2.0, 1.0])  # orthogonal columns, different lengths
    b = torch.randn(D, generator=g) * 0.3
    decoder = MLPDecoder(K, (D,), hidden=())
    decoder.head.weight.data.copy_(w)
    decoder.head.bias.data.copy_(b)
    likelihood = Gaussian((D,), init_scale=NOISE, learn_scale=False)
    post_cov = torch.linalg.inv(torch.eye(K) + w.T @ w / NOISE**2)  # diagonal here
    a = post_cov @ w.T / NOISE**2
    encoder = MLPEncoder((D,), K, hidden=(), min_scale=0.0)
    encoder.head.weight.data.zero_()
    encoder.head.weight.data[:K] = a
    encoder.head.bias.data[:K] = -a @ b + shift
    std = post_cov.diagonal().sqrt() * scale_factor
    encoder.head.bias.data[K:] = std + torch.log(-torch.expm1(-std))  # softplus^-1
    vae = VAE(encoder, decoder, likelihood, StandardNormal(K))
    marginal = MultivariateNormal(b, w @ w.T + NOISE**2 * torch.eye(D))
    return vae, marginal


def softplus_inverse_check(value: torch.Tensor) -> torch.Tensor:
    """softplus(softplus^-1(v)) for checking the construction above."""
    return F.softplus(value + torch.log(-torch.expm1(-value)))
