"""VampPrior-sized mixture log-densities: DiagonalGaussianMixture (two matrix products)
against torch's MixtureSameFamily (every point against every component), in one run.

    python bench/mixture_logprob.py --components 500 --latent 50 --points 21400

prints the seconds per call of each, their ratio, and the largest difference.
"""

import argparse
import time

import torch

from ppvae.models.priors.gaussian_mixture import DiagonalGaussianMixture


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--components", type=int, default=500)
    parser.add_argument("--latent", type=int, default=50)
    parser.add_argument("--points", type=int, default=21400)  # 214 samples x 100 test images
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    k, dim = args.components, args.latent
    logits, loc, scale = torch.zeros(k), torch.randn(k, dim), 0.2 + torch.rand(k, dim)
    fast = DiagonalGaussianMixture(logits, loc, scale)
    D = torch.distributions
    slow = D.MixtureSameFamily(D.Categorical(logits=logits), D.Independent(D.Normal(loc, scale), 1))
    z = torch.randn(args.points, dim)
    with torch.no_grad():
        t_fast = _time(lambda: fast.log_prob(z), args.repeats)
        t_slow = _time(lambda: slow.log_prob(z), args.repeats)
        diff = (fast.log_prob(z) - slow.log_prob(z)).abs().max().item()
    print(
        f"K={k} L={dim} N={args.points}: MixtureSameFamily {t_slow:.3f} s, "
        f"DiagonalGaussianMixture {t_fast:.3f} s, ratio {t_slow / t_fast:.1f}x, "
        f"max |difference| {diff:.2e} nats"
    )


if __name__ == "__main__":
    main()
