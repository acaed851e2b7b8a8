"""Compare priors (or any model settings) on equal terms: the same networks, data split,
seeds and budget, with paired standard errors and Pareto-k̂ diagnostics of the guide.

Each (entry, seed) pair is an ordinary run folder ``OUT/<entry>/seed-<s>``, reused when
the comparison is run again (see :mod:`ppvae.reuse`), so an interrupted comparison
retrains nothing it finished.  For every run the per-test-point log p(x) is kept
(``pointwise.pt``), and the difference to the baseline (the first entry) is taken on the
same test points: its standard error is that of the per-point differences, far smaller
than the two separate standard errors.  With several seeds the mean over seeds and its
standard error across seeds (which counts training noise too) are reported as well.

An entry is a prior spec, optionally with settings (``normal@beta=4``; see
:mod:`ppvae.variants`).  Besides the table (``compare.csv``, ``compare.md``) a comparison
writes each entry's results as ArviZ InferenceData (``OUT/<entry>/inference_data.nc``,
one chain per seed), figures (``OUT/figures/``) and a self-contained ``report.html``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ppvae.compare_figures import write_figures, write_inference_data
from ppvae.compare_table import format_markdown
from ppvae.errors import UserInputError
from ppvae.inference.diagnostics import unreliable_share
from ppvae.inference.evaluate import mean_and_se
from ppvae.inference.paired import across_seeds, paired_difference
from ppvae.io import load_torch, remove_stale_temporaries, write_csv, write_text
from ppvae.models.priors import is_improper
from ppvae.report import write_report
from ppvae.reuse import check_existing, run_or_reuse
from ppvae.run_diagnostics import DiagnosticsConfig, run_diagnostics
from ppvae.runs import RunConfig, prepare
from ppvae.variants import entry_slug, variant_config

COMPARE_FILES = ("compare.csv", "compare.md", "report.html")


def compare(
    config: RunConfig,
    priors: Sequence[str],
    out: str | Path,
    seeds: Sequence[int] = (0,),
    diagnostics: DiagnosticsConfig | None = None,
    overwrite: bool = False,
    on_run: Callable[[str, int, Path], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit ``config`` once per entry of ``priors`` and seed, and tabulate the entries
    against the first.

    Arguments:
        config: every setting the entries share (data, networks, budget, evaluation).
        priors: entries, the baseline first: prior specs, optionally with settings
            (``"normal@beta=4"``, see :mod:`ppvae.variants`).
        out: the comparison folder.
        seeds: training seeds; every entry is trained once per seed.
        diagnostics: k̂, latent draws, amortisation gap and report samples
            (:class:`~ppvae.run_diagnostics.DiagnosticsConfig`).
        overwrite: refit every run instead of reusing finished ones.
        on_run: called with ``(entry, seed, folder)`` before each run is fitted or read.

    Returns:
        One row per entry: ``prior`` (the entry), ``elbo``, ``log_likelihood`` and
        ``log_likelihood_se`` (mean over seeds of the test means; the SE is that of the
        per-image means over seeds, since every seed scores the same images), ``diff``
        and ``diff_se`` (paired difference of log p(x) to the baseline on the same test
        images, mean over seeds; SE likewise of the per-image mean differences),
        ``diff_seed_se`` (SE across seeds, which counts training noise; NaN for one
        seed), ``rate``, ``distortion``, ``active_units``, ``khat_unreliable`` (share of
        the k̂ points with k̂ > 0.7, pooled over seeds), ``khat_median``, ``gap`` and
        ``gap_se`` (amortisation gap on the gap points, NaN when not computed),
        ``approx_gap`` (log p(x) with K = ``gap_samples`` − the optimised ELBO),
        ``train_seconds`` (mean), ``num_samples``, ``seeds``.

    Example:
        >>> import tempfile
        >>> from ppvae.data import DataConfig
        >>> from ppvae.models import ModelConfig
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.runs import EvalConfig
        >>> config = RunConfig(DataConfig(name="digits"), ModelConfig(latent_dim=2, hidden=(16,)),
        ...                    FitConfig(epochs=1, progress=False), EvalConfig(num_samples=5))
        >>> small = DiagnosticsConfig(khat_points=10, khat_samples=50, latent_points=2, samples=4)
        >>> rows = compare(config, ["normal", "laplace"], tempfile.mkdtemp(), diagnostics=small)
        >>> [r["prior"] for r in rows], rows[0]["diff"]
        (['normal', 'laplace'], 0.0)
    """
    diagnostics = diagnostics or DiagnosticsConfig()
    priors, seeds = _check(priors, seeds)
    out = Path(out)
    runs = {  # seed by seed: an interrupted comparison holds whole seeds first
        (prior, seed): (
            variant_config(config, prior, seed),
            out / entry_slug(prior) / f"seed-{seed}",
        )
        for seed in seeds
        for prior in priors
    }
    resolved = {}
    for prior in priors:  # every entry has a log p(x) and builds, before anything is fitted
        _check_likelihood(prior, runs[prior, seeds[0]][0])
        resolved[prior], data, vae = prepare(runs[prior, seeds[0]][0])
        _check_likelihood(prior, resolved[prior], vae)
    if not overwrite:
        check_existing(list(runs.values()))
    remove_stale_temporaries(out)
    results = {}
    for (prior, seed), (run_config, folder) in runs.items():
        if on_run is not None:
            on_run(prior, seed, folder)
        metrics = run_or_reuse(run_config, folder, overwrite)
        points = load_torch(folder / "pointwise.pt")  # per test point: log p(x), ELBO
        extra = run_diagnostics(folder, diagnostics, run_config.fit.progress)
        results[prior, seed] = (metrics, points, extra)
    rows = [_row(prior, priors[0], seeds, results, diagnostics) for prior in priors]
    write_csv(out / "compare.csv", rows)
    write_text(out / "compare.md", format_markdown(rows) + "\n")
    x_test = data.split("test")[0]
    for prior in priors:
        write_inference_data(
            out / entry_slug(prior) / "inference_data.nc", prior, seeds, results, x_test
        )
    figures = write_figures(out / "figures", rows, priors, seeds, results, data.x_shape)
    write_report(out / "report.html", rows, figures, _settings(resolved[priors[0]], seeds))
    return rows


