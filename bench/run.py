"""ppvae vs a hand-written PyTorch loop vs a plain Pyro SVI script, side by side.

All learners train the same network (784-400-z MLP, Bernoulli likelihood) from the same
initial weights on identical mini-batches (same seeded shuffles and dynamic binarisations).
ppvae's own ``fit`` runs the show; after each of its epochs the ``on_epoch`` callback runs
one epoch of every baseline, so all are timed under the same machine conditions.  Then the
importance-sampled evaluation (K samples, every test image) of ppvae is timed against a
hand-written batched estimator on the same trained weights.

    python bench/run.py --data fashion-mnist --epochs 30 --batch-size 256

Prints seconds per epoch, the ratios to the hand-written loop, the test ELBOs, and the
evaluation timing; writes the same as JSON into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyro_vae import PyroLearner, PyroVAE
from torch_vae import Decoder, Encoder, TorchLearner, estimate

import ppvae
from ppvae import DataConfig, FitConfig, ModelConfig, build_vae, fit, load_data
from ppvae.inference.evaluate import mean_and_se, pointwise
from ppvae.runs import versions


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--latent-dim", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--elbo-samples", type=int, default=100, help="K for every learner's test ELBO")
    p.add_argument("--num-samples", type=int, default=5000, help="K for log p(x); 0 skips it")
    p.add_argument("--eval-points", type=int, default=None, help="test images to evaluate (all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="bench/results")
    return p.parse_args()


def _plain_nets(vae, x_numel: int, hidden: int, z: int) -> tuple[Encoder, Decoder]:
    enc, dec = Encoder(x_numel, hidden, z), Decoder(z, hidden, x_numel)
    enc.load_state_dict(vae.encoder.state_dict())
    dec.load_state_dict(vae.decoder.state_dict())  # ppvae's head is a plain Linear to 784
    return enc, dec


def _time_evaluation(vae, nets, x_test, k: int, block: int = 500) -> dict:
    """Time ppvae's evaluation and the hand-written estimator on alternating blocks of test
    images (alternating which goes first), so machine noise hits both alike."""
    enc, dec = nets
    seconds = {"hand-written": 0.0, "ppvae": 0.0}
    values: dict[str, list[torch.Tensor]] = {"hand-written": [], "ppvae": []}
    for i, start in enumerate(range(0, len(x_test), block)):
        x = x_test[start : start + block]
        order = ["hand-written", "ppvae"] if i % 2 == 0 else ["ppvae", "hand-written"]
        for name in order:
            begin = time.perf_counter()
            if name == "ppvae":
                values[name].append(pointwise(vae, x, num_samples=k, seed=i).log_likelihood)
            else:
                torch.manual_seed(i)
                values[name].append(estimate(enc, dec, x, k)[0])
            seconds[name] += time.perf_counter() - begin
    report = {}
    for name, parts in values.items():
        mean, se = mean_and_se(torch.cat(parts))
        report[name] = {"seconds": seconds[name], "log_likelihood": mean, "se": se}
    report["ratio"] = seconds["ppvae"] / seconds["hand-written"]
    return report


def _paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over epochs 2.. of a_e / b_e: epochs close in time share the machine's state."""
    return statistics.median(x / y for x, y in zip(a[1:] or a, b[1:] or b, strict=True))


