"""Quadrant completion (Sohn et al., 2015): predict three quadrants of an image from one.

The structured-output task of the CVAE paper, as in Pyro's CVAE example.  The visible
quadrant is the context c, the three hidden quadrants are the data x, and two models are
compared by their conditional log-likelihood log p(x | c) on the test set:

* a **CVAE**: conditional prior p(z | c), recognition network q(z | x, c), generation network
  p(x | z, c) — ppvae's VAE with ``--prior conditional`` and ``--condition-networks``;
  log p(x | c) is importance-sampled with K samples from q (a stochastic lower bound that
  tightens with K, never the ELBO);
* a **deterministic baseline**: an MLP from c to Bernoulli logits of x, trained by maximum
  likelihood; its log p(x | c) is exact.

Images are binarised once (static binarisation) so that context and target come from the
same binary image.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ppvae import plots
from ppvae.data import Data, DataConfig, load_data
from ppvae.errors import UserInputError
from ppvae.inference.evaluate import mean_and_se, pointwise
from ppvae.inference.svi import fit
from ppvae.io import write_csv, write_json
from ppvae.models.build import ModelConfig, build_vae
from ppvae.models.independent_bernoulli import IndependentBernoulli
from ppvae.models.nets import mlp
from ppvae.seeding import seeded

QUADRANT_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")


def split_quadrants(images: torch.Tensor, visible: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut (N, 1, H, W) images into the hidden quadrants (N, 3·H·W/4) and the visible
    quadrant ``visible`` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right), (N, H·W/4).

    Example:
        >>> images = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> target, context = split_quadrants(images, 0)
        >>> context.tolist(), target.shape
        ([[0.0, 1.0, 4.0, 5.0]], torch.Size([1, 12]))
    """
    if images.dim() != 4 or images.shape[1] != 1 or images.shape[2] % 2 or images.shape[3] % 2:
        raise UserInputError(
            "quadrant completion needs grey images (N, 1, H, W) of even height and width; one "
            f"data point has shape {tuple(images.shape[1:])}"
        )
    if visible not in range(4):
        raise UserInputError(f"the visible quadrant must be 0, 1, 2 or 3, got {visible}")
    parts = _quadrants(images)
    hidden = [parts[q] for q in range(4) if q != visible]
    return torch.cat(hidden, dim=1), parts[visible]


