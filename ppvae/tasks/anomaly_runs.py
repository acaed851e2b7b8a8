"""Anomaly detection on run folders: the held-out-class benchmark and scoring new rows.

``held_out_benchmark`` fits each entry (a prior, or a variant as in :mod:`ppvae.variants`,
autoencoders included) on every class but one, then scores the whole test set and reports
the AUROC of separating the held-out class from the normal test images, per score type.
Each entry is an ordinary run folder ``OUT/<entry>`` (reused when run again) with its
scores cached in ``scores.pt``.  ``score_file`` scores a user's own rows with a trained
run and writes them as CSV.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ppvae import plots
from ppvae.data import binarize, load_data
from ppvae.errors import UserInputError
from ppvae.io import load_torch, remove_stale_temporaries, save_torch, write_csv, write_text
from ppvae.labels import class_names
from ppvae.reuse import check_existing, run_or_reuse
from ppvae.runs import RunConfig, load_run, prepare
from ppvae.tasks.anomaly import SCORE_NAMES, SCORES, anomaly_scores, auroc
from ppvae.variants import entry_slug, variant_config

ANOMALY_FILES = ("anomaly.csv", "anomaly.md", "roc.png", "scores.png")


def held_out_benchmark(
    config: RunConfig,
    entries: Sequence[str],
    held_out: int,
    out: str | Path,
    num_samples: int = 1000,
    overwrite: bool = False,
    on_run: Callable[[str, Path], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit every entry on all classes but ``held_out`` (and those ``config.data`` leaves
    out itself) and score the test set of the classes kept, the held-out one included.

    Returns one row per entry and score type: ``entry``, ``score``, ``auroc``,
    ``auroc_se`` (Hanley–McNeil), ``normal_mean`` and ``anomaly_mean`` (mean score of each
    group), ``held_out`` (the class), ``num_normal``, ``num_anomalous``.  Writes
    ``anomaly.csv``, ``anomaly.md`` (AUROC, entry × score), ``roc.png`` and
    ``scores.png`` (score histograms) into ``out``.

    Example:
        >>> import tempfile
        >>> from ppvae.data import DataConfig
        >>> from ppvae.models import ModelConfig
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.runs import EvalConfig
        >>> config = RunConfig(DataConfig(name="digits"), ModelConfig(latent_dim=2, hidden=(16,)),
        ...                    FitConfig(epochs=2, progress=False), EvalConfig(num_samples=5))
        >>> rows = held_out_benchmark(config, ["normal"], 0, tempfile.mkdtemp(), num_samples=20)
        >>> [r["score"] for r in rows]
        ['nll', 'nelbo', 'recon']
    """
    entries = list(entries)
    if not entries or len({entry_slug(e) for e in entries}) != len(entries):
        raise UserInputError(f"give distinct entries to benchmark, got {entries}")
    if num_samples < 1:
        raise UserInputError(f"num_samples must be >= 1, got {num_samples}")
    out = Path(out)
    left_out = tuple(c for c in config.data.exclude_classes if c != held_out)  # the user's
    normal_data = replace(config.data, exclude_classes=(*left_out, held_out))
    runs = {
        e: (
            variant_config(replace(config, data=normal_data), e, config.fit.seed, point_mass=True),
            out / entry_slug(e),
        )
        for e in entries
    }
    full = None
    for entry, (run_config, _) in runs.items():  # every entry is checked before any fit
        resolved, _, _ = prepare(run_config)
        if resolved.data.context != "none" or resolved.model.condition_networks:
            raise UserInputError(
                f"{entry} is a conditional model (it needs a context y, which the scores of "
                "new data do not have); the anomaly benchmark takes unconditional models"
            )
        full = full or load_data(replace(resolved.data, exclude_classes=left_out))
    x, labels = full.x_test, full.y_test
    if x is None or labels is None or not (labels == held_out).any():
        raise UserInputError(f"the test set has no class {held_out} to hold out")
    if not overwrite:
        check_existing(list(runs.values()))
    remove_stale_temporaries(out)
    rows, curves = [], {}
    for entry, (run_config, folder) in runs.items():
        if on_run is not None:
            on_run(entry, folder)
        run_or_reuse(run_config, folder, overwrite)
        scores = _cached_scores(folder, x, num_samples, config.fit.progress)
        anomalous = labels == held_out
        curves[entry] = {k: (v[~anomalous], v[anomalous]) for k, v in scores.items()}
        for score in SCORES:
            rows.append(_row(entry, score, *curves[entry][score], held_out))
    names = class_names(full.name, full.num_classes or held_out + 1)
    title = f"{full.name}: class {held_out} ({names[held_out]}) held out"
    write_csv(out / "anomaly.csv", rows)
    write_text(out / "anomaly.md", format_anomaly(rows, title) + "\n")
    plots.save_roc_curves(curves, out / "roc.png", title, names=SCORE_NAMES)
    plots.save_score_histograms(curves, out / "scores.png", title, names=SCORE_NAMES)
    return rows


def _row(entry: str, score: str, normal, anomalous, held_out: int) -> dict[str, Any]:
    defined = bool(torch.isfinite(normal).all() and torch.isfinite(anomalous).all())
    area, se = auroc(normal, anomalous) if defined else (math.nan, math.nan)
    return {
        "entry": entry,
        "score": score,
        "auroc": area,
        "auroc_se": se,
        "normal_mean": normal.mean().item(),
        "anomaly_mean": anomalous.mean().item(),
        "held_out": held_out,
        "num_normal": len(normal),
        "num_anomalous": len(anomalous),
    }


