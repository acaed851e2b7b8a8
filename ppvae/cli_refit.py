"""``ppvae refit-prior``: swap a trained run's prior for another fitted to its posteriors
(:mod:`ppvae.refit`).

Registered by :func:`ppvae.cli.build_parser`.
"""

from __future__ import annotations

import argparse

from ppvae.help_format import add_command
from ppvae.models.priors import parse_prior_args
from ppvae.refit import RefitSettings, refit_prior_run


def add_refit_command(sub: argparse._SubParsersAction) -> None:
    """Register ``ppvae refit-prior RUN DEST --prior SPEC``.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_refit_command(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["refit-prior", "runs/a", "runs/b", "--prior", "flow"])
        >>> args.prior, args.steps
        ('flow', 2000)
    """
    from ppvae.cli import _positive_float, _positive_int

    p = add_command(
        sub,
        "refit-prior",
        help="replace a trained run's prior with another, fitted to its posteriors",
        description="Write DEST: RUN with its encoder and decoder unchanged and its prior "
        "(the top layer's, for --levels 2) replaced by --prior, fitted by maximum likelihood "
        "to draws from RUN's posteriors on the training images (each importance-resampled "
        "from --proposals draws of the encoder). Adam runs --steps steps; every --eval-every "
        "steps the mean log density at the validation images' draws is checked, and the best "
        "check is kept. The rise in that held-out density over RUN's prior is printed: by "
        "Jensen's inequality it is a lower bound on the rise in log p(x) (up to the "
        "resampling). `ppvae evaluate DEST` scores the new model, `ppvae paired RUN DEST` "
        "compares the two on the same test images, and `ppvae fit --init-from DEST` (with "
        "the new --prior) trains on from it.",
    )
    p.add_argument("run", help="a finished run folder or export")
    p.add_argument("dest", help="the folder to write (new or empty)")
    p.add_argument("--prior", required=True, help="the new prior, as for `ppvae fit --prior`")
    p.add_argument(
        "--prior-arg",
        dest="prior_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an argument of the prior's constructor, e.g. components=500 (repeatable)",
    )
    d = RefitSettings()
    p.add_argument(
        "--proposals",
        type=_positive_int,
        default=d.proposals,
        help="encoder draws per image, importance-resampled to one posterior draw",
    )
    p.add_argument("--steps", type=_positive_int, default=d.steps, help="Adam steps")
    p.add_argument("--lr", type=_positive_float, default=d.lr, help="Adam learning rate")
    p.add_argument(
        "--batch-size", type=_positive_int, default=d.batch_size, help="posterior draws per step"
    )
    p.add_argument(
        "--eval-every",
        type=_positive_int,
        default=d.eval_every,
        help="steps between held-out checks",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="seeds the binarisation, the draws, the start and the batches",
    )
    p.add_argument(
        "--from-source",
        action="store_true",
        help="start from the run's own prior (same class; more components start as usual)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cmd_refit(args: argparse.Namespace) -> int:
    """Run ``ppvae refit-prior`` (errors reach :func:`ppvae.cli.main` as exit code 2)."""
    settings = RefitSettings(
        proposals=args.proposals,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        seed=args.seed,
        progress=not args.no_progress,
        from_source=args.from_source,
    )
    prior_args = parse_prior_args(args.prior_args)
    s = refit_prior_run(args.run, args.dest, args.prior, prior_args, settings)
    print(f"wrote {args.dest} ({s['seconds']:.0f} s; best check at step {s['best_step']})")
    print(
        f"  on {s['report_images']} held-out validation images: mean log prior density "
        f"{s['log_density_source_prior']:.3f} with the run's prior, {s['log_density']:.3f} "
        f"refitted ({s['gain']:+.3f} nats, a lower bound on the change in log p(x))"
    )
    print(
        f"  change in log p(x) on the same draws (K = {args.proposals}): "
        f"{s['log_likelihood_change']:+.3f} ± {s['log_likelihood_change_se']:.3f} nats"
    )
    print(f"  score it: ppvae evaluate {args.dest}")
    print(f"  compare: ppvae paired {args.run} {args.dest}")
    return 0


COMMANDS = {"refit-prior": _cmd_refit}
