"""Paired Markov-vs-i.i.d. gain on moving digits from the two run folders of sequences.sh.

python bench/quality/sequences_paired.py runs/sequences/iid runs/sequences/markov
"""

import sys

from ppvae.inference import mean_and_se, pointwise
from ppvae.runs import load_run


def main() -> None:
    points = {}
    for run in sys.argv[1:3]:
        _, data, vae, _ = load_run(run)
        points[run] = pointwise(vae, *data.split("test"), num_samples=1000, seed=0)
    steps = data.x_shape[0]
    (a, pa), (b, pb) = points.items()
    for key in ("elbo", "log_likelihood"):
        gain, se = mean_and_se((getattr(pb, key) - getattr(pa, key)) / steps)
        print(f"{key} per step, {b} minus {a}: {gain:.3f} ± {se:.3f} (paired, {len(pa.elbo)} seq)")
    for run, p in points.items():
        ll, se = mean_and_se(p.log_likelihood / steps)
        el, ese = mean_and_se(p.elbo / steps)
        print(f"{run}: per step ELBO {el:.3f} ± {ese:.3f}, log p(x) {ll:.3f} ± {se:.3f}")


if __name__ == "__main__":
    main()
