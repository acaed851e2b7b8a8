"""Every member of the autoencoder family on the embedded 8x8 digits, fitted by the same
SVI loop, then compared as denoisers (PSNR) and as feature extractors (linear probe).

    python examples/autoencoder_family.py --epochs 100

Each member is a setting of one model/guide pair (docs/autoencoders.md): a point-mass
guide and a flat prior make the plain AE, a Laplace prior the sparse one, a corrupted guide
input the denoising one, a pyro.factor Jacobian penalty the contractive one.
"""

import argparse

import torch

from ppvae import DataConfig, fit, load_data
from ppvae.models import build_vae, family_config
from ppvae.tasks.denoise import denoising_table, format_denoising
from ppvae.tasks.probe import format_probe, probe_table

MEMBERS = {
    "ae": {},
    "sparse": {},
    "denoising": {"noise_level": 0.3},
    "contractive": {"contractive": 0.05},
    "vae": {"likelihood": "gaussian"},
    "denoising-vae": {"likelihood": "gaussian", "noise_level": 0.3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--latent-dim", type=int, default=16)
    args = parser.parse_args()

    data = load_data(DataConfig(name="digits", binarize="none"))  # grey levels in [0, 1]
    models = {}
    for member, extra in MEMBERS.items():
        torch.manual_seed(0)
        settings = {"likelihood": "mse", "latent_dim": args.latent_dim, "hidden": (128,)}
        config = family_config(member, x_shape=data.x_shape, **(settings | extra))
        models[member] = build_vae(config)
        result = fit(models[member], data, epochs=args.epochs, lr=3e-3, progress=False)
        print(f"{member:<14} validation objective {result.history[-1]['val_elbo']:8.2f}")
    print()
    print(format_denoising(denoising_table(models, data.x_test, "mask", [0.25, 0.5])))
    print()
    rows = probe_table(models, (data.x_train, data.y_train), (data.x_test, data.y_test))
    print(format_probe(rows))


if __name__ == "__main__":
    main()
