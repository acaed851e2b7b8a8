"""Codes as features: a linear probe's test accuracy, against PCA of the same size.

Each model's code for x is the mean of q(z | x) (the point mass itself for an
autoencoder).  A multinomial logistic regression is fitted on standardised training codes
and scored on the test codes; PCA with as many components as the code is the linear
baseline every learned code should beat.  ``contraction`` is the mean squared Frobenius
norm of ∂code/∂x on test points: how much the contractive penalty shrank the encoder's
sensitivity, comparable across members of one latent size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ppvae import plots
from ppvae.errors import UserInputError
from ppvae.inference.evaluate import scoring
from ppvae.models.penalties import jacobian_sq_norm


@torch.no_grad()
def codes(vae: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """The guide's mean code E_q[z | x] for every row of ``x``, flattened: (N, latent size).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
        >>> codes(vae, torch.rand(5, 6)).shape
        (5, 3)
    """
    device = next(vae.parameters()).device
    with scoring(vae):
        parts = [
            vae.encode(x[i : i + batch_size].to(device)).mean.flatten(1).cpu()
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(parts).double().numpy()


def pca_codes(x_train: torch.Tensor, x_test: torch.Tensor, k: int, seed: int = 0):
    """Training and test projections on the top-``k`` principal components of ``x_train``.

    Example:
        >>> train, test = pca_codes(torch.rand(30, 6), torch.rand(4, 6), 2)
        >>> train.shape, test.shape
        ((30, 2), (4, 2))
    """
    from sklearn.decomposition import PCA

    if not 1 <= k <= min(x_train.shape[0], math.prod(x_train.shape[1:])):
        raise UserInputError(f"PCA cannot have {k} components for data {tuple(x_train.shape)}")
    pca = PCA(k, random_state=seed).fit(x_train.flatten(1).double().numpy())
    return pca.transform(x_train.flatten(1).double().numpy()), pca.transform(
        x_test.flatten(1).double().numpy()
    )


def probe_accuracy(
    train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray
) -> tuple[float, float]:
    """Test accuracy of a logistic regression fitted on standardised ``train`` features,
    with its binomial standard error sqrt(a(1 − a)/N).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 200)
        >>> f = y[:, None] + 0.1 * rng.standard_normal((200, 2))
        >>> probe_accuracy(f[:100], y[:100], f[100:], y[100:])[0]
        1.0
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_train)) < 2:
        raise UserInputError("a linear probe needs at least two classes in the training labels")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(train, y_train)
    accuracy = float((clf.predict(test) == y_test).mean())
    return accuracy, math.sqrt(accuracy * (1 - accuracy) / len(y_test))


def mean_contraction(vae: nn.Module, x: torch.Tensor, batch_size: int = 500) -> float:
    """Mean over ``x`` of ‖∂code/∂x‖²_F, the quantity the contractive penalty shrinks (the
    top layer's code, for a hierarchical VAE).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> mean_contraction(vae, torch.rand(4, 6)) > 0
        True
    """
    device = next(vae.parameters()).device
    total = 0.0
    for i in range(0, len(x), batch_size):
        with torch.no_grad():
            total += jacobian_sq_norm(vae.encoder, x[i : i + batch_size].to(device)).sum().item()
    return total / len(x)


def probe_table(
    models: dict[str, nn.Module],
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    pca: bool = True,
    max_train: int = 10000,
) -> list[dict[str, Any]]:
    """Linear-probe accuracy of each model's codes, plus PCA of each distinct code size.

    ``train`` and ``test`` are ``(x, labels)``; at most ``max_train`` training points are
    used (the first ones).  Rows: ``model``, ``code_size``, ``accuracy``, ``accuracy_se``,
    ``contraction`` (None for PCA).

    Example:
        >>> from ppvae.models import build_vae, family_config
        >>> ae = build_vae(family_config("ae", x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> x, y = torch.rand(40, 6), torch.arange(40) % 2
        >>> [r["model"] for r in probe_table({"ae": ae}, (x, y), (x, y))]
        ['ae', 'PCA-2']
    """
    (x_train, y_train), (x_test, y_test) = train, test
    if y_train is None or y_test is None:
        raise UserInputError("a linear probe needs labels; these data have none")
    x_train, y_train = x_train[:max_train], y_train[:max_train].numpy()
    y_test = y_test.numpy()
    rows, sizes = [], []
    for name, vae in models.items():
        f_train, f_test = codes(vae, x_train), codes(vae, x_test)
        accuracy, se = probe_accuracy(f_train, y_train, f_test, y_test)
        contraction = mean_contraction(vae, x_test[:2000])
        rows.append(_row(name, f_train.shape[1], accuracy, se, contraction))
        sizes.append(f_train.shape[1])
    for k in sorted(set(sizes)) if pca else ():
        f_train, f_test = pca_codes(x_train, x_test, k)
        rows.append(_row(f"PCA-{k}", k, *probe_accuracy(f_train, y_train, f_test, y_test), None))
    return rows


def _row(model, size, accuracy, se, contraction) -> dict[str, Any]:
    return {
        "model": model,
        "code_size": size,
        "accuracy": accuracy,
        "accuracy_se": se,
        "contraction": contraction,
    }


def format_probe(rows: Sequence[dict[str, Any]]) -> str:
    """The linear-probe table as text.

    Example:
        >>> row = {"model": "PCA-2", "code_size": 2, "accuracy": 0.5, "accuracy_se": 0.01,
        ...        "contraction": None}
        >>> print(format_probe([row]).splitlines()[1])
        PCA-2                   2    50.00 ± 1.00            -
    """
    lines = [f"{'model':<20} {'code':>5} {'accuracy (%)':>16} {'‖J‖²':>12}"]
    for r in rows:
        acc = f"{100 * r['accuracy']:.2f} ± {100 * r['accuracy_se']:.2f}"
        c = "-" if r["contraction"] is None else f"{r['contraction']:.4g}"
        lines.append(f"{r['model']:<20} {r['code_size']:>5} {acc:>16} {c:>12}")
    return "\n".join(lines)


def save_embedding(
    vae: nn.Module, x: torch.Tensor, labels: torch.Tensor, path: str | Path, title: str = ""
) -> str:
    """Scatter the codes of ``x`` in 2-D coloured by label: the code itself when it has two
    dimensions, otherwise its projection on the codes' top two principal axes.  Returns the
    description of the axes.

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "e.png"
        >>> save_embedding(vae, torch.rand(50, 6), torch.arange(50) % 3, path)
        'top two principal axes of the 3-d codes'
    """
    points = codes(vae, x)
    size = points.shape[1]
    if size == 2:
        axes = "the 2-d codes"
    else:
        centred = points - points.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        points = centred @ vt[:2].T
        axes = f"top two principal axes of the {size}-d codes"
    plots.save_scatter(points, labels.numpy(), path, f"{title}: {axes}" if title else axes)
    return axes
