#!/usr/bin/env bash
# Markov vs i.i.d. prior on moving digits (same per-frame guide). Results: docs/sequences.md.
set -euo pipefail
for prior in iid markov; do
  ppvae fit --data moving-digits --prior "$prior" --latent-dim 8 --hidden 400 --epochs 100 \
    --num-samples 1000 --no-progress --overwrite --out "runs/sequences/$prior"
done
