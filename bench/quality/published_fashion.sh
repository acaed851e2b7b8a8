#!/usr/bin/env bash
# Issue 9's runs: the Exemplar-VAE-sized MLP VAE (784-300-300-40, ReLU) on dynamically
# binarised Fashion-MNIST, batch 100, Adam 1e-3 on a cosine to 0, KL warm-up over the first
# 50 epochs (27,500 steps); K = 5000 on all 10,000 test images (binarisation seed 0).
# Results: docs/results.md ("Towards the published numbers").
#
#   EPOCHS=900 bash bench/quality/published_fashion.sh normal
#   EPOCHS=700 bash bench/quality/published_fashion.sh vamp
#   EPOCHS=500 TAG=gated bash bench/quality/published_fashion.sh vamp --activation gated
#   EPOCHS=700 TAG=c500 bash bench/quality/published_fashion.sh vamp --prior-arg components=500
#   EPOCHS=700 TAG=hvae bash bench/quality/published_fashion.sh vamp --levels 2   # two latent layers
#   EPOCHS=300 TAG=convhvae bash bench/quality/published_fashion.sh vamp --net conv --levels 2
#   K=5 EPOCHS=500 bash bench/quality/published_fashion.sh normal    # the IWAE bound, K = 5
#
# With K set, the training objective is the importance-weighted bound with K samples per
# image (--elbo iwae), which has no KL term to warm up: the run takes no --anneal flags and
# its folder ends in -iwaeK.
# The prior is the first argument; any further arguments are more `ppvae fit` flags (give
# TAG to name the run folder after them). EPOCHS defaults to 300. An interrupted run
# continues where it stopped when the same command is run again.
set -euo pipefail
prior=${1:-normal}
shift || true
EPOCHS=${EPOCHS:-300}
if [[ $# -gt 0 && -z "${TAG:-}" ]]; then
  echo "published_fashion.sh: give TAG=name with extra flags ($*), so the run gets its own folder" >&2
  exit 2
fi
objective=(--anneal linear --anneal-steps 27500)
if [[ -n "${K:-}" ]]; then objective=(--elbo iwae --num-particles "$K"); fi
out="runs/published/$prior-$EPOCHS${K:+-iwae$K}${TAG:+-$TAG}"
if [[ -f "$out/metrics.json" ]]; then
  echo "$out is finished (metrics.json); ppvae evaluate $out re-scores it" >&2
  exit 0
fi
resume=()
if [[ -f "$out/checkpoint.pt" ]]; then resume=(--resume); fi
ppvae fit --data fashion-mnist --hidden 300 300 --latent-dim 40 --batch-size 100 \
  --lr 1e-3 --lr-schedule cosine "${objective[@]}" \
  --epochs "$EPOCHS" --num-samples 5000 --prior "$prior" --no-progress \
  --out "$out" "${resume[@]}" "$@"
