"""``ppvae export``: keep a finished run as its weights alone (:mod:`ppvae.export`).

Registered by :func:`ppvae.cli.build_parser`.
"""

from __future__ import annotations

import argparse

from ppvae.export import export_run
from ppvae.help_format import add_command


def add_export_command(sub: argparse._SubParsersAction) -> None:
    """Register ``ppvae export RUN DEST``.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_export_command(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["export", "runs/a", "kept/a"]).dest
        'kept/a'
    """
    p = add_command(
        sub,
        "export",
        help="copy a run with its reported weights only, to keep, share or start from",
        description="Write DEST: RUN's config.json and history, a checkpoint.pt holding only "
        "the weights RUN reports (the best epoch's under early stopping), and RUN's "
        "metrics.json and pointwise.pt when they score those weights (and an interrupted test "
        "evaluation's finished batches, which `ppvae evaluate DEST` goes on from). With no "
        "optimiser or RNG state it is about a quarter of the training checkpoint. `ppvae "
        "evaluate`, "
        "`ppvae generate` and the other tools read DEST as they read RUN, and `ppvae fit "
        "--init-from DEST` starts a new fit from it; it cannot be resumed. DEST is written "
        "whole or not at all.",
    )
    p.add_argument("run", help="run folder written by `ppvae fit`")
    p.add_argument("dest", help="the folder to write (new or empty)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export in DEST (as a whole; never a training run)",
    )


def _cmd_export(args: argparse.Namespace) -> int:
    """Run ``ppvae export`` (errors reach :func:`ppvae.cli.main` as exit code 2)."""
    dest = export_run(args.run, args.dest, args.overwrite)
    size = sum(p.stat().st_size for p in dest.iterdir() if p.is_file())
    print(f"wrote {dest} ({size / 1e6:.1f} MB)")
    if not (dest / "metrics.json").is_file():
        print(f"  no test scores: {args.run} has none for these weights")
    print(f"  re-score it: ppvae evaluate {dest}")
    print(f"  train on from it: ppvae fit ... --init-from {dest}")
    return 0


COMMANDS = {"export": _cmd_export}
