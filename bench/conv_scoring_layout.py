"""Evaluation of a Fashion-MNIST-sized convolutional VAE with the transposed convolutions
in channels-last layout (ppvae's default without gradients on a CPU) against the default
layout, on the same weights, images and samples, in one run.

    OMP_NUM_THREADS=1 python bench/conv_scoring_layout.py --samples 428 --repeats 3

prints the seconds per evaluation of each, their ratio, and the largest difference in
log p(x).
"""

import argparse
import time

import torch

from ppvae.inference.evaluate import pointwise
from ppvae.models import ModelConfig, build_vae, conv


def _time(fn, repeats: int):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    return (time.perf_counter() - start) / repeats, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=428)  # two chunks of 214
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=40, hidden=(300, 300), net="conv", prior="vamp", levels=2)
    vae = build_vae(config)
    x = torch.bernoulli(torch.full((args.images, 1, 28, 28), 0.3))
    score = lambda: pointwise(vae, x, num_samples=args.samples).log_likelihood  # noqa: E731
    timings = {}
    for layout in (True, False):
        conv.CHANNELS_LAST_SCORING = layout
        timings[layout] = _time(score, args.repeats)
    (fast, a), (plain, b) = timings[True], timings[False]
    print(f"channels-last {fast:.2f} s, default layout {plain:.2f} s, ratio {plain / fast:.2f}")
    print(f"largest difference in log p(x): {(a - b).abs().max().item():.2e} nats")


if __name__ == "__main__":
    main()
