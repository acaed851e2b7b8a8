#!/usr/bin/env bash
# The Fashion-MNIST prior comparison of docs/compare.md: 784-400-50 MLP VAE, 30 epochs,
# three seeds, K = 5000 on all 10,000 test images, amortisation gap on 100 of them.
set -euo pipefail
ppvae compare --data fashion-mnist --priors normal mixture vamp flow --epochs 30 --seeds 3 \
  --num-samples 5000 --gap-points 100 --out runs/fashion-compare --no-progress
