"""A linear autoencoder trained with squared error spans the top principal subspace.

With an affine encoder and decoder and the loss ½‖x − W_d(W_e x + b_e) − b_d‖², every
minimum has W_d's column space equal to the span of the top-k principal components of the
data (Baldi and Hornik, 1989) — though not the components themselves: any invertible
mixing of the code is equally good.  So the comparison is by principal angles between the
subspaces, which are all zero when the two agree.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ppvae.errors import UserInputError


def decoder_basis(vae: nn.Module) -> np.ndarray:
    """The columns ∂E[x|z]/∂z (data size × latent size) of the decoder at z = 0: for a
    linear decoder, the basis of the subspace its outputs move in.

    Example:
        >>> from ppvae.models import build_vae, family_config
        >>> ae = build_vae(family_config("linear", x_shape=(5,), latent_dim=2))
        >>> decoder_basis(ae).shape
        (5, 2)
    """
    if getattr(vae, "levels", 1) > 1:
        raise UserInputError(
            "principal angles compare one linear decoder's subspace with PCA; this is a "
            "hierarchical VAE (--levels 2)"
        )
    z0 = torch.zeros(1, *_latent_shape(vae), device=next(vae.parameters()).device)

    def mean(z: torch.Tensor) -> torch.Tensor:
        return vae.likelihood(vae.decoder(z.unsqueeze(0))).mean.flatten()

    with torch.enable_grad():
        jac = torch.func.jacrev(mean)(z0[0])  # (D, *latent_shape)
    return jac.flatten(1).detach().cpu().double().numpy()


def _latent_shape(vae: nn.Module) -> tuple[int, ...]:
    return tuple(getattr(vae.encoder, "latent_shape", None) or vae.prior.latent_shape)


def principal_angles(basis: np.ndarray, x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Principal angles in degrees (ascending) between span(``basis``) and the span of the
    top-k principal components of ``x`` (N, D), k the number of columns of ``basis``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((500, 2)) @ np.array([[3.0, 0, 0], [0, 1.0, 0]])
        >>> principal_angles(np.array([[1.0, 0], [1, 1], [0, 0]]), x).round(6)
        array([0., 0.])
    """
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA

    data = x.flatten(1).double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    data = data.reshape(len(data), -1)
    k = basis.shape[1]
    if basis.shape[0] != data.shape[1] or not 1 <= k <= min(data.shape):
        raise UserInputError(
            f"a basis of shape {basis.shape} cannot be compared with data of shape {data.shape}"
        )
    components = PCA(k).fit(data).components_.T  # (D, k)
    return np.sort(np.degrees(subspace_angles(basis, components)))


def explained_variance_gap(basis: np.ndarray, x: torch.Tensor) -> float:
    """Fraction of the data's variance that the top-k PCA subspace captures and span(basis)
    misses (0 when the linear autoencoder found the PCA subspace).

    Example:
        >>> x = torch.randn(200, 3) * torch.tensor([3.0, 1.0, 0.1])
        >>> top = np.linalg.svd((x - x.mean(0)).double().numpy())[2][:2].T  # the top-2 PCs
        >>> wrong = np.eye(3)[:, 1:]  # misses the first, largest axis
        >>> round(explained_variance_gap(top, x), 6), explained_variance_gap(wrong, x) > 0.5
        (0.0, True)
    """
    data = x.flatten(1).double().numpy()
    data = data - data.mean(0)
    total = float((data**2).sum())
    q, _ = np.linalg.qr(basis)
    captured = float(((data @ q) ** 2).sum())
    s = np.linalg.svd(data, compute_uv=False)
    best = float((s[: basis.shape[1]] ** 2).sum())
    return max(0.0, (best - captured) / total) if math.isfinite(total) and total > 0 else 0.0
