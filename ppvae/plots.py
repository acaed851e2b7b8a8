"""Pictures of fitted models: sample grids, reconstructions, ELBO curves, comparisons (PNG)."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed
import matplotlib.pyplot as plt
import torch

from ppvae.io import write_bytes


def as_images(x: torch.Tensor, x_shape: Sequence[int]) -> torch.Tensor | None:
    """View data points of shape ``x_shape`` as (N, H, W) or (N, H, W, 3) images, if they are.

    Example:
        >>> as_images(torch.zeros(2, 1, 8, 8), (1, 8, 8)).shape
        torch.Size([2, 8, 8])
        >>> as_images(torch.zeros(2, 64), (64,)).shape
        torch.Size([2, 8, 8])
        >>> as_images(torch.zeros(2, 10), (10,)) is None
        True
    """
    x_shape = tuple(x_shape)
    if len(x_shape) == 3 and x_shape[0] in (1, 3):
        return x[:, 0] if x_shape[0] == 1 else x.permute(0, 2, 3, 1)
    if len(x_shape) == 2:
        return x
    side = math.isqrt(math.prod(x_shape))
    if len(x_shape) == 1 and side * side == x_shape[0]:
        return x.reshape(-1, side, side)
    return None


def _grid(images: torch.Tensor, ncol: int, border: int = 1) -> torch.Tensor:
    """Tile (N, H, W[, 3]) images into one picture, ``border`` grey pixels between tiles."""
    n = images.shape[0]
    nrow = math.ceil(n / ncol)
    blank = torch.full((nrow * ncol - n, *images.shape[1:]), 0.5, dtype=images.dtype)
    images = torch.cat([images, blank])
    h, w = images.shape[1] + border, images.shape[2] + border
    canvas = torch.full((nrow * h + border, ncol * w + border, *images.shape[3:]), 0.5)
    for i, image in enumerate(images):
        row, col = divmod(i, ncol)
        canvas[border + row * h : (row + 1) * h, border + col * w : (col + 1) * w] = image
    return canvas


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on ppvae's file-only backend.

    Example:
        >>> fig, axes = subplots(1, 2)
        >>> len(axes)
        2
    """
    return plt.subplots(*args, **kwargs)


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG to ``path`` atomically and close it.

    Example:
        >>> import tempfile, pathlib
        >>> fig, ax = subplots()
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.png"
        >>> save_figure(fig, p); p.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def save_grid(
    x: torch.Tensor,
    x_shape: Sequence[int],
    path: str | os.PathLike,
    title: str = "",
    ncol: int = 10,
) -> None:
    """Save data points as an image grid (or, for non-image data, as a heat map of rows).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "g.png"
        >>> save_grid(torch.rand(12, 1, 8, 8), (1, 8, 8), p, "samples")
        >>> p.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    x = x.detach().float().cpu().clamp(0, 1) if x.min() >= 0 else x.detach().float().cpu()
    images = as_images(x, x_shape)
    if images is None:
        fig, ax = plt.subplots(figsize=(8, 0.3 * min(len(x), 40) + 1))
        ax.imshow(x.reshape(len(x), -1)[:40].numpy(), aspect="auto", cmap="viridis")
        ax.set_xlabel("dimension")
        ax.set_ylabel("example")
    else:
        grid = _grid(images, min(ncol, len(images)))
        fig, ax = plt.subplots(
            figsize=(grid.shape[1] / 28 * 1.2 + 1, grid.shape[0] / 28 * 1.2 + 0.6)
        )
        ax.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    ax.set_title(title)
    save_figure(fig, path)


def save_reconstructions(
    x: torch.Tensor, x_hat: torch.Tensor, x_shape: Sequence[int], path: str | os.PathLike
) -> None:
    """Save originals (odd rows) above their reconstructions (even rows); with more than
    ten data points, a trailing partial row is left out so pairs stay aligned.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.png"
        >>> x = torch.rand(4, 1, 8, 8)
        >>> save_reconstructions(x, x, (1, 8, 8), p); p.exists()
        True
    """
    ncol = min(10, len(x))
    keep = len(x) - len(x) % ncol
    x, x_hat = x[:keep], x_hat[:keep]
    rows = []
    for start in range(0, len(x), ncol):
        rows += [x[start : start + ncol], x_hat[start : start + ncol]]
    save_grid(torch.cat(rows), x_shape, path, "data (odd rows) and reconstructions", ncol)


def save_scatter(
    points,
    labels,
    path: str | os.PathLike,
    title: str,
    max_points: int = 5000,
    names: Sequence[str] | None = None,
) -> None:
    """Save a 2-D scatter of ``points`` (N, 2) coloured by integer ``labels`` (N,), with a
    legend of the classes (their ``names`` where given); at most ``max_points`` points
    (the first ones) are drawn.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.png"
        >>> save_scatter(np.random.rand(20, 2), np.arange(20) % 3, p, "codes"); p.exists()
        True
    """
    points, labels = points[:max_points], labels[:max_points]
    fig, ax = plt.subplots(figsize=(6, 5.5))
    for label in sorted(set(labels.tolist())):
        chosen = labels == label
        name = names[label] if names is not None and label < len(names) else str(label)
        ax.scatter(*points[chosen].T, s=3, alpha=0.6, label=name)
    ax.legend(markerscale=4, fontsize=7, loc="best", title="label")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def save_elbo_curves(history: Sequence[dict], path: str | os.PathLike) -> None:
    """Save the training and validation ELBO per epoch as a line plot (the training
    objective instead of the training ELBO where β, annealing or free bits changed it).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.png"
        >>> save_elbo_curves([{"epoch": 1, "train_elbo": -3, "val_elbo": -4}], p); p.exists()
        True
    """
    epochs = [row["epoch"] for row in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    train = [row["train_elbo"] for row in history]
    if any(math.isnan(v) for v in train):
        train = [row.get("train_objective", math.nan) for row in history]
        ax.plot(epochs, train, label="train objective (β-weighted)")
    else:
        ax.plot(epochs, train, label="train ELBO")
    ax.plot(epochs, [row["val_elbo"] for row in history], label="validation ELBO")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per example")
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def save_rate_distortion(rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Save a β sweep: rate against distortion (each point labelled with its β), and the
    importance-sampled log p(x) (± one standard error) and ELBO against β.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "rd.png"
        >>> rows = [{"beta": b, "rate": 10 / b, "distortion": 20 + b, "elbo": -30 - b,
        ...          "log_likelihood": -28 - b, "log_likelihood_se": 0.2} for b in (0.5, 1, 2)]
        >>> save_rate_distortion(rows, p); p.exists()
        True
    """
    beta = [row["beta"] for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot([r["distortion"] for r in rows], [r["rate"] for r in rows], "o-")
    for row in rows:
        left.annotate(f"β={row['beta']:g}", (row["distortion"], row["rate"]), fontsize=8)
    left.set_xlabel("distortion  −E log p(x|z)  (nats)")
    left.set_ylabel("rate  KL(q(z|x) ‖ p(z))  (nats)")
    left.set_title("rate-distortion (test set)")
    right.errorbar(
        beta,
        [r["log_likelihood"] for r in rows],
        yerr=[r["log_likelihood_se"] for r in rows],
        fmt="o-",
        capsize=3,
        label="log p(x), importance-sampled",
    )
    right.plot(beta, [r["elbo"] for r in rows], "s--", label="ELBO")
    if min(beta) > 0:
        right.set_xscale("log")
    right.set_xlabel("β")
    right.set_ylabel("nats per example")
    right.set_title("test log-likelihood against β")
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    save_figure(fig, path)


def save_curves_by_model(
    curves: dict[str, Sequence[Sequence[float]]], path: str | os.PathLike, ylabel: str
) -> None:
    """Save one line per model and seed of a per-epoch value (the validation ELBO, say):
    each model in its own colour, its seeds as thin lines around their mean.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.png"
        >>> save_curves_by_model({"a": [[-3, -2], [-3.1, -2.2]], "b": [[-4, -1]]}, p, "ELBO")
        >>> p.exists()
        True
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, runs) in enumerate(curves.items()):
        colour = f"C{i % 10}"
        length = min(len(run) for run in runs)
        for run in runs if len(runs) > 1 else ():
            ax.plot(range(1, len(run) + 1), run, color=colour, alpha=0.3, lw=0.8)
        mean = [sum(run[e] for run in runs) / len(runs) for e in range(length)]
        marker = "o" if length < 20 else None  # a short run's points stay visible
        ax.plot(range(1, length + 1), mean, color=colour, lw=1.8, marker=marker, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def save_differences(rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Save each model's paired log p(x) difference to the baseline with ±2 paired
    standard errors (and ±2 across-seed standard errors where there are several seeds).

    Example:
        >>> import tempfile, pathlib, math
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.png"
        >>> rows = [{"prior": "a", "diff": 0.0, "diff_se": 0.0, "diff_seed_se": math.nan},
        ...         {"prior": "b", "diff": 0.5, "diff_se": 0.1, "diff_seed_se": 0.2}]
        >>> save_differences(rows, p); p.exists()
        True
    """
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.5))
    names = [r["prior"] for r in rows][::-1]
    for y, r in enumerate(rows[::-1]):
        seed_se = r.get("diff_seed_se", math.nan)
        if not math.isnan(seed_se):
            ax.errorbar(r["diff"], y, xerr=2 * seed_se, fmt="none", ecolor="C1", lw=6, alpha=0.4)
        ax.errorbar(r["diff"], y, xerr=2 * r["diff_se"], fmt="o", color="C0", capsize=4)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"log p(x) − log p(x) of {rows[0]['prior']}  (nats; ±2 SE)")
    seeds = any(not math.isnan(r.get("diff_seed_se", math.nan)) for r in rows)
    across = " (orange: ±2 SE across seeds)" if seeds else ""
    ax.set_title(f"paired differences on the same test points{across}")
    ax.grid(alpha=0.3, axis="x")
    save_figure(fig, path)


