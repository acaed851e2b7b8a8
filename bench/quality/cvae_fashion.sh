#!/usr/bin/env bash
# Conditional VAE on Fashion-MNIST (labels to encoder and decoder). Results: docs/cvae.md.
set -euo pipefail
ppvae fit --data fashion-mnist --context labels --condition-networks --epochs 30 \
  --num-samples 1000 --no-progress --overwrite --out runs/cvae-fashion
ppvae generate runs/cvae-fashion --per-row 12