def _cached_scores(
    folder: Path, x: torch.Tensor, num_samples: int, progress: bool
) -> dict[str, torch.Tensor]:
    """The run's scores of ``x``, from ``scores.pt`` if made with these weights, K and x."""
    digest = hashlib.sha256((folder / "checkpoint.pt").read_bytes()).hexdigest()
    data = hashlib.sha256(x.numpy().tobytes()).hexdigest()
    key = {"checkpoint": digest, "num_samples": num_samples, "data": data}
    path = folder / "scores.pt"
    if path.is_file():
        saved = load_torch(path)
        if saved.get("key") == key:
            return saved["scores"]
    config, _, vae, _ = load_run(folder)
    scores = anomaly_scores(
        vae, x, num_samples=num_samples, seed=config.eval.seed, progress=progress
    )
    save_torch(path, {"key": key, "scores": scores})
    return scores


def format_anomaly(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """AUROC ± SE as a Markdown table, one row per entry, one column per score type.

    Example:
        >>> rows = [{"entry": "normal", "score": s, "auroc": 0.9, "auroc_se": 0.01}
        ...         for s in ("nll", "nelbo", "recon")]
        >>> print(format_anomaly(rows).splitlines()[2])
        | normal | 0.900 ± 0.010 | 0.900 ± 0.010 | 0.900 ± 0.010 |
    """
    entries = list(dict.fromkeys(r["entry"] for r in rows))
    cell = {(r["entry"], r["score"]): r for r in rows}
    lines = [
        "| entry | " + " | ".join(f"AUROC, {SCORE_NAMES[s]}" for s in SCORES) + " |",
        "|" + "---|" * (len(SCORES) + 1),
    ]
    for e in entries:
        values = []
        for s in SCORES:
            r = cell.get((e, s))
            ok = r is not None and not math.isnan(r["auroc"])
            values.append(f"{r['auroc']:.3f} ± {r['auroc_se']:.3f}" if ok else "—")
        lines.append(f"| {e} | " + " | ".join(values) + " |")
    if title:
        lines.append(f"\n{title}; AUROC of separating it from the other classes' test images.")
    return "\n".join(lines)


def score_file(
    run: str | Path,
    path: str | Path,
    out: str | Path | None = None,
    num_samples: int = 1000,
    progress: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Score the rows of a ``.npy``/``.npz``/``.csv`` file with the model in ``run`` and
    write ``row, nll, nelbo, recon`` as CSV (default: ``run/scores.csv``).

    The rows get the run's preprocessing: grey levels are binarised with the run's
    ``binarization_seed`` when the run's data were binarised.  If the file carries labels
    ``y`` (a ``.npz``) of 0 (normal) and 1 (anomalous), the AUROC of each score is
    returned too.

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.models import ModelConfig
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.runs import EvalConfig, fit_run
        >>> from ppvae.data import DataConfig
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> rows = np.random.default_rng(0).random((30, 4)).astype("float32")
        >>> np.save(folder / "train.npy", rows)
        >>> config = RunConfig(DataConfig(name=str(folder / "train.npy")),
        ...                    ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"),
        ...                    FitConfig(epochs=1, progress=False), EvalConfig(5))
        >>> _ = fit_run(config, folder / "run")
        >>> np.save(folder / "new.npy", rows[:3])
        >>> written, summary = score_file(folder / "run", folder / "new.npy", num_samples=20)
        >>> written.name, summary["rows"]
        ('scores.csv', 3)
    """
    from ppvae.arrays import read_array_file

    config, data, vae, _ = load_run(run)
    if data.context != "none" or config.model.condition_networks:
        raise UserInputError(f"{run} is a conditional model; score_file takes unconditional runs")
    x, y = read_array_file(path, min_examples=1)
    x = torch.as_tensor(x)
    if tuple(x.shape[1:]) != data.x_shape:
        if math.prod(x.shape[1:]) != math.prod(data.x_shape):
            raise UserInputError(
                f"{path} holds rows of shape {tuple(x.shape[1:])}; the model in {run} "
                f"takes {data.x_shape}"
            )
        x = x.reshape(len(x), *data.x_shape)
    if data.binarize != "none":
        if (x < 0).any() or (x > 1).any():
            raise UserInputError(f"{path}: the run binarises its data; values must be in [0, 1]")
        x = binarize(x, torch.Generator().manual_seed(data.binarization_seed))
    vae.likelihood.check_data(x)
    scores = anomaly_scores(
        vae, x, num_samples=num_samples, seed=config.eval.seed, progress=progress
    )
    target = Path(out) if out is not None else Path(run) / "scores.csv"
    table = [{"row": i, **{k: v[i].item() for k, v in scores.items()}} for i in range(len(x))]
    write_csv(target, table)
    summary: dict[str, Any] = {"rows": len(x), "file": str(target)}
    if y is not None and set(np.unique(y)) <= {0, 1} and len(np.unique(y)) == 2:
        labels = torch.as_tensor(y) == 1
        for k, v in scores.items():
            if torch.isfinite(v).all():
                summary[f"auroc_{k}"] = auroc(v[~labels], v[labels])
    return target, summary
