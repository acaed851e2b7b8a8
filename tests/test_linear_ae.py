"""A linear autoencoder trained with squared error spans the top principal subspace
(Baldi and Hornik, 1989): principal angles to scikit-learn's PCA are close to zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppvae.data import Data
from ppvae.inference import fit
from ppvae.models import build_vae, family_config
from ppvae.tasks.pca_angles import decoder_basis, explained_variance_gap, principal_angles


def _low_rank_data(n=600, d=12, k=3, seed=0):
    """k strong directions (standard deviations 3, 2, 1.5) plus isotropic noise 0.1."""
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(d, k, generator=g))
    scales = torch.tensor([3.0, 2.0, 1.5])
    codes = torch.randn(n, k, generator=g) * scales
    x = codes @ basis.T + 0.1 * torch.randn(n, d, generator=g) + 0.5
    return x


def test_a_linear_autoencoder_recovers_the_pca_subspace():
    x = _low_rank_data()
    data = Data("low-rank", x[:500], x[500:550], x[550:], None, None, None, "none", 0)
    torch.manual_seed(0)
    ae = build_vae(family_config("linear", x_shape=(12,), latent_dim=3))
    fit(ae, data, epochs=150, batch_size=100, lr=1e-2, progress=False)
    angles = principal_angles(decoder_basis(ae), data.x_train)
    # Adam reaches the subspace to a small fraction of a degree; 1° leaves room for the
    # last slow direction, and a random 3-d subspace of R^12 is tens of degrees away
    assert angles.max() < 1.0, angles
    assert explained_variance_gap(decoder_basis(ae), data.x_train) < 1e-3


def test_principal_angles_see_a_wrong_subspace():
    x = _low_rank_data()
    rng = np.random.default_rng(0)
    angles = principal_angles(rng.standard_normal((12, 3)), x)
    assert angles.max() > 20


def test_the_linear_member_has_an_affine_encoder_and_decoder():
    ae = build_vae(family_config("linear", x_shape=(5,), latent_dim=2))
    linear = [m for m in ae.modules() if isinstance(m, torch.nn.Linear)]
    nonlinear = [m for m in ae.encoder.modules() if isinstance(m, (torch.nn.ReLU, torch.nn.Tanh))]
    assert len(linear) == 2 and not nonlinear
    assert ae.likelihood.name == "mse"


@pytest.mark.parametrize("shape", [(5, 2), (12, 13)])
def test_mismatched_bases_are_refused(shape):
    from ppvae.errors import UserInputError

    with pytest.raises(UserInputError):
        principal_angles(np.ones(shape), _low_rank_data())
