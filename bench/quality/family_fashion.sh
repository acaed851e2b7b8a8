#!/usr/bin/env bash
# The autoencoder family on Fashion-MNIST grey levels: 784-400-50 MLP (conv: 32-64
# channels then 400), Gaussian likelihood, 20 epochs; the linear AE (10 codes, squared
# error) is compared with PCA.  Then the PSNR and linear-probe tables.
# Results: docs/autoencoders.md.
set -euo pipefail
DATA=(--data fashion-mnist --binarize none --no-progress --overwrite --num-samples 200)
fit() { name=$1; shift; ppvae fit "${DATA[@]}" --out "runs/family/$name" "$@"; }
fit ae --family ae --likelihood gaussian --epochs 20
fit denoising --family denoising --likelihood gaussian --epochs 20
fit sparse --family sparse --likelihood gaussian --epochs 20
fit sparse-kl --family sparse-kl --likelihood gaussian --epochs 20
fit contractive --family contractive --likelihood gaussian --contractive 0.1 --epochs 20
fit vae --family vae --likelihood gaussian --epochs 20
fit denoising-vae --family denoising-vae --likelihood gaussian --epochs 20
fit linear --family linear --latent-dim 10 --epochs 30
fit conv-ae --family ae --net conv --likelihood gaussian --epochs 10