def join_quadrants(
    target: torch.Tensor, context: torch.Tensor, visible: int, side: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`split_quadrants`: (N, 1, H, W) images from target and context.

    Example:
        >>> images = torch.rand(2, 1, 4, 6)
        >>> bool((join_quadrants(*split_quadrants(images, 3), 3, (4, 6)) == images).all())
        True
    """
    h, w = side[0] // 2, side[1] // 2
    hidden = iter(target.split(h * w, dim=1))
    parts = [context if q == visible else next(hidden) for q in range(4)]
    blocks = [p.reshape(-1, 1, h, w) for p in parts]
    top, bottom = torch.cat(blocks[:2], dim=3), torch.cat(blocks[2:], dim=3)
    return torch.cat([top, bottom], dim=2)


def _quadrants(images: torch.Tensor) -> list[torch.Tensor]:
    h, w = images.shape[2] // 2, images.shape[3] // 2
    n = len(images)
    return [
        images[:, :, r * h : (r + 1) * h, c * w : (c + 1) * w].reshape(n, -1)
        for r in (0, 1)
        for c in (0, 1)
    ]


def quadrant_data(data: Data, visible: int) -> Data:
    """The task's data: hidden quadrants as x, the visible quadrant as the context array.

    Example:
        >>> data = load_data(DataConfig(name="digits", binarize="static"))
        >>> q = quadrant_data(data, 0)
        >>> q.x_shape, q.context_dim, q.split("test")[1].shape
        ((48,), 16, torch.Size([359, 16]))
    """
    if data.binarize == "dynamic":
        raise UserInputError("quadrant completion binarises once: use static binarisation")
    parts = {split: split_quadrants(getattr(data, f"x_{split}"), visible) for split in SPLITS}
    return replace(
        data,
        name=f"{data.name}-quadrants",
        context="array",
        **{f"x_{s}": parts[s][0] for s in SPLITS},
        **{f"c_{s}": parts[s][1] for s in SPLITS},
    )


SPLITS = ("train", "val", "test")


class QuadrantBaseline(nn.Module):
    """Deterministic network: visible quadrant → Bernoulli logits of the hidden ones.

    Example:
        >>> net = QuadrantBaseline(16, 48, (32,))
        >>> net.log_likelihood(torch.zeros(3, 48), torch.zeros(3, 16)).shape
        torch.Size([3])
    """

    def __init__(self, context_dim: int, target_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.body = mlp((context_dim, *hidden), "relu")
        self.head = nn.Linear(hidden[-1] if hidden else context_dim, target_dim)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of the hidden quadrants."""
        return self.head(self.body(context))

    def log_likelihood(self, target: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Exact log p(x | c) of every example, shape (N,)."""
        return IndependentBernoulli(self(context), 1).log_prob(target)


def fit_baseline(
    net: QuadrantBaseline, data: Data, epochs: int, batch_size: int = 128, seed: int = 0
) -> list[float]:
    """Train the baseline by maximum likelihood (Adam); returns the validation log p(x|c)
    after each epoch, and leaves the network at its best validation epoch.

    Example:
        >>> q = quadrant_data(load_data(DataConfig(name="digits", binarize="static")), 0)
        >>> curve = fit_baseline(QuadrantBaseline(16, 48, (32,)), q, epochs=2)
        >>> len(curve), curve[-1] < 0
        (2, True)
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    curve, best, best_state = [], -math.inf, None
    for _ in range(epochs):
        net.train()
        for x, c in data.batches("train", batch_size, generator):
            loss = -net.log_likelihood(x, c).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            val = net.log_likelihood(*data.split("val")).mean().item()
        curve.append(val)
        if val > best:
            best, best_state = val, {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return curve


def quadrant_task(
    dataset: str = "fashion-mnist",
    visible: int = 2,
    epochs: int = 20,
    latent_dim: int = 32,
    hidden: tuple[int, ...] = (500, 500),
    num_samples: int = 1000,
    out: str | Path = "runs/quadrants",
    data_dir: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Fit the CVAE and the baseline on one dataset and write ``results.csv``,
    ``results.json`` and ``completions.png`` in ``out``; returns the result rows.

    Each row: ``model``, ``test_log_likelihood`` (log p(x | c), nats per image, over the
    three hidden quadrants) with its standard error, ``num_samples`` (K; 0 when exact),
    ``train_seconds``.

    Example:
        >>> import tempfile
        >>> rows = quadrant_task("digits", epochs=1, hidden=(32,), latent_dim=4,
        ...                      num_samples=10, out=tempfile.mkdtemp(), progress=False)
        >>> [row["model"] for row in rows]
        ['baseline MLP', 'CVAE']
    """
    out = Path(out)
    try:
        images = load_data(DataConfig(name=dataset, data_dir=data_dir, binarize="static"))
    except UserInputError as err:
        if "cannot binarise" not in str(err):
            raise
        raise UserInputError(
            f"quadrant completion needs images (N, 1, H, W) with values in [0, 1]: {err}"
        ) from None
    data = quadrant_data(images, visible)
    baseline_row, baseline = _baseline(data, hidden, epochs, seed)
    cvae_row, cvae = _cvae(data, hidden, latent_dim, epochs, num_samples, seed, progress)
    rows = [baseline_row, cvae_row]
    for row in rows:
        row.update(dataset=dataset, visible=QUADRANT_NAMES[visible], epochs=epochs)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "results.csv", rows)
    write_json(out / "results.json", rows)
    _completions(cvae, baseline, data, visible, images.x_shape, out / "completions.png")
    return rows


def _baseline(data: Data, hidden, epochs: int, seed: int) -> tuple[dict[str, Any], nn.Module]:
    torch.manual_seed(seed)
    net = QuadrantBaseline(data.context_dim, data.x_shape[0], hidden)
    net(torch.zeros(1, data.context_dim))  # warm torch up outside the clock
    start = time.perf_counter()
    fit_baseline(net, data, epochs, seed=seed)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        ll, se = mean_and_se(net.log_likelihood(*data.split("test")))
    return _row("baseline MLP", ll, se, 0, seconds), net


def _cvae(data, hidden, latent_dim, epochs, num_samples, seed, progress) -> tuple[dict, nn.Module]:
    config = ModelConfig(
        x_shape=data.x_shape,
        latent_dim=latent_dim,
        hidden=hidden,
        prior="conditional",
        prior_args={"hidden": str(hidden[0])},
        context_dim=data.context_dim,
        condition_networks=True,
    )
    torch.manual_seed(seed)
    vae = build_vae(config)
    result = fit(vae, data, epochs=epochs, seed=seed, progress=progress)
    points = pointwise(vae, *data.split("test"), num_samples, progress=progress)
    ll, se = mean_and_se(points.log_likelihood)
    return _row("CVAE", ll, se, num_samples, result.seconds), vae


def _row(name: str, ll: float, se: float, k: int, seconds: float) -> dict[str, Any]:
    return {
        "model": name,
        "test_log_likelihood": ll,
        "test_log_likelihood_se": se,
        "num_samples": k,
        "train_seconds": seconds,
    }


@torch.no_grad()
def _completions(cvae, baseline, data: Data, visible: int, x_shape, path: Path) -> None:
    """Rows of: truth, baseline mean, three CVAE samples — for eight test images."""
    x, c = data.split("test")
    x, c = x[:8], c[:8]
    side = tuple(x_shape[1:])
    with seeded(0):
        draws = [cvae.generate(len(c), c, mean=False) for _ in range(3)]
    columns = [x, torch.sigmoid(baseline(c)), *draws]
    tiles = torch.stack([join_quadrants(t, c, visible, side) for t in columns], dim=1)
    title = "each row: truth, baseline mean, three CVAE samples (given one quadrant)"
    plots.save_grid(tiles.reshape(-1, *x_shape), x_shape, path, title, ncol=len(columns))
