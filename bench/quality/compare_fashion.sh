#!/usr/bin/env bash
# The Fashion-MNIST prior comparison of docs/compare.md: 784-400-50 MLP VAE, 30 epochs,
# K = 5000 on all 10,000 test images, amortisation gap on 100 of them.  One seed by
# default (about 30 min per prior on one core, most of it the K = 5000 evaluation);
# SEEDS=3 adds seeds 1 and 2 to the same folder, reusing seed 0.
set -euo pipefail
ppvae compare --data fashion-mnist --priors normal mixture vamp flow --epochs 30 \
  --seeds "${SEEDS:-1}" --num-samples 5000 --gap-points 100 --out runs/fashion-compare \
  --no-progress
