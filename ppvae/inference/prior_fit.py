"""Refitting a trained VAE's prior with the encoder and decoder held fixed.

The prior's M-step on its own: for fixed p(x | z), any prior p' satisfies

    log p'(x) − log p(x) ≥ E_{p(z | x)}[log p'(z) − log p(z)]

(Jensen's inequality under the posterior of the old model), so a prior with a higher
average log density at draws from the posteriors of the data raises the log-likelihood by
at least that much on those data.  :func:`posterior_draws` draws approximately from
p(z | x) by importance resampling from the guide, and :func:`fit_prior` maximises the
prior's mean log density at those draws, with held-out draws (the validation images) to
pick the step at which to stop.  Comparing priors on one trained model this way costs
minutes instead of a new training run.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from tqdm.auto import tqdm

from ppvae.errors import UserInputError
from ppvae.inference.amortization import frozen
from ppvae.inference.evaluate import importance_draws

LATENT = "z"  # the prior's site (the top layer of a hierarchical VAE)


def posterior_draws(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    proposals: int = 16,
    batch_size: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """One approximate draw from p(z | x) per data point, shape (N, L): ``proposals``
    draws from the guide, one of them kept with probability proportional to its
    importance weight p(x, z) / q(z | x).  ``proposals=1`` keeps the guide's own draw.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> posterior_draws(vae, torch.ones(5, 6), proposals=4).shape
        torch.Size([5, 2])
    """
    draws = weighted_draws(vae, x, y, proposals, batch_size, seed, progress)
    return resample(*draws, seed=seed)


def weighted_draws(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    proposals: int = 16,
    batch_size: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The guide's draws of the prior's site, (N, K, L), and their log importance weights
    log p(x, z) − log q(z | x), (N, K): the input of :func:`resample` and
    :func:`log_likelihood_change`.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> log_w, z = weighted_draws(vae, torch.ones(5, 6), proposals=4)
        >>> log_w.shape, z.shape
        (torch.Size([5, 4]), torch.Size([5, 4, 2]))
    """
    if proposals < 1:
        raise UserInputError(f"need at least one proposal per point, got {proposals}")
    return importance_draws(
        vae, x, y, proposals, batch_size, seed, len(x), site=LATENT, progress=progress
    )


def resample(log_w: torch.Tensor, z: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One of each row's draws ``z`` (N, K, L), picked with probability proportional to
    ``exp(log_w)`` (N, K): (N, L).

    Example:
        >>> z = torch.arange(6.0).reshape(1, 3, 2)
        >>> resample(torch.tensor([[-1e9, 0.0, -1e9]]), z)
        tensor([[2., 3.]])
    """
    generator = torch.Generator().manual_seed(seed)
    pick = torch.multinomial(torch.softmax(log_w, dim=1), 1, generator=generator)  # (N, 1)
    return z.gather(1, pick[:, :, None].expand(-1, 1, z.shape[2])).squeeze(1)


@torch.no_grad()
def log_likelihood_change(
    old: nn.Module, new: nn.Module, log_w: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    """Per point, log p_new(x) − log p_old(x) for two priors under the same p(x | z):
    since p_new(x) / p_old(x) = E_{p_old(z | x)}[p_new(z) / p_old(z)], it is estimated with
    the old model's weighted draws (:func:`weighted_draws`) as
    logsumexp(log_w + log p_new(z) − log p_old(z)) − logsumexp(log_w), exactly the
    difference of the two models' importance-sampled log p(x) on the same draws.

    Example:
        >>> from ppvae.models import StandardNormal
        >>> p = StandardNormal(2)
        >>> log_likelihood_change(p, p, torch.zeros(3, 4), torch.randn(3, 4, 2))
        tensor([0., 0., 0.], dtype=torch.float64)
    """
    flat = z.reshape(-1, z.shape[-1])
    ratio = torch.cat(
        [(new().log_prob(zb).double() - old().log_prob(zb).double()) for zb in flat.split(5000)]
    ).reshape(log_w.shape)
    log_w = log_w.double()
    return torch.logsumexp(log_w + ratio, dim=1) - torch.logsumexp(log_w, dim=1)


def mean_log_density(prior: nn.Module, z: torch.Tensor, batch_size: int = 1000) -> float:
    """The prior's average log density at the rows of ``z`` (N, L), in nats.

    Example:
        >>> from ppvae.models import StandardNormal
        >>> round(mean_log_density(StandardNormal(2), torch.zeros(3, 2)), 4)  # -log(2π)
        -1.8379
    """
    with torch.no_grad():
        total = sum(float(prior().log_prob(zb).double().sum()) for zb in z.split(batch_size))
    return total / len(z)


def fit_prior(
    prior: nn.Module,
    train: torch.Tensor,
    val: torch.Tensor,
    steps: int = 2000,
    lr: float = 1e-3,
    batch_size: int = 500,
    eval_every: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Maximise the mean log density of ``prior`` at the draws ``train`` (N, L) with Adam,
    checking the held-out draws ``val`` every ``eval_every`` steps; the prior is left at
    its best held-out check (the start counts).  Only the prior's own parameters move (a
    VampPrior's pseudo-inputs, never the encoder it shares).  Returns one row per check:
    ``step``, ``train_log_density`` (the last ``eval_every`` batches) and
    ``val_log_density``.

    Example:
        >>> from ppvae.models import MixtureOfGaussians
        >>> g = torch.Generator().manual_seed(0)
        >>> sign = torch.tensor([-1.0, 1.0]).repeat(200)[:, None]
        >>> z = torch.randn(400, 1, generator=g) + 3 * sign  # two well-separated modes
        >>> _ = torch.manual_seed(0)
        >>> prior = MixtureOfGaussians(1, components=2)
        >>> rows = fit_prior(prior, z[:300], z[300:], steps=600, lr=0.05, batch_size=100)
        >>> rows[-1]["val_log_density"] > rows[0]["val_log_density"] + 0.5
        True
    """
    params = [p for p in prior.parameters() if p.requires_grad]
    if not params:
        raise UserInputError("the prior has no parameters of its own to fit")
    if steps < 1 or eval_every < 1 or batch_size < 1:
        raise UserInputError("steps, eval_every and batch_size must be positive")
    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    best = (mean_log_density(prior, val), copy.deepcopy(prior.state_dict()))
    rows = [{"step": 0, "train_log_density": math.nan, "val_log_density": best[0]}]
    recent: list[float] = []
    bar = tqdm(total=steps, desc="refit prior", unit="step", disable=not progress)
    # a VampPrior's shared encoder must not move, and its gradients would only cost time
    with frozen(nn.ModuleList(getattr(prior, "_encoder", []))), bar:
        for step in range(1, steps + 1):
            batch = train[torch.randint(len(train), (batch_size,), generator=generator)]
            loss = -prior().log_prob(batch).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            recent.append(-float(loss.detach()))
            bar.update()
            if step % eval_every == 0 or step == steps:
                rows.append(_check(prior, val, step, recent))
                bar.set_postfix(val=f"{rows[-1]['val_log_density']:.3f}")
                recent = []
                if rows[-1]["val_log_density"] > best[0]:
                    best = (rows[-1]["val_log_density"], copy.deepcopy(prior.state_dict()))
    prior.load_state_dict(best[1])
    return rows


def _check(prior: nn.Module, val: torch.Tensor, step: int, recent: list[float]) -> dict:
    train = sum(recent) / len(recent)
    held_out = mean_log_density(prior, val)
    return {"step": step, "train_log_density": train, "val_log_density": held_out}
