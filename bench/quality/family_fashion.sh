#!/usr/bin/env bash
# The autoencoder family on Fashion-MNIST grey levels: 784-400-50 MLP (conv: 32-64
# channels then 400), Gaussian likelihood, 20 epochs; the linear AE (10 codes, squared
# error) is compared with PCA.  Then the PSNR and linear-probe tables and the pictures.
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

# The tables and pictures of docs/autoencoders.md, from the runs above.
R=runs/family
M="$R/ae $R/denoising $R/sparse $R/sparse-kl $R/contractive $R/conv-ae $R/vae $R/denoising-vae"
ppvae denoise $M --levels 0 0.1 0.25 0.5 --out runs/family-denoise-mask
ppvae denoise $M --corruption gaussian --levels 0.1 0.2 0.4 --out runs/family-denoise-gaussian
ppvae denoise $M --corruption salt-pepper --levels 0.1 0.25 --out runs/family-denoise-sp
ppvae probe $M $R/linear --max-train 55000 --out runs/family-probe-all
ppvae denoise $R/ae $R/sparse $R/sparse-kl $R/denoising $R/contractive $R/linear $R/conv-ae \
  $R/vae $R/denoising-vae --levels 0 --out runs/family-recon
ppvae pca $R/linear
