#!/usr/bin/env bash
# The held-out-class benchmark of docs/anomaly.md: train on the nine other Fashion-MNIST
# classes, score all 10,000 test images (K = 1000 for -log p(x)); AUROC for the bags.
set -euo pipefail
ppvae anomaly --data fashion-mnist --held-out bag --priors normal mixture vamp flow \
  flat@family=ae --epochs 30 --num-samples 100 --score-samples 1000 \
  --out runs/fashion-anomaly-bag --no-progress