def _summary(seconds: list[float]) -> dict[str, float]:
    # The first epoch carries one-off costs (allocation, Pyro's plate-nesting probe).
    steady = seconds[1:] or seconds
    return {
        "median": statistics.median(steady),
        "mean": statistics.fmean(steady),
        "total": sum(seconds),
    }


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    data = load_data(DataConfig(name=args.data, data_dir=args.data_dir, binarize="dynamic"))
    x_test = data.x_test if args.eval_points is None else data.x_test[: args.eval_points]
    numel = x_test[0].numel()
    torch.manual_seed(args.seed)
    vae = build_vae(
        ModelConfig(x_shape=data.x_shape, latent_dim=args.latent_dim, hidden=(args.hidden,))
    )

    learners = {
        "torch loop (default Adam)": TorchLearner(
            *_plain_nets(vae, numel, args.hidden, args.latent_dim), args.lr, args.seed
        ),
        "torch loop (fused Adam)": TorchLearner(
            *_plain_nets(vae, numel, args.hidden, args.latent_dim), args.lr, args.seed, fused=True
        ),
    }
    pyro_vae = PyroVAE(*_plain_nets(vae, numel, args.hidden, args.latent_dim), args.latent_dim)
    learners["pyro SVI script"] = PyroLearner(pyro_vae, args.lr, args.seed)
    seconds: dict[str, list[float]] = {"ppvae": [], **{name: [] for name in learners}}
    curves: dict[str, list[dict]] = {name: [] for name in seconds}

    def baselines_epoch(result) -> None:
        row = result.history[-1]
        seconds["ppvae"].append(row["seconds"])
        curves["ppvae"].append(row)
        # Rotate the baselines' order every epoch so that no learner always follows the same
        # one (ppvae runs between rounds, so over the run each learner meets each neighbour).
        names = list(learners)
        shift = (row["epoch"] - 1) % len(names)
        for name in names[shift:] + names[:shift]:
            learner = learners[name]
            start = time.perf_counter()
            stats = learner.epoch(data.x_train, data.x_val, args.batch_size)
            seconds[name].append(time.perf_counter() - start)
            curves[name].append(stats)
        line = "  ".join(f"{n.split(' (')[0][:10]}:{s[-1]:6.2f}s" for n, s in seconds.items())
        print(f"epoch {row['epoch']:>3}  {line}  ppvae val ELBO {row['val_elbo']:.2f}", flush=True)

    fit(
        vae,
        data,
        FitConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            progress=False,
        ),
        on_epoch=baselines_epoch,
    )

    report = {"args": vars(args), "versions": versions(), "seconds_per_epoch": {}, "test": {}}
    print(
        f"\nseconds per epoch (median of epochs 2..{args.epochs}); ratio to the hand-written "
        "loop as the median of per-epoch ratios (robust to drift), and as a ratio of medians:"
    )
    base = seconds["torch loop (default Adam)"]
    for name, values in seconds.items():
        s = _summary(values)
        s["ratio"] = _paired_ratio(values, base)
        s["ratio_of_medians"] = s["median"] / _summary(base)["median"]
        s["per_epoch"] = values
        report["seconds_per_epoch"][name] = s
        ratios = f"x{s['ratio']:.3f}   (x{s['ratio_of_medians']:.3f})"
        print(f"  {name:<28} {s['median']:7.3f} s   {ratios}")
    same_optimiser = _paired_ratio(seconds["ppvae"], seconds["torch loop (fused Adam)"])
    report["ratio_same_optimiser"] = same_optimiser
    print(f"  ppvae vs the loop with fused Adam (same optimiser as ppvae): x{same_optimiser:.3f}")

    trained = {"ppvae": _plain_nets(vae, numel, args.hidden, args.latent_dim)}
    for name, learner in learners.items():
        if isinstance(learner, TorchLearner):
            trained[name] = (learner.enc, learner.dec)
    trained["pyro SVI script"] = (pyro_vae.encoder, pyro_vae.decoder)
    print(f"\ntest ELBO (hand-written estimator, K={args.elbo_samples}, {len(x_test)} images):")
    per_point = {}
    for name, (enc, dec) in trained.items():
        torch.manual_seed(1)
        _, per_point[name] = estimate(enc, dec, x_test, args.elbo_samples)
        m, se = mean_and_se(per_point[name])
        report["test"][name] = {"elbo": m, "elbo_se": se}
        print(f"  {name:<28} {m:9.3f} ± {se:.3f}")
    # Paired over the same test images: far tighter than the two standard errors above.
    diff, diff_se = mean_and_se(per_point["ppvae"] - per_point["torch loop (default Adam)"])
    report["test"]["ppvae_minus_torch_loop"] = {"elbo": diff, "se": diff_se}
    print(f"  ppvae minus hand-written loop (paired): {diff:+.3f} ± {diff_se:.3f} nats")

    if args.num_samples > 0:
        print(
            f"\nimportance-sampled log p(x), K={args.num_samples}, {len(x_test)} test images, "
            "same weights, timed in alternating blocks of 500 images:"
        )
        report["evaluation"] = _time_evaluation(vae, trained["ppvae"], x_test, args.num_samples)
        for name in ("hand-written", "ppvae"):
            r = report["evaluation"][name]
            ll, se = r["log_likelihood"], r["se"]
            print(f"  {name:<14} {r['seconds']:8.1f} s   log p(x) {ll:.3f} ± {se:.3f}")
        print(f"  ratio ppvae / hand-written: x{report['evaluation']['ratio']:.3f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report["curves"] = curves
    report["ppvae_version"] = ppvae.__version__
    name = f"bench_{args.data}_{args.epochs}ep.json"
    (out / name).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out / name}")


if __name__ == "__main__":
    main()
