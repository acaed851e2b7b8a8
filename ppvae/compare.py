"""Compare priors (or any model settings) on equal terms: the same networks, data split,
seeds and budget, with paired standard errors and Pareto-k̂ diagnostics of the guide.

Each (prior, seed) pair is an ordinary run folder ``OUT/<prior>/seed-<s>``, reused when
the comparison is run again (see :mod:`ppvae.reuse`), so an interrupted comparison
retrains nothing it finished.  For every run the per-test-point log p(x) is kept
(``pointwise.pt``), and the difference to the baseline (the first prior) is taken on the
same test points: its standard error is that of the per-point differences, far smaller
than the two separate standard errors.  With several seeds the mean over seeds and its
standard error across seeds (which counts training noise too) are reported as well.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ppvae.errors import UserInputError
from ppvae.inference.diagnostics import pareto_khat, unreliable_share
from ppvae.inference.evaluate import importance_log_weights
from ppvae.inference.paired import across_seeds, paired_difference
from ppvae.io import load_torch, save_torch, write_csv, write_text
from ppvae.reuse import check_existing, run_or_reuse
from ppvae.runs import RunConfig, load_run, prepare

COMPARE_FILES = ("compare.csv", "compare.md")


def compare(
    config: RunConfig,
    priors: Sequence[str],
    out: str | Path,
    seeds: Sequence[int] = (0,),
    khat_points: int = 200,
    khat_samples: int = 1000,
    overwrite: bool = False,
    on_run: Callable[[str, int, Path], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit ``config`` once per prior and seed, and tabulate the priors against the first.

    Returns one row per prior: ``prior``, ``elbo``, ``log_likelihood`` and
    ``log_likelihood_se`` (mean over seeds of the test means; the SE is over test points,
    averaged over seeds), ``diff`` and ``diff_se`` (paired difference of log p(x) to the
    baseline on the same test points, mean over seeds), ``diff_seed_se`` (SE across seeds,
    NaN for one seed), ``rate``, ``distortion``, ``active_units``, ``khat_unreliable``
    (share of the first ``khat_points`` test points with k̂ ≥ 0.7, from ``khat_samples``
    importance samples), ``train_seconds`` (mean) and ``seeds``.  Writes
    ``out/compare.csv`` and ``out/compare.md``.

    Example:
        >>> import tempfile
        >>> from ppvae.data import DataConfig
        >>> from ppvae.models import ModelConfig
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.runs import EvalConfig
        >>> config = RunConfig(DataConfig(name="digits"), ModelConfig(latent_dim=2, hidden=(16,)),
        ...                    FitConfig(epochs=1, progress=False), EvalConfig(num_samples=5))
        >>> rows = compare(config, ["normal", "laplace"], tempfile.mkdtemp(), khat_samples=50)
        >>> [r["prior"] for r in rows], rows[0]["diff"]
        (['normal', 'laplace'], 0.0)
    """
    priors, seeds = _check(config, priors, seeds, khat_points, khat_samples)
    out = Path(out)
    runs = {
        (prior, seed): (_variant(config, prior, seed), out / _slug(prior) / f"seed-{seed}")
        for prior in priors
        for seed in seeds
    }
    for prior in priors:  # every prior builds, before anything is fitted
        prepare(runs[prior, seeds[0]][0])
    if not overwrite:
        check_existing(list(runs.values()))
    results = {}
    for (prior, seed), (run_config, folder) in runs.items():
        if on_run is not None:
            on_run(prior, seed, folder)
        metrics = run_or_reuse(run_config, folder, overwrite)
        points = load_torch(folder / "pointwise.pt")["log_likelihood"]
        khat = _khat(folder, khat_points, khat_samples, run_config.eval.seed)
        results[prior, seed] = (metrics, points, khat)
    rows = [_row(prior, priors[0], seeds, results) for prior in priors]
    write_csv(out / "compare.csv", rows)
    write_text(out / "compare.md", format_markdown(rows) + "\n")
    return rows


