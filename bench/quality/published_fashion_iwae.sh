#!/usr/bin/env bash
# Issue 9, second stage: a warm start from a finished run of published_fashion.sh, trained
# further on the importance-weighted bound (IWAE, K samples per image), Adam 3e-4 on a cosine
# to 0 after one epoch of learning-rate warm-up; K = 5000 on all 10,000 test images
# (binarisation seed 0).  Results: docs/results.md ("Towards the published numbers").
#
#   EPOCHS=900 bash bench/quality/published_fashion.sh normal          # the source run
#   K=10 EPOCHS=300 bash bench/quality/published_fashion_iwae.sh normal-900
#   K=5 EPOCHS=380 bash bench/quality/published_fashion_iwae.sh vamp-700
#
#   K=5 EPOCHS=60 TAG=convhvae-gated bash bench/quality/published_fashion_iwae.sh \
#     bench/quality/weights/vamp-300-convhvae-gated --net conv --levels 2 --activation gated
#   K=5 EPOCHS=60 TAG=convhvae bash bench/quality/published_fashion_iwae.sh vamp-300-convhvae --net conv --levels 2
#
# The argument names the source: a folder under runs/published, or the path of a run folder
# or of an export (`ppvae export`, like those kept in bench/quality/weights, which let the two
# stages run on different machines).  The new run is written to
# runs/published/<source name>-iwae<K>-<EPOCHS>[-<TAG>].  An interrupted run continues where it
# stopped when the same command is run again.  Any further arguments are more `ppvae fit`
# flags (give TAG to name the run folder after them, as published_fashion.sh asks); a
# source trained with other model flags needs the same ones here, e.g.
#
#   K=5 EPOCHS=200 TAG=gated500 bash bench/quality/published_fashion_iwae.sh \
#     vamp-700-gated500 --activation gated --prior-arg components=500
set -euo pipefail
source_run=${1:?name the source run, e.g. normal-900}
shift
if [[ $# -gt 0 && -z "${TAG:-}" ]]; then
  echo "published_fashion_iwae.sh: give TAG=name with extra flags ($*), so the run gets its own folder" >&2
  exit 2
fi
if [[ "$source_run" != */* ]]; then source_run="runs/published/$source_run"; fi
if [[ ! -d "$source_run" ]]; then
  echo "published_fashion_iwae.sh: no run folder or export at $source_run" >&2
  exit 2
fi
source_run=${source_run%/}
K=${K:-10}
EPOCHS=${EPOCHS:-300}
name=$(basename "$source_run")
prior=${name%%-*}
out="runs/published/$name-iwae$K-$EPOCHS${TAG:+-$TAG}"
if [[ -f "$out/metrics.json" ]]; then
  echo "$out is finished (metrics.json); ppvae evaluate $out re-scores it" >&2
  exit 0
fi
resume=()
if [[ -f "$out/checkpoint.pt" ]]; then resume=(--resume); fi
ppvae fit --data fashion-mnist --hidden 300 300 --latent-dim 40 --batch-size 100 \
  --init-from "$source_run" --elbo iwae --num-particles "$K" \
  --lr 3e-4 --lr-schedule cosine --lr-warmup 550 \
  --epochs "$EPOCHS" --num-samples 5000 --prior "$prior" --no-progress \
  --out "$out" "${resume[@]}" "$@"
