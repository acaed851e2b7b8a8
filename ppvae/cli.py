"""The ``ppvae`` command line: parses flags, calls the library, prints results.

    ppvae fit --data digits --epochs 50 --out runs/demo
    ppvae evaluate runs/demo --num-samples 5000

Mistakes in the input (unknown option values, missing files, bad data, a corrupt
checkpoint) print one ``ppvae: error: ...`` line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

from ppvae.data import BINARIZE, CONTEXTS, DataConfig
from ppvae.errors import UserInputError
from ppvae.help_format import add_command
from ppvae.inference.kl_weight import ANNEALING
from ppvae.inference.svi import ELBOS, LR_SCHEDULES, ON_NAN, FitConfig, TrainingDiverged
from ppvae.models.build import NETS, ModelConfig
from ppvae.models.corruption import CORRUPTIONS
from ppvae.models.family import FAMILY, family_settings
from ppvae.models.heads import CODES, GUIDES
from ppvae.models.likelihoods import LIKELIHOODS
from ppvae.models.nets import ACTIVATION_NAMES
from ppvae.models.priors import PRIORS, parse_prior_args
from ppvae.models.priors.registry import IMPROPER_PRIORS
from ppvae.runs import RUN_FILES, EvalConfig, RunConfig, evaluate_run, fit_run, prepare
from ppvae.sweep import SWEEP_FILES, beta_sweep
from ppvae.termination import Terminated, sigterm_as_interrupt

# What survives an interrupted command, and how to go on.
INTERRUPTED = {
    "fit": "; the last finished epoch is in the run folder's checkpoint.pt: continue with "
    "--resume (an interrupted test evaluation goes on from its last finished batch)",
    "refit-prior": "; nothing was written: DEST is written whole or not at all",
    "evaluate": "; the finished test batches are kept in the run folder: run the same "
    "ppvae evaluate command again to go on from them",
    "sweep": "; finished betas are kept and the interrupted one resumes from its checkpoint: "
    "run the same ppvae sweep command again",
    "compare": "; finished runs are kept and the interrupted one resumes from its checkpoint: "
    "run the same ppvae compare command again",
}

# Flags that may change when a run is resumed; any other flag must match the saved run.
RESUMABLE = {
    *("epochs", "progress", "device", "out", "resume", "overwrite", "num_samples", "command"),
    *("on_nan", "patience"),
}


def _default(kind: type, name: str) -> Any:
    return next(f.default for f in fields(kind) if f.name == name)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _add_fit(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "fit",
        help="fit a VAE by SVI and evaluate it on the test set",
        description="Fit a VAE by stochastic variational inference, then write the run folder "
        f"({', '.join(RUN_FILES)}) and print the test metrics.",
    )
    _add_run_options(p)
    _add_objective(p, sweep=False)
    _add_evaluation(p)
    r = _add_folder(
        p, "run folder", "run folder [default: runs/<data>]", "replace the run in --out"
    )
    r.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )


def _add_folder(p: argparse.ArgumentParser, title: str, out: str, overwrite: str):
    """The output options of a training command: --out, --overwrite, --no-progress."""
    r = p.add_argument_group(title)
    r.add_argument("--out", default=None, help=out)
    r.add_argument("--overwrite", action="store_true", help=overwrite)
    r.add_argument(
        "--no-progress", dest="progress", action="store_false", default=None, help="no progress bar"
    )
    return r


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "sweep",
        help="fit one run per beta and plot the rate-distortion curve",
        description="Fit the same model once per --betas value (each an ordinary run folder "
        "OUT/beta-<b>, reused or resumed when the sweep is run again), then write "
        f"OUT/{SWEEP_FILES[0]} and OUT/{SWEEP_FILES[1]}: rate against distortion and the "
        "importance-sampled test log p(x) against beta.",
    )
    _add_run_options(p)
    _add_objective(p, sweep=True)
    _add_evaluation(p)
    _add_folder(
        p,
        "sweep folder",
        "sweep folder [default: runs/<data>-beta-sweep]",
        "refit every beta from scratch",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument(
        "--data",
        dest="name",
        default=None,
        metavar="NAME",
        help="digits (embedded), moving-digits (embedded sequences), mnist, fashion-mnist, "
        "or a .npy/.npz/.csv file "
        f"[default: {_default(DataConfig, 'name')}]",
    )
    d.add_argument(
        "--data-dir", default=None, help="folder holding the MNIST/Fashion-MNIST IDX files"
    )
    d.add_argument(
        "--download",
        action="store_true",
        default=None,
        help="let torchvision download mnist/fashion-mnist (needs internet)",
    )
    d.add_argument(
        "--binarize",
        choices=BINARIZE,
        default=None,
        help="auto: dynamic for the bernoulli likelihood, none otherwise [default: auto]",
    )
    d.add_argument(
        "--context",
        choices=CONTEXTS,
        default=None,
        help="what the model is given as context y: none, one-hot labels, or array (the "
        "per-example array 'c' of a .npz data file) [default: none; labels for the "
        "conditional prior]",
    )
    d.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the train/validation split [default: 0]",
    )
    d.add_argument(
        "--binarization-seed",
        type=int,
        default=None,
        help="seed of the one-off validation/test binarisation [default: 0]",
    )
    d.add_argument(
        "--val-size",
        type=_positive_int,
        default=None,
        help="validation examples [default: 5000 for (fashion-)mnist, else 10%%]",
    )
    d.add_argument(
        "--exclude-classes",
        type=int,
        nargs="+",
        default=None,
        metavar="LABEL",
        help="leave these labels out of every split (train on the other classes)",
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--likelihood",
        choices=list(LIKELIHOODS),
        default=None,
        help=f"p(x|z) [default: {_default(ModelConfig, 'likelihood')}]",
    )
    m.add_argument(
        "--latent-dim",
        type=_positive_int,
        default=None,
        help=f"size of z [default: {_default(ModelConfig, 'latent_dim')}]",
    )
    m.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="*",
        default=None,
        metavar="WIDTH",
        help="hidden widths; several give a deeper (stacked) network, none a linear one "
        "[default: 400]",
    )
    m.add_argument(
        "--prior",
        default=None,
        metavar="SPEC",
        help="a registered prior (" + ", ".join([*PRIORS, *IMPROPER_PRIORS]) + "), "
        "path/to/file.py:Name or package.module:Name [default: normal]",
    )
    m.add_argument(
        "--prior-arg",
        dest="prior_args",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="an argument of the prior's constructor, e.g. components=50 (repeatable)",
    )
    m.add_argument(
        "--condition-networks",
        action="store_true",
        default=None,
        help="a conditional VAE: the encoder q(z|x,y) and decoder p(x|z,y) also see the "
        "context y (needs --context, or a conditional prior)",
    )
    m.add_argument(
        "--activation",
        choices=list(ACTIVATION_NAMES),
        default=None,
        help="hidden nonlinearity [default: relu]",
    )
    m.add_argument(
        "--levels",
        type=int,
        choices=(1, 2),
        default=None,
        help="stochastic layers: 1, or 2 for a hierarchical VAE (z, then z_lower given z, "
        "as the VampPrior paper's HVAE; --prior is the prior of the top z) [default: 1]",
    )
    _add_family(p)
    t = p.add_argument_group("training")
    t.add_argument(
        "--epochs", type=int, default=None, help=f"[default: {_default(FitConfig, 'epochs')}]"
    )
    t.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help=f"[default: {_default(FitConfig, 'batch_size')}]",
    )
    t.add_argument(
        "--lr", type=_positive_float, default=None, help="Adam learning rate [default: 0.001]"
    )
    t.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default=None,
        help="constant, or cosine from --lr to 0 over all the steps [default: constant]",
    )
    t.add_argument(
        "--lr-warmup",
        type=_non_negative_int,
        default=None,
        help="steps of linear learning-rate warm-up from 0 [default: 0]",
    )
    t.add_argument("--clip-norm", type=_positive_float, default=None, help="clip the gradient norm")
    t.add_argument(
        "--on-nan",
        choices=ON_NAN,
        default=None,
        help="a NaN/inf loss or gradient: stop with a hint, or roll the epoch back and redo it "
        "at half the learning rate [default: stop]",
    )
    t.add_argument(
        "--num-particles",
        type=_positive_int,
        default=None,
        help="samples of z per example in the training ELBO [default: 1]",
    )
    t.add_argument(
        "--elbo",
        choices=ELBOS,
        default=None,
        help="auto: analytic KL where the guide/prior pair has one; iwae: the importance-"
        "weighted bound with --num-particles samples [default: auto]",
    )
    t.add_argument(
        "--patience",
        type=_positive_int,
        default=None,
        help="early stopping: epochs without a better validation ELBO",
    )
    t.add_argument(
        "--init-from",
        default=None,
        metavar="RUN",
        help="start from the weights of this run folder (or checkpoint.pt): a warm start to "
        "train longer or on another objective; optimiser, schedule and history start afresh",
    )
    t.add_argument("--seed", type=int, default=None, help="training seed [default: 0]")
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... [default: cpu]")


def _add_family(p: argparse.ArgumentParser) -> None:
    f = p.add_argument_group("autoencoder family (see docs/autoencoders.md)")
    f.add_argument(
        "--family",
        choices=list(FAMILY),
        default=None,
        help="a preset of the settings below (and of --prior, --hidden, --likelihood); "
        "flags given explicitly override it [default: vae]",
    )
    f.add_argument(
        "--net",
        choices=NETS,
        default=None,
        help="mlp, or conv (stride-2 convolutions for images, then the hidden layers) "
        "[default: mlp]",
    )
    f.add_argument(
        "--channels",
        type=_positive_int,
        nargs="+",
        default=None,
        metavar="C",
        help="conv: output channels of each convolution [default: 32 64]",
    )
    f.add_argument(
        "--guide",
        choices=GUIDES,
        default=None,
        help="normal: q(z|x) Gaussian (a VAE); delta: a point mass (an autoencoder) "
        "[default: normal]",
    )
    f.add_argument(
        "--code",
        choices=CODES,
        default=None,
        help="delta guide: linear codes, or sigmoid codes in (0, 1) [default: linear]",
    )
    f.add_argument(
        "--corruption",
        choices=CORRUPTIONS,
        default=None,
        help="noise on the guide's input only (a denoising model); the model scores clean x "
        "[default: none]",
    )
    f.add_argument(
        "--noise-level",
        type=float,
        default=None,
        help="fraction masked or replaced (mask, salt-pepper) or noise scale (gaussian)",
    )
    f.add_argument(
        "--contractive",
        type=float,
        default=None,
        help="lambda of the contractive factor -lambda ||d code / dx||^2_F [default: 0, off]",
    )
    f.add_argument(
        "--sparsity-target",
        type=float,
        default=None,
        help=f"rho, the target mean of sigmoid codes [default: "
        f"{_default(ModelConfig, 'sparsity_target')}]",
    )
    f.add_argument(
        "--sparsity-weight",
        type=float,
        default=None,
        help="weight of the KL-sparsity factor -w sum_j KL(rho || mean code j) [default: 0, off]",
    )


def _add_evaluation(p: argparse.ArgumentParser) -> None:
    e = p.add_argument_group("evaluation")
    e.add_argument(
        "--num-samples",
        type=_positive_int,
        default=None,
        help="importance samples K per test example "
        f"[default: {_default(EvalConfig, 'num_samples')}]",
    )


def _add_objective(p: argparse.ArgumentParser, sweep: bool) -> None:
    o = p.add_argument_group("objective (beta-VAE, KL annealing, free bits)")
    if sweep:
        o.add_argument(
            "--betas",
            type=float,
            nargs="+",
            required=True,
            help="the KL weights to fit, e.g. 0.25 0.5 1 2 4",
        )
    else:
        o.add_argument(
            "--beta",
            type=float,
            default=None,
            help="weight of the KL term: the latent sites of model and guide are scaled by it "
            "[default: 1, the ELBO]",
        )
    o.add_argument(
        "--anneal",
        choices=ANNEALING,
        default=None,
        help="KL annealing: linear warm-up from 0 to beta, or cyclical warm-ups [default: none]",
    )
    o.add_argument(
        "--anneal-steps",
        type=int,
        default=None,
        help="warm-up length in training steps (the period for cyclical)",
    )
    o.add_argument(
        "--free-bits",
        type=float,
        default=None,
        help="floor in nats under each latent dimension's batch-mean KL [default: 0, off]",
    )


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "evaluate",
        help="recompute a run's test metrics from its checkpoint",
        description="Recompute ELBO, importance-sampled log p(x) (with standard errors), KL, "
        "reconstruction and active units from RUN/checkpoint.pt and update RUN/metrics.json.",
    )
    p.add_argument("run", help="run folder written by `ppvae fit`")
    p.add_argument(
        "--num-samples",
        type=_positive_int,
        default=None,
        help="importance samples K per test example [default: the run's]",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the importance samples")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=True)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "generate",
        aliases=["sample"],
        help="draw a grid of samples from a trained run (one row per class if conditional)",
        description="Draw samples from the model in RUN and save them as a PNG grid: one row "
        "per class for a model conditioned on labels, one row per test context for a context "
        "array, otherwise ROWS rows of unconditional samples.",
    )
    p.add_argument("run", help="run folder written by `ppvae fit`")
    p.add_argument("--per-row", type=_positive_int, default=10, help="samples per row")
    p.add_argument(
        "--rows", type=_positive_int, default=None, help="rows [default: classes, or 10]"
    )
    p.add_argument(
        "--sample",
        action="store_true",
        help="draw x from p(x|z) instead of showing its mean",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the samples")
    p.add_argument("--out", default=None, help="PNG file [default: RUN/generated.png]")


def _add_quadrants(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "quadrants",
        help="quadrant completion: a CVAE against a deterministic network (Sohn et al. 2015)",
        description="Predict the three hidden quadrants of binarised images from the visible "
        "one. Fits a CVAE (conditional prior, q(z|x,c), p(x|z,c)) and a deterministic MLP "
        "baseline, and reports each one's test conditional log-likelihood log p(x|c): "
        "importance-sampled for the CVAE, exact for the baseline. Writes OUT/results.csv, "
        "OUT/results.json and OUT/completions.png.",
    )
    p.add_argument("--data", default="fashion-mnist", help="digits, mnist or fashion-mnist")
    p.add_argument("--data-dir", default=None, help="folder holding the IDX files")
    p.add_argument(
        "--visible",
        type=int,
        choices=range(4),
        default=2,
        help="the given quadrant: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right",
    )
    p.add_argument("--epochs", type=_positive_int, default=20, help="epochs for both models")
    p.add_argument("--latent-dim", type=_positive_int, default=32, help="CVAE latent size")
    p.add_argument(
        "--hidden", type=_positive_int, nargs="+", default=[500, 500], help="hidden widths"
    )
    p.add_argument("--num-samples", type=_positive_int, default=1000, help="importance samples K")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--out", default="runs/quadrants", help="output folder")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=True)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "compare",
        help="compare priors on equal terms: ELBO, log p(x), paired differences, k-hat",
        description="Fit the same model once per --priors entry and seed (identical networks, "
        "data split, budget; each an ordinary run folder OUT/<prior>/seed-<s>, reused when "
        "the command is run again), then print and write (OUT/compare.csv, OUT/compare.md) "
        "the test ELBO, importance-sampled log p(x), the paired difference to the first "
        "prior on the same test images, rate, distortion, active units, the share of "
        "test points whose Pareto k-hat is above 0.7 and, with --gap-points, the "
        "amortisation gap. Also writes each entry's ArviZ InferenceData "
        "(OUT/<prior>/inference_data.nc, one chain per seed), figures (OUT/figures/) and a "
        "self-contained OUT/report.html.",
    )
    p.add_argument(
        "--priors",
        nargs="+",
        required=True,
        metavar="SPEC",
        help="priors to compare, the first being the baseline: registered names, "
        "path/to/file.py:Name or package.module:Name; SPEC@key=value,... makes a variant "
        "(normal@beta=4, vamp@components=100, normal@family=denoising-vae)",
    )
    p.add_argument("--seeds", type=_positive_int, default=1, help="training seeds 0..N-1")
    p.add_argument(
        "--khat-points", type=_positive_int, default=200, help="test points k-hat is computed on"
    )
    p.add_argument(
        "--khat-samples", type=_positive_int, default=1000, help="importance samples for k-hat"
    )
    p.add_argument(
        "--latent-points",
        type=_non_negative_int,
        default=20,
        help="test points whose guide draws are saved in each inference_data.nc",
    )
    p.add_argument(
        "--gap-points",
        type=_non_negative_int,
        default=0,
        help="test points on which to measure the amortisation gap (0: skip it)",
    )
    p.add_argument(
        "--gap-steps", type=_positive_int, default=500, help="Adam steps per-point guide"
    )
    _add_run_options(p)
    _add_objective(p, sweep=False)
    _add_evaluation(p)
    _add_folder(
        p,
        "comparison folder",
        "folder [default: runs/<data>-compare]",
        "refit every run from scratch",
    )


def _add_denoise(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "denoise",
        help="PSNR of trained runs' reconstructions of corrupted test images",
        description="Corrupt the test images (seeded) at each --levels value, reconstruct them "
        "with every RUN's model, and report the PSNR against the clean images, of the "
        "corrupted input and of each reconstruction. Writes OUT/denoising.csv, "
        "OUT/denoising.json and OUT/denoising.png (clean, corrupted, reconstructions).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders of one dataset")
    p.add_argument(
        "--corruption", choices=CORRUPTIONS[1:], default="mask", help="the test corruption"
    )
    p.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.25, 0.5], help="noise levels")
    p.add_argument("--seed", type=int, default=0, help="seed of the corruption")
    p.add_argument("--out", default="runs/denoise", help="output folder")


def _add_probe(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "probe",
        help="linear-probe accuracy of trained runs' codes, against PCA; 2-D embeddings",
        description="Fit a logistic regression on each RUN's codes E_q[z|x] of the training "
        "images and report its test accuracy, beside PCA with as many components; also the "
        "mean squared norm of the encoder Jacobian. Writes OUT/probe.csv, OUT/probe.json and "
        "OUT/embedding-<run>.png (codes in 2-D coloured by label).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders of one labelled dataset")
    p.add_argument("--no-pca", dest="pca", action="store_false", help="leave out the PCA rows")
    p.add_argument(
        "--max-train", type=_positive_int, default=10000, help="training codes the probe uses"
    )
    p.add_argument("--out", default="runs/probe", help="output folder")


def _add_pca(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "pca",
        help="principal angles between a linear autoencoder's subspace and PCA's",
        description="Compare the span of RUN's decoder (its Jacobian at z = 0: the whole map "
        "for a linear autoencoder, --family linear) with the top-k principal components of "
        "the training data, by principal angles in degrees; writes RUN/pca_angles.json.",
    )
    p.add_argument("run", help="run folder written by `ppvae fit`")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line (not the whole usage) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``ppvae`` argument parser (one sub-command per job).

    Example:
        >>> sorted(build_parser()._actions[-1].choices)[:8]
        ['anomaly', 'arithmetic', 'compare', 'denoise', 'embed', 'evaluate', 'export', 'fit']
    """
    parser = _Parser(
        prog="ppvae",
        description="The autoencoder family as amortised variational inference in Pyro.",
    )
    from ppvae import __version__

    parser.add_argument("--version", action="version", version=f"ppvae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_fit(sub)
    _add_evaluate(sub)
    _add_sweep(sub)
    _add_generate(sub)
    _add_quadrants(sub)
    _add_compare(sub)
    _add_denoise(sub)
    _add_probe(sub)
    _add_pca(sub)
    from ppvae.cli_latent import add_anomaly_command, add_latent_commands

    add_latent_commands(sub)
    add_anomaly_command(sub)
    from ppvae.cli_export import add_export_command

    add_export_command(sub)
    from ppvae.cli_paired import add_paired_command

    add_paired_command(sub)
    from ppvae.cli_refit import add_refit_command

    add_refit_command(sub)
    return parser


def _given(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if v is not None}


def _run_config(args: argparse.Namespace) -> RunConfig:
    given = _given(args)
    pick = lambda kind: {f.name: given[f.name] for f in fields(kind) if f.name in given}  # noqa: E731
    for name in ("hidden", "channels"):
        if name in given:
            given[name] = tuple(given[name])
    if "prior_args" in given:
        given["prior_args"] = parse_prior_args(given["prior_args"])
    preset = family_settings(given.get("family", "vae"))
    return RunConfig(
        data=DataConfig(**pick(DataConfig)),
        model=ModelConfig(**{**preset, **pick(ModelConfig)}),
        fit=FitConfig(**pick(FitConfig)),
        eval=EvalConfig(**pick(EvalConfig)),
    )


def _resumed_config(args: argparse.Namespace, out: Path) -> RunConfig:
    from ppvae.io import read_json

    config = RunConfig.from_dict(read_json(out / "config.json"), str(out / "config.json"))
    changed = _changed_settings(args, config)
    if changed:
        flags = ", ".join("--" + name.replace("_", "-") for name in changed)
        raise UserInputError(
            f"{flags} cannot change when resuming; the run keeps its saved settings "
            "(repeat them as they were, or leave them out)"
        )
    for section, name in (
        ("fit", "epochs"),
        ("fit", "progress"),
        ("fit", "device"),
        ("fit", "on_nan"),
        ("fit", "patience"),
        ("eval", "num_samples"),
    ):
        if getattr(args, name, None) is not None:
            setattr(getattr(config, section), name, getattr(args, name))
    return config


def _changed_settings(args: argparse.Namespace, saved: RunConfig) -> list[str]:
    """The options given on the command line (other than those a resume may change) whose
    values differ from the saved run's; repeating the original command is fine."""
    from ppvae.models.priors import canonical_spec

    given = sorted(set(_given(args)) - RESUMABLE)
    if not given:
        return []
    try:
        new = prepare(_run_config(args))[0]  # resolved as the saved one was (auto, paths)
    except UserInputError:
        return given  # not even a valid configuration: it cannot be the saved one
    new.model.prior = canonical_spec(new.model.prior)
    sections = ("data", "model", "fit", "eval")
    changed = []
    for name in given:
        keys = list(family_settings(args.family)) if name == "family" else [name]
        for key in keys:
            section = next((p for p in sections if hasattr(getattr(new, p), key)), None)
            if section is None or _plain(getattr(new, section), key) != _plain(
                getattr(saved, section), key
            ):
                changed.append(name)
                break
    return changed


def _plain(config: Any, key: str) -> Any:
    import json

    return json.loads(json.dumps(getattr(config, key)))


def _cmd_fit(args: argparse.Namespace) -> int:
    out = Path(args.out or f"runs/{Path(args.name or 'digits').stem}")
    if args.resume and (out / "checkpoint.pt").exists() and not (out / "config.json").is_file():
        raise UserInputError(
            f"{out} has a checkpoint but no config.json: it cannot be resumed safely"
        )
    resuming = args.resume and (out / "config.json").is_file()
    config = _resumed_config(args, out) if resuming else _run_config(args)
    print(f"ppvae fit: {config.data.name} -> {out}", flush=True)
    metrics = fit_run(config, out, resume=args.resume, overwrite=args.overwrite)
    print(format_metrics(metrics))
    print("\nfiles written:")
    for name in RUN_FILES:
        if (out / name).exists():
            print(f"  {out / name}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    betas = args.betas
    del args.betas
    out = Path(args.out or f"runs/{Path(args.name or 'digits').stem}-beta-sweep")
    config = _run_config(args)

    def announce(beta: float, folder: Path) -> None:
        print(f"ppvae sweep: beta {beta:g} -> {folder}", flush=True)

    rows = beta_sweep(config, betas, out, overwrite=args.overwrite, on_run=announce)
    print(format_sweep(rows))
    print("\nfiles written:")
    for name in SWEEP_FILES:
        print(f"  {out / name}")
    return 0


def format_sweep(rows: Sequence[dict[str, Any]]) -> str:
    """The table printed after ``sweep``: one line per β.

    Example:
        >>> row = {"beta": 2, "rate": 5.0, "distortion": 30.0, "elbo": -35.0,
        ...        "log_likelihood": -33.0, "log_likelihood_se": 0.2, "active_units": 3}
        >>> print(format_sweep([row]).splitlines()[1])
              2     5.00      30.00     -35.00  -33.00 ± 0.20       3
    """
    lines = [f"{'beta':>7} {'rate':>8} {'distortion':>10} {'ELBO':>10} {'log p(x)':>15} {'AU':>7}"]
    for r in rows:
        ll = f"{r['log_likelihood']:.2f} ± {r['log_likelihood_se']:.2f}"
        lines.append(
            f"{r['beta']:>7g} {r['rate']:>8.2f} {r['distortion']:>10.2f} {r['elbo']:>10.2f} "
            f"{ll:>15} {r['active_units']:>7}"
        )
    return "\n".join(lines)


def _cmd_generate(args: argparse.Namespace) -> int:
    from ppvae.generate import generate_grid

    path = generate_grid(args.run, args.out, args.per_row, args.rows, not args.sample, args.seed)
    print(f"wrote {path}")
    return 0


def _cmd_quadrants(args: argparse.Namespace) -> int:
    from ppvae.tasks.quadrants import quadrant_task

    rows = quadrant_task(
        args.data,
        args.visible,
        args.epochs,
        args.latent_dim,
        tuple(args.hidden),
        args.num_samples,
        args.out,
        args.data_dir,
        args.seed,
        args.progress,
    )
    print(f"{'model':<14}{'test log p(x|c), nats':>24}{'K':>7}{'train s':>9}")
    for r in rows:
        ll = f"{r['test_log_likelihood']:.2f} ± {r['test_log_likelihood_se']:.2f}"
        k = r["num_samples"] or "exact"
        print(f"{r['model']:<14}{ll:>24}{k:>7}{r['train_seconds']:>9.1f}")
    print(f"\nwrote {Path(args.out) / 'results.csv'}, results.json, completions.png")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from ppvae.compare import COMPARE_FILES, compare
    from ppvae.compare_table import format_table
    from ppvae.run_diagnostics import DiagnosticsConfig

    if args.prior is not None:
        raise UserInputError("give the priors to compare with --priors, not --prior")
    priors, seeds = args.priors, range(args.seeds)
    names = ("khat_points", "khat_samples", "latent_points", "gap_points", "gap_steps")
    diagnostics = DiagnosticsConfig(**{name: getattr(args, name) for name in names})
    for name in ("priors", "seeds", *names):
        delattr(args, name)
    out = Path(args.out or f"runs/{Path(args.name or 'digits').stem}-compare")
    config = _run_config(args)

    def announce(prior: str, seed: int, folder: Path) -> None:
        print(f"ppvae compare: {prior}, seed {seed} -> {folder}", flush=True)

    rows = compare(config, priors, out, seeds, diagnostics, args.overwrite, on_run=announce)
    print(format_table(rows))
    print("\nfiles written:")
    for name in COMPARE_FILES:
        print(f"  {out / name}")
    return 0


def _cmd_denoise(args: argparse.Namespace) -> int:
    from ppvae.tasks.applications import denoise_runs
    from ppvae.tasks.denoise import format_denoising

    rows = denoise_runs(args.runs, args.out, args.corruption, args.levels, args.seed)
    print(format_denoising(rows))
    print(f"\nwrote {Path(args.out) / 'denoising.csv'}, denoising.json, denoising.png")
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from ppvae.tasks.applications import probe_runs
    from ppvae.tasks.probe import format_probe

    rows = probe_runs(args.runs, args.out, args.pca, args.max_train)
    print(format_probe(rows))
    print(f"\nwrote {Path(args.out) / 'probe.csv'}, probe.json, embedding-<run>.png")
    return 0


def _cmd_pca(args: argparse.Namespace) -> int:
    from ppvae.tasks.applications import pca_run

    r = pca_run(args.run)
    what = "decoder" if r["linear"] else "decoder Jacobian at z = 0 (not a linear AE)"
    print(f"principal angles (degrees) between the {what} and the top-{r['latent_size']} PCs:")
    print("  " + " ".join(f"{a:.2f}" for a in r["angles"]))
    print(f"variance the gap misses: {100 * r['variance_gap']:.4f} % of the total")
    print(f"\nwrote {Path(args.run) / 'pca_angles.json'}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    metrics = evaluate_run(args.run, args.num_samples, args.seed, args.progress)
    print(format_metrics(metrics))
    print(f"\nupdated {Path(args.run) / 'metrics.json'}")
    return 0


def format_metrics(m: dict[str, Any]) -> str:
    """The result table printed after ``fit`` and ``evaluate``.

    Example:
        >>> print(format_metrics({"test_elbo": -1.0, "test_elbo_se": 0.1}).splitlines()[1])
        test ELBO                             -1.000 ± 0.100
        >>> ae = {"test_elbo": -9.0, "point_estimate": True, "test_log_likelihood": None}
        >>> print(format_metrics(ae).splitlines()[2])
        test log p(x)                 undefined (point mass)
    """
    rows = [("metric (nats per example)", "value")]
    if m.get("family"):
        rows.append(("model", m["family"]))
    point = m.get("point_estimate", False)
    if "test_elbo" in m:
        label = "test objective (not a bound)" if point else "test ELBO"
        rows.append((label, f"{m['test_elbo']:.3f} ± {m.get('test_elbo_se', 0):.3f}"))
    if point:
        rows.append(("test log p(x)", "undefined (point mass)"))
    elif m.get("test_log_likelihood") is not None:
        given = "x|y" if m.get("context", "none") != "none" else "x"
        rows.append(
            (
                f"test log p({given}), K={m['num_samples']}",
                f"{m['test_log_likelihood']:.3f} ± {m['test_log_likelihood_se']:.3f}",
            )
        )
    rate = "-log p(code) (prior penalty)" if point else "KL(q||p) (rate)"
    for key, label in (("kl", rate), ("reconstruction", "-E log p(x|z) (distortion)")):
        if key in m:
            rows.append((label, f"{m[key]:.3f}"))
    if "active_units" in m:
        size = m.get("latent_size", m.get("latent_dim", "?"))
        rows.append(("active units", f"{m['active_units']} / {size}"))
    if m.get("bits_per_dim") is not None:
        rows.append(("bits per dimension", f"{m['bits_per_dim']:.4f}"))
    if "epochs" in m:
        rows.append(("epochs, train seconds", f"{m['epochs']}, {m.get('train_seconds', 0):.1f}"))
    return "\n".join(f"{a:<32}{b:>20}" for a, b in rows)


def _out_of_memory(err: BaseException) -> bool:
    """Whether a RuntimeError is torch failing to allocate (CPU or CUDA).

    Example:
        >>> _out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. "
        ...                             "DefaultCPUAllocator: not enough memory"))
        True
    """
    text = str(err)
    return "DefaultCPUAllocator" in text or "out of memory" in text.lower()


def _one_line(message: str) -> str:
    r"""``message`` with control characters (a newline in a file name or a hand-edited
    key) escaped, so an error is always one line.

    Example:
        >>> _one_line("line one" + chr(10) + "line two")
        'line one\\nline two'
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ppvae`` command; returns the exit code (2 for a user mistake).

    Example:
        >>> main(["evaluate", "/no/such/run", "--no-progress"])
        2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"fit": _cmd_fit, "evaluate": _cmd_evaluate, "sweep": _cmd_sweep}
    commands.update(generate=_cmd_generate, quadrants=_cmd_quadrants, denoise=_cmd_denoise)
    commands.update(probe=_cmd_probe, pca=_cmd_pca, compare=_cmd_compare, sample=_cmd_generate)
    from ppvae.cli_latent import COMMANDS

    commands.update(COMMANDS)
    from ppvae.cli_export import COMMANDS as EXPORT

    commands.update(EXPORT)
    from ppvae.cli_paired import COMMANDS as PAIRED

    commands.update(PAIRED)
    from ppvae.cli_refit import COMMANDS as REFIT

    commands.update(REFIT)
    command = commands[args.command]
    try:
        with sigterm_as_interrupt():
            return command(args)
    except UserInputError as err:
        print(f"ppvae {args.command}: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:  # unreadable input, unwritable run folder, full disk ...
        where = f": {err.filename}" if err.filename else ""
        print(f"ppvae {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"ppvae {args.command}: training diverged: {err}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as err:
        if not isinstance(err, MemoryError) and not _out_of_memory(err):
            raise
        print(
            f"ppvae {args.command}: error: not enough memory for these sizes "
            f"({_one_line(str(err).splitlines()[0][:160]) if str(err) else 'MemoryError'}); "
            "use a smaller --hidden, --latent-dim, --batch-size, --num-particles or "
            "--num-samples",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as err:
        stop = "terminated" if isinstance(err, Terminated) else "interrupted"
        print(
            f"\nppvae {args.command}: {stop}{INTERRUPTED.get(args.command, '')}",
            file=sys.stderr,
        )
        return 143 if isinstance(err, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
