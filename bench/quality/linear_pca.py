"""A linear autoencoder against PCA: principal angles between its decoder's subspace and
the top-k principal components, recorded after every epoch.

    python bench/quality/linear_pca.py --out docs/img/linear-ae-pca.png

Trains ppvae's ``linear`` member (affine encoder and decoder, squared error, point-mass
guide, flat prior) with the ordinary ``fit`` on the 8x8 digits for k = 2, 5 and 10 and on
Fashion-MNIST for k = 10, and plots the largest and median angle per epoch.
Results: docs/linear-ae-pca.md.
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from ppvae.data import DataConfig, load_data
from ppvae.inference import fit
from ppvae.models import build_vae, family_config
from ppvae.tasks.pca_angles import decoder_basis, explained_variance_gap, principal_angles


def trace_angles(data, k: int, epochs: int, lr: float, batch_size: int, seed: int = 0):
    torch.manual_seed(seed)
    ae = build_vae(family_config("linear", x_shape=data.x_shape, latent_dim=k))
    x = data.x_train
    angles = [principal_angles(decoder_basis(ae), x)]

    def record(_):
        angles.append(principal_angles(decoder_basis(ae), x))

    result = fit(
        ae,
        data,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        progress=False,
        seed=seed,
        on_epoch=record,
    )
    gap = explained_variance_gap(decoder_basis(ae), x)
    return np.array(angles), gap, result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/img/linear-ae-pca.png")
    parser.add_argument("--digits-epochs", type=int, default=800)
    parser.add_argument("--fashion-epochs", type=int, default=40)
    args = parser.parse_args()
    digits = load_data(DataConfig(name="digits", binarize="none"))
    fashion = load_data(DataConfig(name="fashion-mnist", binarize="none"))
    # (name, data, k, learning rate): Fashion-MNIST has 430 steps per epoch and wants a
    # smaller step than the digits' 11
    cases = [
        ("digits", digits, 2, 1e-2),
        ("digits", digits, 5, 1e-2),
        ("digits", digits, 10, 1e-2),
        ("fashion-mnist", fashion, 10, 1e-3),
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    rows = []
    for name, data, k, lr in cases:
        epochs = args.digits_epochs if name == "digits" else args.fashion_epochs
        angles, gap, seconds = trace_angles(data, k, epochs, lr, 128)
        line = ax.plot(angles.max(1), label=f"{name}, k={k}: largest")[0]
        ax.plot(np.median(angles, 1), ls=":", color=line.get_color())
        final = angles[-1]
        rows.append(
            {
                "data": name,
                "k": k,
                "epochs": epochs,
                "lr": lr,
                "angles": final.round(3).tolist(),
                "max_angle": float(final.max()),
                "variance_gap": gap,
                "seconds": seconds,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    ax.set(
        xlabel="epoch",
        ylabel="principal angle to PCA (degrees)",
        yscale="log",
        title="linear AE vs PCA: largest (solid) and median (dotted) principal angle",
    )
    ax.legend(fontsize=8)
    fig.savefig(args.out, dpi=100, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
