"""Issue 9 probe: does a learned acceptance factor on top of a trained VampPrior raise
log p(x) with the encoder and decoder held fixed?

The new top-layer prior is p'(z) = p(z) a(z) / Z: the run's own (frozen) prior p, resampled
by an acceptance network a(z) = σ(f(z)) as in learned accept/reject sampling (Bauer & Mnih
2019) without truncation, with Z = E_p[a(z)] estimated over 200,000 draws from p.  f is a
tanh MLP whose last layer starts at zero, so p' starts equal to p.  It is fitted by maximum
likelihood to one importance-resampled posterior draw (16 proposals) per training image,
checked every 100 steps on the first half of the validation images (the best check is
kept; the start, a gain of 0, counts), and reported on the second half: the rise in mean
log prior density and the rise in log p(x) itself, estimated on the same weighted draws as
``ppvae refit-prior`` does.  One thread.  Results: docs/results.md ("Towards −225.92").

    make weights   # the kept runs, from git history
    python bench/quality/lars_on_vamp.py \
        bench/quality/weights/vamp-300-convhvae-iwae5-60-convhvae-iwae50-10-convhvae \
        --train-images 20000 --hidden 200 --steps 1600
"""

from __future__ import annotations

import argparse
import copy
import math

import torch
from torch import nn
from torch.nn import functional as F

from ppvae.data import binarize
from ppvae.inference.prior_fit import resample, weighted_draws
from ppvae.runs import load_run

POOL = 200_000  # draws from the run's prior for Z


def acceptance_net(latent: int, hidden: int) -> nn.Module:
    """f: latent → hidden → hidden → 1 (tanh), last layer zero so that a(z) = 1/2."""
    net = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
    last = nn.Linear(hidden, 1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(net, last)


def log_normalizer(f: nn.Module, pool: torch.Tensor) -> torch.Tensor:
    """log Z = log mean over ``pool`` of a(z)."""
    log_a = torch.cat([F.logsigmoid(f(b).squeeze(-1)) for b in pool.split(50_000)])
    return torch.logsumexp(log_a, 0) - math.log(len(pool))


def log_ratio(f: nn.Module, z: torch.Tensor, log_z: torch.Tensor) -> torch.Tensor:
    """log p'(z) − log p(z) = log a(z) − log Z."""
    return F.logsigmoid(f(z).squeeze(-1)) - log_z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a trained run folder or export")
    parser.add_argument("--train-images", type=int, default=20_000)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    _, data, vae, _ = load_run(args.run)
    vae.eval()
    x = binarize(data.x_train[: args.train_images], torch.Generator().manual_seed(0))
    train = resample(*weighted_draws(vae, x, None, 16, seed=0), seed=0)
    log_w, z_val = weighted_draws(vae, data.x_val, None, 16, seed=1)
    val = resample(log_w, z_val, seed=1)
    half = len(val) // 2
    with torch.no_grad():
        pool = vae.prior().sample((POOL,))
    f = acceptance_net(train.shape[1], args.hidden)
    best = fit(f, train, val[:half], pool, args.steps, args.lr)
    report(f, val[half:], log_w[half:], z_val[half:], pool, best)


def fit(f, train, sel, pool, steps: int, lr: float) -> int:
    """Adam on the training draws (batches of 500, Z over 4096 pool draws); f is left at
    its best check on ``sel``.  Returns the step kept (0: the start)."""
    optimizer = torch.optim.Adam(f.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    best = (0.0, copy.deepcopy(f.state_dict()), 0)
    for step in range(1, steps + 1):
        batch = train[torch.randint(len(train), (500,), generator=generator)]
        draws = pool[torch.randint(len(pool), (4096,), generator=generator)]
        loss = -(F.logsigmoid(f(batch).squeeze(-1)).mean() - log_normalizer(f, draws))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            with torch.no_grad():
                log_z = log_normalizer(f, pool)
                held = float(log_ratio(f, sel, log_z).mean())
                fitted = float(log_ratio(f, train[:5000], log_z).mean())
            print(f"step {step}: train {fitted:+.4f}, held-out {held:+.4f}", flush=True)
            if held > best[0]:
                best = (held, copy.deepcopy(f.state_dict()), step)
    f.load_state_dict(best[1])
    return best[2]


@torch.no_grad()
def report(f, val, log_w, z, pool, step: int) -> None:
    """The rise in mean log prior density and in log p(x) on the report half."""
    log_z = log_normalizer(f, pool)
    gain = float(log_ratio(f, val, log_z).mean())
    ratio = log_ratio(f, z.reshape(-1, z.shape[-1]), log_z).reshape(log_w.shape).double()
    w = log_w.double()
    change = torch.logsumexp(w + ratio, 1) - torch.logsumexp(w, 1)
    se = float(change.std() / math.sqrt(len(change)))
    print(
        f"kept step {step}; on {len(change)} held-out images: mean log density "
        f"{gain:+.4f}, log p(x) {float(change.mean()):+.4f} ± {se:.4f}"
    )


if __name__ == "__main__":
    main()
