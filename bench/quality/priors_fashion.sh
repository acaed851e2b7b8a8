#!/usr/bin/env bash
# Every registered single-vector prior on Fashion-MNIST: 784-400-50 MLP, 30 epochs, K=1000.
# Results: docs/results.md ("Every prior on Fashion-MNIST").
set -euo pipefail
for name in normal learned mixture vamp flow laplace student-t conditional; do
  ppvae fit --data fashion-mnist --epochs 30 --num-samples 100 --no-progress --overwrite \
    --prior "$name" --out "runs/priors/$name"
  ppvae evaluate "runs/priors/$name" --num-samples 1000 --no-progress
done
