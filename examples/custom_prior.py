"""Define a prior in about twenty lines and fit a VAE with it by SVI.

    python examples/custom_prior.py --epochs 50

The prior is a mixture of Laplace distributions with learned locations: a multi-modal,
sparse-ish code space. Nothing in ppvae changes; the prior is passed to VAE(...).
"""

import argparse

import pyro.distributions as dist
import torch
from torch import nn

from ppvae import VAE, DataConfig, ModelConfig, build_vae, evaluate, fit, load_data


class LaplaceMixture(nn.Module):
    """p(z) = Σ_k π_k Π_j Laplace(z_j; μ_kj, b_kj), everything learned."""

    def __init__(self, latent_dim: int, components: int = 8):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(components))
        self.locs = nn.Parameter(torch.randn(components, latent_dim))
        self.log_scales = nn.Parameter(torch.zeros(components, latent_dim))

    def forward(self, context=None):
        laplaces = dist.Laplace(self.locs, self.log_scales.exp()).to_event(1)
        return dist.MixtureSameFamily(dist.Categorical(logits=self.logits), laplaces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--num-samples", type=int, default=1000)
    args = parser.parse_args()

    data = load_data(DataConfig(name="digits", binarize="dynamic"))
    base = build_vae(ModelConfig(x_shape=data.x_shape, latent_dim=8, hidden=(256,)))
    vae = VAE(base.encoder, base.decoder, base.likelihood, LaplaceMixture(8))
    result = fit(vae, data, epochs=args.epochs, batch_size=64)
    m = evaluate(vae, data.x_test, num_samples=args.num_samples)
    print(
        f"{result.elbo}: test ELBO {m.elbo:.2f} ± {m.elbo_se:.2f}, "
        f"log p(x) {m.log_likelihood:.2f} ± {m.log_likelihood_se:.2f} (K={m.num_samples})"
    )


if __name__ == "__main__":
    main()
