"""What people do with a trained VAE: look at it and move through its latent space.

Each function takes a run folder, writes one PNG into it (or where ``out`` says) and
returns the path: reconstructions, interpolations, latent traversals, latent arithmetic,
the map of a 2-D latent space and a 2-D scatter (PCA or t-SNE) of the codes.  Samples are
:func:`ppvae.generate.generate_grid`.  In the examples ``RUN`` is the folder of a small
digits VAE (``ppvae fit --latent-dim 8``) and ``RUN2D`` one with a 2-d latent.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ppvae import plots
from ppvae.data import binarize
from ppvae.errors import UserInputError
from ppvae.labels import class_index, class_names
from ppvae.models.frames import FrameEncoder
from ppvae.runs import load_run
from ppvae.seeding import seeded
from ppvae.tasks.arithmetic import STRENGTHS, apply_attribute, attribute_vector
from ppvae.tasks.interpolation import interpolate
from ppvae.tasks.latent_map import is_probability_grid, latent_map
from ppvae.tasks.probe import codes
from ppvae.traversals import latent_traversals

EMBEDDINGS = ("pca", "tsne")


def _load(run: str | Path):
    config, data, vae, _ = load_run(run)
    if config.model.condition_networks or data.context != "none":
        raise UserInputError(
            f"{run} is a conditional model (it needs a context y); the latent tools take "
            "unconditional runs (ppvae generate draws from conditional ones)"
        )
    if isinstance(vae.encoder, FrameEncoder):
        raise UserInputError(f"{run} is a sequence model; its pictures are in the run folder")
    return config, data, vae.cpu().eval()


def _target(run: str | Path, out: str | Path | None, name: str) -> Path:
    return Path(out) if out is not None else Path(run) / name


def reconstruct_run(run: str | Path, num: int = 30, out: str | Path | None = None) -> Path:
    """Test images (odd rows) above their reconstructions (even rows): ``reconstruct.png``.

    Example:
        >>> reconstruct_run(RUN, num=10).name
        'reconstruct.png'
    """
    _, data, vae = _load(run)
    x = data.x_test[: _positive("num", num)]
    path = _target(run, out, "reconstruct.png")
    plots.save_reconstructions(x, vae.reconstruct(x), data.x_shape, path)
    return path


def interpolate_run(
    run: str | Path,
    pairs: int = 6,
    steps: int = 10,
    kind: str = "auto",
    seed: int = 0,
    out: str | Path | None = None,
) -> Path:
    """One row per pair of random test images: the first image, the decoded path between
    their codes (its ends are their reconstructions), the second image:
    ``interpolate.png``.

    Example:
        >>> interpolate_run(RUN, pairs=2, steps=4).name
        'interpolate.png'
    """
    _, data, vae = _load(run)
    if not 1 <= pairs <= len(data.x_test) // 2:
        raise UserInputError(
            f"pairs must be between 1 and {len(data.x_test) // 2} (half the test images)"
        )
    with seeded(seed):
        chosen = torch.randperm(len(data.x_test))[: 2 * pairs].reshape(-1, 2)
    rows, used = [], "linear"
    for a, b in chosen.tolist():
        x_a, x_b = data.x_test[a], data.x_test[b]
        path, used = interpolate(vae, x_a, x_b, steps, kind)
        rows += [x_a[None], path, x_b[None]]
    target = _target(run, out, "interpolate.png")
    title = f"{used} interpolation between posterior means (outer columns: the data)"
    plots.save_grid(torch.cat(rows), data.x_shape, target, title, ncol=steps + 2)
    return target


def traverse_run(
    run: str | Path,
    dims: int = 10,
    steps: int = 11,
    span: float = 2.5,
    out: str | Path | None = None,
) -> Path:
    """Latent traversals of the most active coordinates: ``traverse.png``.

    Example:
        >>> traverse_run(RUN, dims=2, steps=5).name
        'traverse.png'
    """
    _, data, vae = _load(run)
    images, chosen = latent_traversals(
        vae, data.x_test[:1000], dims=_positive("dims", dims), steps=steps, span=span
    )
    target = _target(run, out, "traverse.png")
    title = f"rows sweep z[{', '.join(map(str, chosen))}] over ±{span:g} sd (most active first)"
    plots.save_grid(images, data.x_shape, target, title, ncol=steps)
    return target


def arithmetic_run(
    run: str | Path,
    source: str | int,
    target: str | int,
    apply_to: str | int | None = None,
    num: int = 8,
    strengths: Sequence[float] = STRENGTHS,
    out: str | Path | None = None,
) -> tuple[Path, str]:
    """Add s × (mean code of ``target`` − mean code of ``source``), from the training
    images, to the codes of ``num`` test images of class ``apply_to`` (default
    ``source``) and decode: one row per image, its original then each strength
    (s = 0: its reconstruction).  Writes ``arithmetic.png``; returns the path and a
    description such as ``Shirt → Pullover``.

    Example:
        >>> arithmetic_run(RUN, "1", "7", num=2)[1]
        '1 → 7 applied to 1'
    """
    _, data, vae = _load(run)
    if data.y_train is None:
        raise UserInputError(f"{data.name} has no labels: latent arithmetic needs classes")
    n = data.num_classes
    src, dst = class_index(data.name, source, n), class_index(data.name, target, n)
    on = src if apply_to is None else class_index(data.name, apply_to, n)
    pick = lambda split, c: getattr(data, f"x_{split}")[getattr(data, f"y_{split}") == c]  # noqa: E731
    x_train = data.x_train
    if data.binarize == "dynamic":  # grey levels: binarised once, as the encoder saw them
        x_train = binarize(x_train, torch.Generator().manual_seed(data.binarization_seed + 3))
    by_class = lambda c: x_train[data.y_train == c]  # noqa: E731
    if min(len(by_class(src)), len(by_class(dst)), len(pick("test", on))) == 0:
        raise UserInputError("a class has no images in this run's data")
    vector = attribute_vector(vae, by_class(src), by_class(dst))
    x = pick("test", on)[: _positive("num", num)]
    moved = apply_attribute(vae, x, vector, strengths)  # (N, S, *x_shape)
    images = torch.cat([x[:, None], moved], dim=1).reshape(-1, *data.x_shape)
    names = class_names(data.name, n)
    what = f"{names[src]} → {names[dst]} applied to {names[on]}"
    path = _target(run, out, "arithmetic.png")
    title = f"{what}: data, then strengths {', '.join(f'{s:g}' for s in strengths)}"
    plots.save_grid(images, data.x_shape, path, title, ncol=len(strengths) + 1)
    return path, what


def latent_map_run(run: str | Path, n: int = 20, out: str | Path | None = None) -> Path:
    """The decoded map of a 2-D latent space: ``latent_map.png``.

    Example:
        >>> latent_map_run(RUN2D, n=5).name
        'latent_map.png'
    """
    _, data, vae = _load(run)
    images = latent_map(vae, n, data.x_test[:2000])
    path = _target(run, out, "latent_map.png")
    grid = "equal prior probability" if is_probability_grid(vae) else "the test codes' 1-99 %"
    title = f"decoded latent plane (grid: {grid})"
    plots.save_grid(images, data.x_shape, path, title, ncol=n)
    return path


def embed_run(
    run: str | Path,
    method: str = "pca",
    num: int = 2000,
    seed: int = 0,
    out: str | Path | None = None,
) -> Path:
    """The posterior means of ``num`` test images in 2-D (the codes themselves when they
    are 2-D, else PCA or t-SNE), coloured by class: ``embed-<method>.png``.

    Example:
        >>> embed_run(RUN, "pca", num=50).name
        'embed-pca.png'
    """
    if method not in EMBEDDINGS:
        raise UserInputError(f"unknown embedding {method!r}; choose one of {', '.join(EMBEDDINGS)}")
    _, data, vae = _load(run)
    if num < 5:
        raise UserInputError(f"an embedding needs at least 5 test images, got {num}")
    x = data.x_test[:num]
    points = codes(vae, x)
    if points.shape[1] < 2:
        raise UserInputError("the codes are 1-dimensional: there is no plane to show them in")
    if points.shape[1] == 2:
        axes = "the 2-d codes"
    elif method == "pca":
        from sklearn.decomposition import PCA

        points = PCA(2, random_state=seed).fit_transform(points)
        axes = f"PCA of the {codes(vae, x[:1]).shape[1]}-d codes"
    else:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(points) - 1) / 3)
        points = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(points)
        axes = f"t-SNE of the {codes(vae, x[:1]).shape[1]}-d codes"
    labels = data.y_test[: len(x)] if data.y_test is not None else torch.zeros(len(x), dtype=int)
    names = class_names(data.name, data.num_classes or 1)
    path = _target(run, out, f"embed-{method}.png")
    plots.save_scatter(
        np.asarray(points), labels.numpy(), path, f"posterior means: {axes}", names=names
    )
    return path


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise UserInputError(f"{name} must be a positive integer, got {value}")
    return value
