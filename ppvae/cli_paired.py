"""``ppvae paired``: paired test-score differences between finished runs, or runs still
being scored (:mod:`ppvae.paired_runs`).

Registered by :func:`ppvae.cli.build_parser`.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ppvae.errors import UserInputError
from ppvae.help_format import add_command
from ppvae.io import write_csv
from ppvae.paired_runs import format_paired, paired_runs


def add_paired_command(sub: argparse._SubParsersAction) -> None:
    """Register ``ppvae paired RUN [RUN ...]`` (the first run is the baseline).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_paired_command(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["paired", "runs/a", "runs/b"]).runs
        ['runs/a', 'runs/b']
    """
    p = add_command(
        sub,
        "paired",
        help="paired differences in test log p(x) and ELBO between finished runs",
        description="Read each run's per-point test scores (pointwise.pt, written by `ppvae "
        "fit` and `ppvae evaluate`) and print every run's test log p(x) with the difference "
        "from the first run's, log p(x) and ELBO, averaged over the same test points with "
        "the paired standard error. Runs scored on other test images, with another context or "
        "likelihood, point estimates, and scores older than the checkpoint are refused. K, "
        "the importance samples per point, may differ and is shown. With --partial, a run "
        "still being scored (a long `ppvae fit` or `ppvae evaluate` running or interrupted) "
        "takes part with the test points its evaluation has finished, and all runs are "
        "compared on the first n test points, n the fewest any run has.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders; the first is the baseline")
    p.add_argument(
        "--partial",
        action="store_true",
        help="read a run without current scores from its evaluation in progress "
        "(RUN/evaluation-*.partial.pt of its current weights) and compare every run on the "
        "test points all of them have",
    )
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV to PATH")


def _cmd_paired(args: argparse.Namespace) -> int:
    """Run ``ppvae paired`` (errors reach :func:`ppvae.cli.main` as exit code 2)."""
    if args.csv and (Path(args.csv).is_dir() or not Path(args.csv).parent.is_dir()):
        raise UserInputError(f"--csv {args.csv}: give a file path in an existing folder")
    rows = paired_runs(args.runs, partial=args.partial)
    print(format_paired(rows))
    if args.csv:
        write_csv(Path(args.csv), [asdict(r) for r in rows])
        print(f"wrote {args.csv}")
    return 0


COMMANDS = {"paired": _cmd_paired}
