"""Sub-commands for what comes after fitting: the latent-space tools and anomaly scores.

``ppvae reconstruct | interpolate | traverse | arithmetic | latent-map | embed`` write one
PNG into a run folder; ``ppvae score`` scores a file's rows with a run; ``ppvae anomaly``
runs the held-out-class benchmark.  Registered by :func:`ppvae.cli.build_parser`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ppvae.help_format import add_command
from ppvae.tasks.arithmetic import STRENGTHS
from ppvae.tasks.interpolation import KINDS
from ppvae.tasks.latent_tools import EMBEDDINGS


def _parser(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    p = add_command(sub, name, help=help, description=description)
    p.add_argument("run", help="run folder written by `ppvae fit` (an unconditional model)")
    return p


def add_latent_commands(sub: argparse._SubParsersAction) -> None:
    """Register the latent-space and anomaly sub-commands on ``sub``.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_latent_commands(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["traverse", "runs/x", "--dims", "3"]).dims
        3
    """
    from ppvae.cli import _non_negative_int, _positive_float, _positive_int

    p = _parser(
        sub,
        "reconstruct",
        "test images and their reconstructions",
        "Save test images (odd rows) above their reconstructions (even rows).",
    )
    p.add_argument("--num", type=_positive_int, default=30, help="test images")
    p.add_argument("--out", default=None, help="PNG file [default: RUN/reconstruct.png]")

    p = _parser(
        sub,
        "interpolate",
        "decoded paths between pairs of test images",
        "Decode the path between the posterior means of random pairs of test images: "
        "spherical for a Gaussian prior, in the base space for a flow prior, straight "
        "otherwise. One row per pair: the first image, the path, the second image.",
    )
    p.add_argument("--pairs", type=_positive_int, default=6, help="pairs of test images")
    p.add_argument("--steps", type=_positive_int, default=10, help="points along each path")
    p.add_argument("--kind", choices=KINDS, default="auto", help="the path")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed choosing the pairs")
    p.add_argument("--out", default=None, help="PNG file [default: RUN/interpolate.png]")

    p = _parser(
        sub,
        "traverse",
        "a decoded sweep of each of the most active latent units",
        "One row per latent coordinate (the most active first): the code of a test "
        "image with that coordinate swept over the aggregate posterior's ±SPAN sd.",
    )
    p.add_argument("--dims", type=_positive_int, default=10, help="rows (coordinates)")
    p.add_argument("--steps", type=_positive_int, default=11, help="columns")
    p.add_argument("--span", type=_positive_float, default=2.5, help="sweep half-width in sd")
    p.add_argument("--out", default=None, help="PNG file [default: RUN/traverse.png]")

    p = _parser(
        sub,
        "arithmetic",
        "move images along an attribute vector between two classes",
        "Attribute vector = mean code of the TARGET class minus that of the SOURCE class "
        "(training images); add it, scaled by each strength, to the codes of test "
        "images of class APPLY_TO (default: SOURCE) and decode. Classes by number or "
        "name (Fashion-MNIST: shirt, pullover, ankle-boot ...).",
    )
    p.add_argument("--source", required=True, help="class the vector starts from")
    p.add_argument("--target", required=True, help="class the vector points to")
    p.add_argument("--apply-to", default=None, help="class of the images moved [default: SOURCE]")
    p.add_argument("--num", type=_positive_int, default=8, help="images moved")
    p.add_argument(
        "--strengths",
        type=float,
        nargs="+",
        default=list(STRENGTHS),
        help="multiples of the vector (0: the reconstruction)",
    )
    p.add_argument("--out", default=None, help="PNG file [default: RUN/arithmetic.png]")

    p = _parser(
        sub,
        "latent-map",
        "the decoded map of a 2-D latent space",
        "Decode an N x N grid over a 2-D latent space: equal-probability steps for a "
        "Gaussian prior, the range of the test codes otherwise.",
    )
    p.add_argument("--n", type=_positive_int, default=20, help="grid side")
    p.add_argument("--out", default=None, help="PNG file [default: RUN/latent_map.png]")

    p = _parser(
        sub,
        "embed",
        "a 2-D scatter of the test codes coloured by class",
        "Posterior means of test images in 2-D: the codes themselves when 2-D, "
        "otherwise their PCA or t-SNE, coloured by label.",
    )
    p.add_argument("--method", choices=EMBEDDINGS, default="pca", help="projection")
    p.add_argument("--num", type=_positive_int, default=2000, help="test images")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="seed of t-SNE")
    p.add_argument("--out", default=None, help="PNG file [default: RUN/embed-METHOD.png]")

    p = _parser(
        sub,
        "score",
        "anomaly scores of new rows: -log p(x), -ELBO, reconstruction error",
        "Score every row of a .npy/.npz/.csv file with the model in RUN and write "
        "row,nll,nelbo,recon as CSV (higher: more anomalous). A .npz whose labels y "
        "are 0 (normal) and 1 (anomalous) also gets the AUROC of each score.",
    )
    p.add_argument("--data", dest="file", required=True, help="the rows to score")
    p.add_argument(
        "--num-samples", type=_positive_int, default=1000, help="importance samples K for -log p(x)"
    )
    p.add_argument("--out", default=None, help="CSV file [default: RUN/scores.csv]")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from ppvae.tasks.latent_tools import reconstruct_run

    print(f"wrote {reconstruct_run(args.run, args.num, args.out)}")
    return 0


def _cmd_interpolate(args: argparse.Namespace) -> int:
    from ppvae.tasks.latent_tools import interpolate_run

    path = interpolate_run(args.run, args.pairs, args.steps, args.kind, args.seed, args.out)
    print(f"wrote {path}")
    return 0


def _cmd_traverse(args: argparse.Namespace) -> int:
    from ppvae.tasks.latent_tools import traverse_run

    print(f"wrote {traverse_run(args.run, args.dims, args.steps, args.span, args.out)}")
    return 0


def _cmd_arithmetic(args: argparse.Namespace) -> int:
    from ppvae.tasks.latent_tools import arithmetic_run

    path, what = arithmetic_run(
        args.run, args.source, args.target, args.apply_to, args.num, args.strengths, args.out
    )
    print(f"{what}: wrote {path}")
    return 0


def _cmd_latent_map(args: argparse.Namespace) -> int:
    from ppvae.tasks.latent_tools import latent_map_run

    print(f"wrote {latent_map_run(args.run, args.n, args.out)}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from ppvae.tasks.latent_tools import embed_run

    print(f"wrote {embed_run(args.run, args.method, args.num, args.seed, args.out)}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from ppvae.tasks.anomaly_runs import score_file

    path, summary = score_file(args.run, args.file, args.out, args.num_samples, args.progress)
    print(f"scored {summary['rows']} rows: wrote {path}")
    for key, (area, se) in ((k, v) for k, v in summary.items() if k.startswith("auroc_")):
        print(f"  AUROC, {key.removeprefix('auroc_')}: {area:.3f} ± {se:.3f}")
    return 0


def add_anomaly_command(sub: argparse._SubParsersAction) -> None:
    """Register ``ppvae anomaly`` (the training options are those of ``ppvae fit``).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_anomaly_command(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["anomaly", "--held-out", "shirt"]).held_out
        'shirt'
    """
    from ppvae.cli import (
        _add_evaluation,
        _add_folder,
        _add_objective,
        _add_run_options,
        _positive_int,
    )

    p = add_command(
        sub,
        "anomaly",
        help="AUROC of detecting a held-out class, per prior and score type",
        description="Fit each --priors entry on every class but --held-out (each an ordinary "
        "run folder OUT/<entry>, reused when run again), score the whole test set with "
        "-log p(x), -ELBO and the reconstruction error, and report the AUROC of separating "
        "the held-out class from the other test images. Entries as in ppvae compare; "
        "flat@family=ae and the other autoencoders are allowed (no -log p(x)). Writes "
        "OUT/anomaly.csv, anomaly.md, roc.png, scores.png.",
    )
    p.add_argument("--held-out", required=True, help="the anomalous class (number or name)")
    p.add_argument(
        "--priors",
        nargs="+",
        default=["normal"],
        metavar="SPEC",
        help="entries: prior specs, optionally SPEC@key=value,...",
    )
    p.add_argument(
        "--score-samples",
        type=_positive_int,
        default=1000,
        help="importance samples K for the -log p(x) score",
    )
    _add_run_options(p)
    _add_objective(p, sweep=False)
    _add_evaluation(p)
    _add_folder(
        p,
        "benchmark folder",
        "folder [default: runs/<data>-anomaly-<class>]",
        "refit every entry from scratch",
    )


def _cmd_anomaly(args: argparse.Namespace) -> int:
    from ppvae.cli import _run_config
    from ppvae.errors import UserInputError
    from ppvae.labels import class_index
    from ppvae.runs import prepare
    from ppvae.tasks.anomaly_runs import ANOMALY_FILES, format_anomaly, held_out_benchmark

    if args.prior is not None:
        raise UserInputError("give the entries with --priors, not --prior")
    entries, held, k = args.priors, args.held_out, args.score_samples
    for name in ("priors", "held_out", "score_samples"):
        delattr(args, name)
    config = _run_config(args)
    _, data, _ = prepare(config)
    if data.num_classes is None:
        raise UserInputError(f"{data.name} has no labels: there is no class to hold out")
    cls = class_index(data.name, held, data.num_classes)
    out = Path(args.out or f"runs/{Path(data.name).stem}-anomaly-{cls}")

    def announce(entry: str, folder: Path) -> None:
        print(f"ppvae anomaly: {entry} -> {folder}", flush=True)

    rows = held_out_benchmark(config, entries, cls, out, k, args.overwrite, on_run=announce)
    print(format_anomaly(rows))
    print("\nfiles written:")
    for name in ANOMALY_FILES:
        print(f"  {out / name}")
    return 0


COMMANDS = {
    "reconstruct": _cmd_reconstruct,
    "interpolate": _cmd_interpolate,
    "traverse": _cmd_traverse,
    "arithmetic": _cmd_arithmetic,
    "latent-map": _cmd_latent_map,
    "embed": _cmd_embed,
    "score": _cmd_score,
    "anomaly": _cmd_anomaly,
}
