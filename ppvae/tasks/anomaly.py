"""Likelihood-based anomaly scores, and how well they separate anomalies: AUROC.

A model fitted to normal data scores a new point x by how unlikely it finds it:

    nll     −log p(x), importance-sampled (the model's own answer)
    nelbo   −ELBO(x), the bound the model was trained on (cheaper, never smaller than nll)
    recon   −log p(x | z = E_q[z|x]), the reconstruction error in nats (for a Gaussian
            likelihood a scaled squared error): what a plain autoencoder would use

Higher is more anomalous.  The AUROC is the probability that a random anomaly scores
above a random normal point (ties count half); its standard error follows Hanley and
McNeil (1982).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from ppvae.errors import UserInputError
from ppvae.inference.evaluate import pointwise, scoring

SCORES = ("nll", "nelbo", "recon")
SCORE_NAMES = {
    "nll": "−log p(x)",
    "nelbo": "−ELBO",
    "recon": "reconstruction error",
}


def anomaly_scores(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    num_samples: int = 1000,
    seed: int = 0,
    batch_size: int = 100,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """The three scores of every data point (N,) each, in nats: ``nll``, ``nelbo``,
    ``recon`` (see the module notes); ``nll`` is NaN for models without a log p(x)
    (point-mass guides or a flat prior), whose ``nelbo`` is −log p(x|c) − log p(c) at
    the code c (penalty factors left out).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> s = anomaly_scores(vae, torch.bernoulli(torch.full((5, 6), 0.5)), num_samples=50)
        >>> sorted(s), bool((s["nelbo"] >= s["nll"] - 0.5).all())
        (['nelbo', 'nll', 'recon'], True)
    """
    points = pointwise(vae, x, y, num_samples, batch_size, seed, progress)
    return {
        "nll": -points.log_likelihood,
        "nelbo": -points.elbo,
        "recon": reconstruction_error(vae, x, y, batch_size),
    }


@torch.no_grad()
def reconstruction_error(
    vae: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 100
) -> torch.Tensor:
    """−log p(x | z = E_q[z|x]) per data point, (N,), in nats.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> reconstruction_error(vae, torch.ones(3, 6)).shape
        torch.Size([3])
    """
    device = next(vae.parameters()).device
    parts = []
    with scoring(vae):
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(device)
            yb = None if y is None else y[i : i + batch_size].to(device)
            parts.append(-vae.reconstruction(xb, yb).log_prob(xb).double().cpu())
    return torch.cat(parts)


def auroc(normal: torch.Tensor, anomalous: torch.Tensor) -> tuple[float, float]:
    """Area under the ROC curve of separating ``anomalous`` scores (higher: anomalous)
    from ``normal`` ones, and its Hanley–McNeil standard error.

    Example:
        >>> auroc(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([3.0, 4.0]))
        (1.0, 0.0)
        >>> auroc(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]))[0]
        0.5
    """
    a = np.asarray(torch.as_tensor(normal).double())
    b = np.asarray(torch.as_tensor(anomalous).double())
    if len(a) == 0 or len(b) == 0:
        raise UserInputError("an AUROC needs normal and anomalous points")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise UserInputError("the scores hold NaN or inf: this score is undefined for the model")
    ranks = rankdata(np.concatenate([a, b]))  # ties get their mean rank
    area = (ranks[len(a) :].sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b))
    return float(area), _hanley_mcneil(area, len(b), len(a))


def _hanley_mcneil(area: float, n_pos: int, n_neg: int) -> float:
    q1, q2 = area / (2 - area), 2 * area**2 / (1 + area)
    var = (area * (1 - area) + (n_pos - 1) * (q1 - area**2) + (n_neg - 1) * (q2 - area**2)) / (
        n_pos * n_neg
    )
    return math.sqrt(max(var, 0.0))
