#!/usr/bin/env bash
# beta sweep on Fashion-MNIST (784-400-50, 20 epochs, K=1000). Results: docs/beta-vae.md.
set -euo pipefail
ppvae sweep --data fashion-mnist --betas 0.25 0.5 1 2 4 8 --epochs 20 --num-samples 1000 \
  --no-progress --out runs/sweeps/fashion-beta
