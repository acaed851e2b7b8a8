#!/usr/bin/env bash
# The pictures of docs/latent.md, from the Fashion-MNIST comparison's runs (compare_fashion.sh)
# and a VAE with a 2-d latent; run from the repository root with the virtual environment on.
set -euo pipefail
normal=runs/fashion-compare/normal/seed-0
flow=runs/fashion-compare/flow/seed-0
[ -f runs/fashion-2d/metrics.json ] || ppvae fit --data fashion-mnist --latent-dim 2 \
  --epochs 30 --num-samples 1000 --out runs/fashion-2d --no-progress
ppvae sample "$normal" --rows 6 --per-row 12 --out docs/img/latent-samples.png
ppvae reconstruct "$normal" --num 20 --out docs/img/latent-reconstruct.png
ppvae interpolate "$normal" --pairs 5 --steps 10 --out docs/img/latent-interpolate-normal.png
ppvae interpolate "$flow" --pairs 5 --steps 10 --out docs/img/latent-interpolate-flow.png
ppvae traverse "$normal" --dims 8 --steps 11 --out docs/img/latent-traverse.png
ppvae arithmetic "$normal" --source shirt --target pullover --num 6 \
  --out docs/img/latent-arithmetic-shirt-pullover.png
ppvae arithmetic "$normal" --source sneaker --target ankle-boot --num 6 \
  --out docs/img/latent-arithmetic-sneaker-boot.png
ppvae latent-map runs/fashion-2d --n 20 --out docs/img/latent-map-2d.png
ppvae embed runs/fashion-2d --num 5000 --out docs/img/latent-embed-2d.png
ppvae embed "$normal" --method tsne --num 3000 --out docs/img/latent-embed-tsne.png
