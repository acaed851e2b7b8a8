"""A hand-written PyTorch VAE: the baseline ppvae is timed against.

Plain modules, a closed-form Gaussian KL and ``binary_cross_entropy_with_logits``: what a
careful user writes without a probabilistic-programming library.  The parameter names
match ppvae's MLP networks so both can start from the same weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    def __init__(self, x_dim: int, hidden: int, z_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(x_dim, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 2 * z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, raw = self.head(self.body(x.flatten(1))).chunk(2, dim=-1)
        return loc, F.softplus(raw) + 1e-5


class Decoder(nn.Module):
    def __init__(self, z_dim: int, hidden: int, x_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, x_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(z))  # Bernoulli logits


def batches(x: torch.Tensor, batch_size: int, generator: torch.Generator):
    """Shuffled, dynamically binarised mini-batches (same draws as ppvae's Data.batches)."""
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(x), batch_size):
        grey = x[order[start : start + batch_size]]
        yield (torch.rand(grey.shape, generator=generator) < grey).float()


def negative_elbo(enc: Encoder, dec: Decoder, x: torch.Tensor) -> torch.Tensor:
    """Summed negative ELBO of a batch, one reparameterised sample, analytic KL."""
    loc, scale = enc(x)
    z = loc + scale * torch.randn_like(loc)
    rec = F.binary_cross_entropy_with_logits(dec(z), x.flatten(1), reduction="sum")
    kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1).sum() - scale.log().sum()
    return rec + kl


class TorchLearner:
    """One epoch at a time of the hand-written training loop."""

    def __init__(self, enc: Encoder, dec: Decoder, lr: float, seed: int, fused: bool = False):
        self.enc, self.dec = enc, dec
        params = [*enc.parameters(), *dec.parameters()]
        self.opt = (
            torch.optim.Adam(params, lr=lr, fused=True)
            if fused
            else torch.optim.Adam(params, lr=lr)
        )
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self, x_train, x_val, batch_size: int) -> dict[str, float]:
        total = 0.0
        for xb in batches(x_train, batch_size, self.generator):
            loss = negative_elbo(self.enc, self.dec, xb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            total += loss.item()
        with torch.no_grad():
            val = sum(
                negative_elbo(self.enc, self.dec, xb).item() for xb in x_val.split(batch_size)
            )
        return {"train_elbo": -total / len(x_train), "val_elbo": -val / len(x_val)}


@torch.no_grad()
def estimate(
    enc: Encoder,
    dec: Decoder,
    x: torch.Tensor,
    k: int,
    batch_size: int = 100,
    max_elements: int = 2**24,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-written batched importance sampler: per-point log p(x) and ELBO, K samples."""
    chunk = max(1, min(k, max_elements // (batch_size * x[0].numel())))
    log_px, elbo = [], []
    for xb in x.split(batch_size):
        xf = xb.flatten(1)
        loc, scale = enc(xb)
        kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1).sum(-1) - scale.log().sum(-1)
        lse = torch.full((len(xb),), -math.inf, dtype=torch.float64)
        rec = torch.zeros(len(xb), dtype=torch.float64)
        done = 0
        while done < k:
            n = min(chunk, k - done)
            eps = torch.randn(n, *loc.shape)
            z = loc + scale * eps
            log_lik = -F.binary_cross_entropy_with_logits(
                dec(z), xf.expand(n, *xf.shape), reduction="none"
            ).sum(-1)
            log_prior = -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * math.log(2 * math.pi))
            log_q = -0.5 * (
                eps.pow(2).sum(-1) + z.shape[-1] * math.log(2 * math.pi)
            ) - scale.log().sum(-1)
            log_w = (log_lik + log_prior - log_q).double()
            lse = torch.logaddexp(lse, torch.logsumexp(log_w, 0))
            rec += log_lik.double().sum(0)
            done += n
        log_px.append(lse - math.log(k))
        elbo.append(rec / k - kl.double())
    return torch.cat(log_px), torch.cat(elbo)
