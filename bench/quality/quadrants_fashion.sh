#!/usr/bin/env bash
# Quadrant completion on Fashion-MNIST, CVAE vs MLP. Results: docs/quadrants.md.
set -euo pipefail
ppvae quadrants --data fashion-mnist --epochs 20 --num-samples 1000 --no-progress \
  --out runs/quadrants-fashion