def _check(priors: Sequence[str], seeds: Sequence[int]) -> tuple[list[str], list[int]]:
    priors, seeds = list(priors), list(seeds)
    if len(priors) < 2:
        raise UserInputError("give at least two priors to compare")
    if len(set(priors)) != len(priors) or len({entry_slug(p) for p in priors}) != len(priors):
        raise UserInputError(f"the priors repeat: {priors}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserInputError(f"give distinct seeds, got {seeds}")
    return priors, seeds


def _check_likelihood(entry: str, config: RunConfig, vae: Any = None) -> None:
    improper = vae is not None and is_improper(vae.prior)  # a user's prior may be improper
    if config.model.guide == "delta" or config.model.prior == "flat" or improper:
        raise UserInputError(
            f"{entry}: compare ranks models by log p(x), which a point-mass guide or a flat "
            "prior does not have; compare autoencoders with ppvae denoise or ppvae probe"
        )


def _row(
    prior: str, baseline: str, seeds: list[int], results: dict, diagnostics: DiagnosticsConfig
) -> dict[str, Any]:
    per_seed = [results[prior, s] for s in seeds]
    ll = lambda entry, seed: results[entry, seed][1]["log_likelihood"].double()  # noqa: E731
    diffs = [paired_difference(ll(prior, s), ll(baseline, s)) for s in seeds]
    # Every seed scores the same test images, so the errors of the seeds' means are
    # correlated through the images: the SE is that of the per-image means over seeds.
    _, ll_se = mean_and_se(torch.stack([ll(prior, s) for s in seeds]).mean(0))
    per_image = torch.stack([ll(prior, s) - ll(baseline, s) for s in seeds]).mean(0)
    mean = lambda key: sum(m[key] for m, _, _ in per_seed) / len(seeds)  # noqa: E731
    khat = torch.cat([d["importance"]["khat"] for _, _, d in per_seed]).numpy()
    return {
        "prior": prior,
        "elbo": mean("test_elbo"),
        "log_likelihood": mean("test_log_likelihood"),
        "log_likelihood_se": ll_se,
        "diff": sum(d for d, _ in diffs) / len(seeds),
        "diff_se": mean_and_se(per_image)[1],
        "diff_seed_se": across_seeds([d for d, _ in diffs])[1],
        "rate": mean("kl"),
        "distortion": mean("reconstruction"),
        "active_units": mean("active_units"),
        "khat_unreliable": unreliable_share(khat),
        "khat_median": float(torch.as_tensor(khat).median()),
        **_gaps([d["gap"] for _, _, d in per_seed]),
        "gap_points": diagnostics.gap_points,
        "train_seconds": mean("train_seconds"),
        "num_samples": per_seed[0][0]["num_samples"],
        "seeds": len(seeds),
    }


def _gaps(gaps: list[dict[str, torch.Tensor] | None]) -> dict[str, float]:
    """Mean amortisation gap over seeds and its SE over the (shared) gap points, and the
    approximation gap log p(x) − optimised ELBO; NaN when no gap was computed."""
    if any(g is None for g in gaps):
        return {"gap": math.nan, "gap_se": math.nan, "approx_gap": math.nan}
    gap = torch.stack([g["optimized"] - g["amortized"] for g in gaps]).double().mean(0)
    approx = torch.stack([g["log_likelihood"] - g["optimized"] for g in gaps]).double().mean()
    mean, se = mean_and_se(gap)
    return {"gap": mean, "gap_se": se, "approx_gap": approx.item()}


def _settings(config: RunConfig, seeds: list[int]) -> dict[str, Any]:
    """The shared settings the report lists."""
    m, f = config.model, config.fit
    return {
        "data": f"{config.data.name} (binarisation: {config.data.binarize})",
        "network": f"{m.net}, hidden {list(m.hidden)}, latent {m.latent_dim}"
        + (f" × {m.levels} levels" if m.levels > 1 else "")
        + f", {m.likelihood}",
        "training": f"{f.epochs} epochs, batch {f.batch_size}, lr {f.lr:g}",
        "seeds": ", ".join(map(str, seeds)),
        "importance samples K": config.eval.num_samples,
    }
