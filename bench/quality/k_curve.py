"""Issue 9: how far is the K = 5000 estimate of log p(x) from its limit?

The importance-sampled estimate log mean_k w_k is a lower bound in expectation that rises
with K towards log p(x); its bias falls roughly as 1/K once the weights are well behaved.
This scores the first N test images (binarisation seed 0) at K = 5000 once and prints the
estimate over the first K of those draws for growing K, so the last steps show how much
more samples (or a better proposal for the same model) could still add.  One thread.
Results: docs/results.md ("Towards −225.92").

    make weights   # the kept runs, from git history
    python bench/quality/k_curve.py \
        bench/quality/weights/vamp-300-convhvae-iwae5-60-convhvae-iwae50-10-convhvae --images 100
"""

from __future__ import annotations

import argparse
import math

import torch

from ppvae.inference.evaluate import importance_log_weights
from ppvae.runs import load_run

COUNTS = (50, 500, 1000, 2500, 5000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a trained run folder or export")
    parser.add_argument("--images", type=int, default=100, help="first N test images")
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, data, vae, _ = load_run(args.run)
    x = data.x_test[: args.images]
    log_w = importance_log_weights(vae, x, None, num_samples=max(COUNTS), batch_size=10)
    for k in COUNTS:
        estimate = torch.logsumexp(log_w[:, :k], 1) - math.log(k)
        print(f"K = {k}: mean log p(x) {float(estimate.mean()):.3f}")
    share = torch.softmax(log_w, 1).max(1).values
    ess = 1 / (torch.softmax(log_w, 1) ** 2).sum(1)
    print(
        f"largest normalised weight: median {float(share.median()):.3f}; "
        f"effective sample size: mean {float(ess.mean()):.0f} of {max(COUNTS)}"
    )


if __name__ == "__main__":
    main()
