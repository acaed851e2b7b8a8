"""Conditional VAE: the same program with the labels given to encoder and decoder.

    python examples/cvae.py --epochs 60

Fits a VAE and a CVAE (q(z|x,y), p(x|z,y), standard normal prior) with the same network on
the digits, prints the importance-sampled log p(x) of the first beside log p(x|y) of the
second, and saves one row of samples per class to cvae_samples.png.
"""

import argparse

import torch

from ppvae import DataConfig, ModelConfig, build_vae, evaluate, fit, load_data
from ppvae.plots import save_grid


def fitted(data, condition: bool, epochs: int):
    torch.manual_seed(0)
    config = ModelConfig(
        x_shape=data.x_shape,
        latent_dim=8,
        hidden=(256,),
        context_dim=data.context_dim if condition else 0,
        condition_networks=condition,
    )
    vae = build_vae(config)
    fit(vae, data, epochs=epochs, batch_size=64, progress=False)
    return vae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--num-samples", type=int, default=1000)
    args = parser.parse_args()

    plain = load_data(DataConfig(name="digits", binarize="dynamic"))
    labelled = load_data(DataConfig(name="digits", binarize="dynamic", context="labels"))
    vae, cvae = fitted(plain, False, args.epochs), fitted(labelled, True, args.epochs)
    m = evaluate(vae, *plain.split("test"), num_samples=args.num_samples)
    c = evaluate(cvae, *labelled.split("test"), num_samples=args.num_samples)
    print(f"VAE   log p(x)   {m.log_likelihood:.2f} ± {m.log_likelihood_se:.2f}")
    print(f"CVAE  log p(x|y) {c.log_likelihood:.2f} ± {c.log_likelihood_se:.2f}")
    labels = torch.eye(10).repeat_interleave(10, dim=0)  # ten samples of each class
    save_grid(cvae.generate(100, labels), plain.x_shape, "cvae_samples.png", "one class per row")
    print("wrote cvae_samples.png")


if __name__ == "__main__":
    main()
