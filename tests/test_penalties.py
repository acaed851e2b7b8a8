"""The ``pyro.factor`` penalties: the contractive one equals −λ‖J‖²_F of an autograd
Jacobian (and its gradient matches), the sparsity one is the KL toward ρ."""

from __future__ import annotations

import math

import pyro
import pytest
import torch

from ppvae.inference.elbo import traces
from ppvae.models import (
    ConvEncoder,
    FrameEncoder,
    MLPEncoder,
    SparsityPenalty,
    build_vae,
    family_config,
    jacobian_sq_norm,
)
from ppvae.models.penalties import _autograd_sq_norm


def _reference(encoder, x, y=None):
    """‖∂code/∂x‖²_F from torch.func's full Jacobian, one data point at a time."""
    rows = []
    for i in range(len(x)):
        yi = None if y is None else y[i : i + 1]
        jac = torch.func.jacrev(lambda v, yi=yi: encoder(v.unsqueeze(0), yi).mean)(x[i])
        rows.append(jac.pow(2).sum())
    return torch.stack(rows)


ENCODERS = [
    ("relu, one layer", lambda: MLPEncoder((7,), 3, (11,), activation="relu")),
    ("tanh, three layers", lambda: MLPEncoder((7,), 3, (9, 8, 6), activation="tanh")),
    ("softplus", lambda: MLPEncoder((7,), 4, (10, 5), activation="softplus")),
    ("elu", lambda: MLPEncoder((7,), 2, (6,), activation="elu")),
    ("gelu", lambda: MLPEncoder((7,), 2, (6,), activation="gelu")),
    ("gated, by autograd", lambda: MLPEncoder((7,), 2, (6, 5), activation="gated")),
    ("sigmoid layers", lambda: MLPEncoder((7,), 2, (6, 6), activation="sigmoid")),
    ("sigmoid code", lambda: MLPEncoder((7,), 3, (8,), guide="delta", code="sigmoid")),
    ("linear encoder", lambda: MLPEncoder((7,), 3, ())),
    ("linear sigmoid code", lambda: MLPEncoder((7,), 3, (), guide="delta", code="sigmoid")),
    ("image input", lambda: MLPEncoder((1, 3, 3), 2, (5,), activation="tanh")),
]


@pytest.mark.parametrize("make", [m for _, m in ENCODERS], ids=[n for n, _ in ENCODERS])
def test_closed_form_jacobian_norm_matches_autograd(make):
    torch.manual_seed(1)
    encoder = make()
    x = torch.randn(6, *encoder.x_shape)
    exact = jacobian_sq_norm(encoder, x)
    assert exact.shape == (6,)
    torch.testing.assert_close(exact, _reference(encoder, x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(exact, _autograd_sq_norm(encoder, x, None), rtol=1e-5, atol=1e-6)


def test_the_context_columns_are_not_part_of_the_jacobian():
    torch.manual_seed(2)
    encoder = MLPEncoder((5,), 3, (8, 4), context_dim=2, activation="tanh")
    x, y = torch.randn(4, 5), torch.randn(4, 2)
    torch.testing.assert_close(jacobian_sq_norm(encoder, x, y), _reference(encoder, x, y))


def test_frame_encoders_sum_the_per_frame_norms():
    torch.manual_seed(3)
    encoder = FrameEncoder((4, 6), 2, (5,), activation="tanh")
    x = torch.randn(3, 4, 6)
    per_frame = _reference(encoder.frame, x.reshape(12, 6)).reshape(3, 4).sum(-1)
    torch.testing.assert_close(jacobian_sq_norm(encoder, x), per_frame)


def test_conv_encoders_use_autograd():
    torch.manual_seed(4)
    encoder = ConvEncoder((1, 8, 8), 3, (6,), channels=(4,), activation="tanh")
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(jacobian_sq_norm(encoder, x), _reference(encoder, x))


def test_the_penalty_gradient_matches_the_autograd_one():
    torch.manual_seed(5)
    encoder = MLPEncoder((6,), 3, (7, 5), activation="tanh")
    x = torch.randn(5, 6)
    grads = []
    for norm in (jacobian_sq_norm, _autograd_sq_norm):
        encoder.zero_grad()
        norm(encoder, x, None).sum().backward()
        # the scale half of the head has no part in the code: no gradient, or a zero one
        grads.append(
            [torch.zeros_like(p) if p.grad is None else p.grad for p in encoder.parameters()]
        )
    for exact, reference in zip(*grads, strict=True):
        torch.testing.assert_close(exact, reference, rtol=1e-4, atol=1e-6)


def test_the_contractive_factor_enters_the_model_and_leaves_evaluation_alone():
    torch.manual_seed(6)
    vae = build_vae(family_config("contractive", x_shape=(6,), latent_dim=2, hidden=(5,)))
    x = torch.rand(4, 6)
    model_trace, _ = traces(vae.model, vae.guide, x)
    site = model_trace.nodes["contractive"]
    factor = site["fn"].log_prob(site["value"])
    expected = -vae.penalties["contractive"].weight * _reference(vae.encoder, x)
    torch.testing.assert_close(factor, expected)
    with vae.penalties_off():
        assert "contractive" not in traces(vae.model, vae.guide, x)[0].nodes


def test_the_sparsity_penalty_is_the_kl_to_the_target_rate():
    rho, beta = 0.1, 2.0
    codes = torch.tensor([[0.2, 0.1], [0.4, 0.1]])  # mean rates 0.3 and 0.1
    value = SparsityPenalty(rho, beta)(None, None, None, codes)
    kl = rho * math.log(rho / 0.3) + (1 - rho) * math.log((1 - rho) / 0.7)
    torch.testing.assert_close(value, torch.full((2,), -beta * kl))


def test_sparsity_pushes_mean_codes_toward_the_target():
    """Minimising the penalty alone moves every unit's mean code to ρ."""
    torch.manual_seed(7)
    logits = torch.randn(64, 5, requires_grad=True)
    pen = SparsityPenalty(0.05, 1.0)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        (-pen(None, None, None, torch.sigmoid(logits)).mean()).backward()
        opt.step()
    rates = torch.sigmoid(logits).mean(0)
    torch.testing.assert_close(rates, torch.full((5,), 0.05), atol=2e-3, rtol=0)


def test_penalties_keep_pyro_validation_happy():
    vae = build_vae(
        family_config("sparse-kl", x_shape=(6,), latent_dim=3, hidden=(4,), likelihood="mse")
    )
    with pyro.validation_enabled(True):
        loss = pyro.infer.Trace_ELBO().differentiable_loss(vae.model, vae.guide, torch.rand(5, 6))
    assert torch.isfinite(loss)


def test_conv_frames_of_sequences_use_autograd():
    torch.manual_seed(8)
    encoder = FrameEncoder((3, 1, 8, 8), 2, (6,), network=ConvEncoder, channels=(4,))
    x = torch.rand(2, 3, 1, 8, 8)
    per_frame = _reference(encoder.frame, x.reshape(6, 1, 8, 8)).reshape(2, 3).sum(-1)
    torch.testing.assert_close(jacobian_sq_norm(encoder, x), per_frame)