def _check(config, priors, seeds, khat_points, khat_samples) -> tuple[list[str], list[int]]:
    priors, seeds = list(priors), list(seeds)
    if config.model.guide == "delta" or "flat" in priors:
        raise UserInputError(
            "compare ranks models by log p(x), which a point-mass guide or a flat prior "
            "does not have; compare autoencoders with ppvae denoise or ppvae probe"
        )
    if len(priors) < 2:
        raise UserInputError("give at least two priors to compare")
    if len(set(priors)) != len(priors) or len({_slug(p) for p in priors}) != len(priors):
        raise UserInputError(f"the priors repeat: {priors}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserInputError(f"give distinct seeds, got {seeds}")
    if khat_points < 1 or khat_samples < 20:
        raise UserInputError("k-hat needs at least one test point and 20 importance samples")
    return priors, seeds


def _variant(config: RunConfig, prior: str, seed: int) -> RunConfig:
    return replace(
        config,
        model=replace(config.model, prior=prior),
        fit=replace(config.fit, seed=seed),
    )


def _slug(prior: str) -> str:
    """A folder name for a prior spec (``path/to/my.py:Prior`` → ``my.py-Prior``).

    Example:
        >>> _slug("priors/mine.py:Fancy"), _slug("normal")
        ('mine.py-Fancy', 'normal')
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", prior.replace("\\", "/").split("/")[-1]).strip("-")


def _khat(folder: Path, points: int, samples: int, seed: int) -> torch.Tensor:
    """k̂ of the run's guide on its first ``points`` test points (cached in khat.pt)."""
    path = folder / "khat.pt"
    if path.is_file():
        saved = load_torch(path)
        if saved.get("points") == points and saved.get("samples") == samples:
            return saved["khat"]
    _, data, vae, _ = load_run(folder)
    x, y = data.split("test")
    x, y = x[:points], None if y is None else y[:points]
    lw = importance_log_weights(vae, x, y, num_samples=samples, seed=seed)
    khat = torch.as_tensor(pareto_khat(lw))
    save_torch(path, {"khat": khat, "points": points, "samples": samples})
    return khat


def _row(prior: str, baseline: str, seeds: list[int], results: dict) -> dict[str, Any]:
    per_seed = [results[prior, s] for s in seeds]
    diffs = [paired_difference(results[prior, s][1], results[baseline, s][1]) for s in seeds]
    mean = lambda key: sum(m[key] for m, _, _ in per_seed) / len(seeds)  # noqa: E731
    khat = torch.cat([k for _, _, k in per_seed]).numpy()
    return {
        "prior": prior,
        "elbo": mean("test_elbo"),
        "log_likelihood": mean("test_log_likelihood"),
        "log_likelihood_se": mean("test_log_likelihood_se"),
        "diff": sum(d for d, _ in diffs) / len(seeds),
        "diff_se": math.sqrt(sum(se**2 for _, se in diffs)) / len(seeds),
        "diff_seed_se": across_seeds([d for d, _ in diffs])[1],
        "rate": mean("kl"),
        "distortion": mean("reconstruction"),
        "active_units": mean("active_units"),
        "khat_unreliable": unreliable_share(khat),
        "train_seconds": mean("train_seconds"),
        "num_samples": per_seed[0][0]["num_samples"],
        "seeds": len(seeds),
    }


COLUMNS = (
    ("prior", "prior"),
    ("ELBO", "elbo"),
    ("log p(x) ± SE", "log_likelihood"),
    ("Δ vs baseline ± paired SE", "diff"),
    ("SE across seeds", "diff_seed_se"),
    ("rate (KL)", "rate"),
    ("distortion", "distortion"),
    ("active units", "active_units"),
    ("k̂ ≥ 0.7", "khat_unreliable"),
    ("train s", "train_seconds"),
)


def _cells(r: dict[str, Any]) -> list[str]:
    seed_se = "—" if math.isnan(r["diff_seed_se"]) else f"{r['diff_seed_se']:.2f}"
    return [
        r["prior"],
        f"{r['elbo']:.2f}",
        f"{r['log_likelihood']:.2f} ± {r['log_likelihood_se']:.2f}",
        f"{r['diff']:+.2f} ± {r['diff_se']:.2f}",
        seed_se,
        f"{r['rate']:.2f}",
        f"{r['distortion']:.2f}",
        f"{r['active_units']:.1f}",
        f"{100 * r['khat_unreliable']:.1f} %",
        f"{r['train_seconds']:.0f}",
    ]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as an aligned text table (the first prior is the baseline).

    Example:
        >>> row = {"prior": "normal", "elbo": -30.0, "log_likelihood": -28.0,
        ...        "log_likelihood_se": 0.5, "diff": 0.0, "diff_se": 0.0, "diff_seed_se": math.nan,
        ...        "rate": 5.0, "distortion": 25.0, "active_units": 4, "khat_unreliable": 0.1,
        ...        "train_seconds": 12.0}
        >>> print(format_table([row]).splitlines()[1])
        normal  -30.00  -28.00 ± 0.50  +0.00 ± 0.00  —  5.00  25.00  4.0  10.0 %  12
    """
    table = [[title for title, _ in COLUMNS]] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    )


def format_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as a Markdown table, with a note on units and K.

    Example:
        >>> row = {"prior": "normal", "elbo": -30.0, "log_likelihood": -28.0,
        ...        "log_likelihood_se": 0.5, "diff": 0.0, "diff_se": 0.0, "diff_seed_se": math.nan,
        ...        "rate": 5.0, "distortion": 25.0, "active_units": 4, "khat_unreliable": 0.1,
        ...        "train_seconds": 12.0, "num_samples": 100, "seeds": 1}
        >>> print(format_markdown([row]).splitlines()[2])
        | normal | -30.00 | -28.00 ± 0.50 | +0.00 ± 0.00 | — | 5.00 | 25.00 | 4.0 | 10.0 % | 12 |
    """
    lines = [
        "| " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    if rows:
        r = rows[0]
        lines.append(
            f"\nNats per test example; log p(x) importance-sampled with K = "
            f"{r.get('num_samples', '?')}; {r.get('seeds', 1)} seed(s); baseline: {r['prior']}."
        )
    return "\n".join(lines)