def save_grids_side_by_side(
    grids: dict[str, torch.Tensor], x_shape: Sequence[int], path: str | os.PathLike, ncol: int = 8
) -> None:
    """Save one image grid per model next to each other (samples of each prior, say).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.png"
        >>> grids = {"a": torch.rand(16, 1, 8, 8), "b": torch.rand(16, 1, 8, 8)}
        >>> save_grids_side_by_side(grids, (1, 8, 8), p); p.exists()
        True
    """
    fig, axes = plt.subplots(1, len(grids), figsize=(3.2 * len(grids), 3.6), squeeze=False)
    for ax, (name, x) in zip(axes[0], grids.items(), strict=True):
        images = as_images(x.detach().float().cpu().clamp(0, 1), x_shape)
        if images is None:
            ax.imshow(x.reshape(len(x), -1)[:40].cpu().numpy(), aspect="auto", cmap="viridis")
        else:
            ax.imshow(_grid(images, min(ncol, len(images))).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
        ax.set_title(name)
    save_figure(fig, path)


def save_histograms(
    values: dict[str, Sequence[float]],
    path: str | os.PathLike,
    xlabel: str,
    lines: Sequence[float] = (),
    bins: int = 30,
) -> None:
    """Save overlaid histograms of a per-point value for each model (k̂, or the
    amortisation gap), with vertical reference ``lines``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "h.png"
        >>> save_histograms({"a": [0.1, 0.2, 0.9], "b": [0.3, 0.4]}, p, "k-hat", [0.5, 0.7])
        >>> p.exists()
        True
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    finite = [v for vs in values.values() for v in vs if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    edges = torch.linspace(low, high if high > low else low + 1, bins + 1).tolist()
    for i, (name, vs) in enumerate(values.items()):
        ax.hist(
            [v for v in vs if math.isfinite(v)],
            bins=edges,
            histtype="step",
            lw=1.6,
            color=f"C{i % 10}",
            label=f"{name} (n={len(vs)})",
        )
    for x in lines:
        ax.axvline(x, color="grey", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test points")
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def save_roc_curves(
    curves: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]],
    path: str | os.PathLike,
    title: str = "",
    names: dict[str, str] | None = None,
) -> None:
    """Save ROC curves, one panel per score type (titled by ``names``), one line per
    model; ``curves`` maps a model to ``{score: (normal scores, anomalous scores)}``
    (higher: anomalous).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "roc.png"
        >>> scores = {"nll": (torch.randn(50), torch.randn(20) + 1)}
        >>> save_roc_curves({"a": scores}, p); p.exists()
        True
    """
    kinds = list(next(iter(curves.values())))
    fig, axes = plt.subplots(
        1, len(kinds), figsize=(4.2 * len(kinds), 4.2), squeeze=False, layout="constrained"
    )
    for ax, kind in zip(axes[0], kinds, strict=True):
        for i, (name, scores) in enumerate(curves.items()):
            normal, anomalous = (s.double() for s in scores[kind])
            if not (torch.isfinite(normal).all() and torch.isfinite(anomalous).all()):
                continue  # undefined for this model (no log p(x))
            fpr, tpr = _roc(normal, anomalous)
            ax.plot(fpr, tpr, color=f"C{i % 10}", label=name)
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title((names or {}).get(kind, kind))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)


def _roc(normal: torch.Tensor, anomalous: torch.Tensor) -> tuple[list[float], list[float]]:
    scores = torch.cat([normal, anomalous])
    positive = torch.cat([torch.zeros(len(normal)), torch.ones(len(anomalous))])
    order = torch.argsort(scores, descending=True)
    tp = torch.cumsum(positive[order], 0) / len(anomalous)
    fp = torch.cumsum(1 - positive[order], 0) / len(normal)
    return [0.0, *fp.tolist()], [0.0, *tp.tolist()]


def save_score_histograms(
    curves: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]],
    path: str | os.PathLike,
    title: str = "",
    score: str = "nll",
    names: dict[str, str] | None = None,
) -> None:
    """Save the distribution of one score (−log p(x) by default, else the first defined)
    for normal and anomalous points, one panel per model.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.png"
        >>> scores = {"nll": (torch.randn(50), torch.randn(20) + 1)}
        >>> save_score_histograms({"a": scores, "b": scores}, p); p.exists()
        True
    """
    fig, axes = plt.subplots(
        1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False, layout="constrained"
    )
    for ax, (name, scores) in zip(axes[0], curves.items(), strict=True):
        defined = [
            k for k in (score, *scores) if k in scores and torch.isfinite(scores[k][0]).all()
        ]
        kind = defined[0]  # recon is defined for every model
        normal, anomalous = (s.double().numpy() for s in scores[kind])
        edges = torch.linspace(
            float(min(normal.min(), anomalous.min())), float(max(normal.max(), anomalous.max())), 41
        ).tolist()
        ax.hist(normal, bins=edges, density=True, alpha=0.5, label="normal")
        ax.hist(anomalous, bins=edges, density=True, alpha=0.5, label="held out")
        ax.set_title(f"{name}: {(names or {}).get(kind, kind)}")
        ax.set_xlabel("score (nats)")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)
