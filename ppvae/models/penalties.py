"""Regularisers written as ``pyro.factor`` sites: log-factors added to the model's joint.

A penalty is a module called as ``penalty(vae, x, y, z)`` that returns a log-factor per
data point, shape (..., B); :class:`~ppvae.models.VAE` adds it inside the ``"data"`` plate
as ``pyro.factor(name, value)``, so Pyro's ELBO maximises
``E_q[log p(x, z) − log q(z|x)] + Σ factors`` with no hand-written loss.  Evaluation
scores the model without them (like β, they shape training, not the model).

    contractive   −λ ‖∂code/∂x‖²_F               (Rifai et al., 2011)
    sparsity      −β Σ_j KL(ρ ‖ ρ̂_j) per point, ρ̂_j the batch-mean code j (Ng, 2011)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.models.frames import FrameEncoder
from ppvae.models.nets import MLPEncoder, _with_context


def activation_derivative(act: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """The derivative of the elementwise nonlinearity ``act`` at pre-activations ``a``.

    Example:
        >>> a = torch.tensor([-1.0, 0.5])
        >>> activation_derivative(nn.ReLU(), a), activation_derivative(nn.Sigmoid(), torch.zeros(1))
        (tensor([0., 1.]), tensor([0.2500]))
    """
    if isinstance(act, nn.ReLU):
        return (a > 0).to(a.dtype)
    if isinstance(act, nn.Tanh):
        return 1 - torch.tanh(a) ** 2
    if isinstance(act, nn.Sigmoid):
        s = torch.sigmoid(a)
        return s * (1 - s)
    if isinstance(act, nn.Softplus) and act.beta == 1:
        return torch.sigmoid(a)
    if isinstance(act, nn.ELU) and act.alpha == 1:
        return torch.where(a > 0, torch.ones_like(a), torch.exp(a))
    if isinstance(act, nn.GELU) and act.approximate == "none":
        normal = torch.distributions.Normal(0.0, 1.0)
        return normal.cdf(a) + a * normal.log_prob(a).exp()
    raise NotImplementedError(f"no closed-form derivative for {act}")


def _mlp_sq_norm(enc: MLPEncoder, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """‖J‖²_F for an MLP encoder in closed form: J = D_out W_out D_L W_L ⋯ D_1 W_1.

    The product is built from the code end down to the first hidden layer, whose
    x-columns enter only through their Gram matrix G = W_1 W_1ᵀ, so no (Dz × Dx) Jacobian
    is formed; with one hidden layer and a linear code it is a quadratic form dᵀ(S∘G)d.
    """
    h = x.flatten(start_dim=x.dim() - len(enc.x_shape))  # (..., Dx)
    dx = h.shape[-1]
    h = _with_context(h, y, enc.context_dim)
    linears = [m for m in enc.body if isinstance(m, nn.Linear)]
    acts = [m for m in enc.body if not isinstance(m, nn.Linear)]
    derivs = []
    for linear, act in zip(linears, acts, strict=True):
        a = linear(h)
        derivs.append(activation_derivative(act, a))  # (..., H_k)
        h = act(a)
    w_out, d_out = enc.head.code_weight, enc.head.code_derivative(h)  # (Dz, H_L), (..., Dz)
    if not linears:  # a linear encoder: J = D_out W_out[:, :Dx]
        rows = w_out[:, :dx].pow(2).sum(-1)  # (Dz,)
        rows = rows if d_out is None else d_out.pow(2) * rows
        return rows.sum(-1).expand(h.shape[:-1])
    r = w_out if d_out is None else d_out.unsqueeze(-1) * w_out  # (..., Dz, H_L)
    for k in range(len(linears) - 1, 0, -1):  # layers L, ..., 2
        r = (r * derivs[k].unsqueeze(-2)) @ linears[k].weight  # (..., Dz, H_{k-1})
    first = linears[0].weight[:, :dx]
    gram = first @ first.T  # (H_1, H_1)
    d1 = derivs[0]
    if r.dim() == 2:  # shared across the batch
        return torch.einsum("...i,ij,...j->...", d1, (r.T @ r) * gram, d1)
    p = r * d1.unsqueeze(-2)  # (..., Dz, H_1)
    return ((p @ gram) * p).sum((-2, -1))


def _autograd_sq_norm(encoder: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """‖J‖²_F by reverse mode, one vectorised backward pass per code unit (any encoder)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        code = encoder(x, y).mean
        code = code.reshape(x.shape[0], -1)  # (B, Dz)
        eye = torch.eye(code.shape[1], dtype=code.dtype, device=code.device)
        outputs = eye.unsqueeze(1).expand(-1, code.shape[0], -1)  # (Dz, B, Dz)
        (rows,) = torch.autograd.grad(
            code, x, outputs, create_graph=True, is_grads_batched=True
        )  # (Dz, B, *x_shape)
    return rows.pow(2).flatten(2).sum(-1).sum(0)


def jacobian_sq_norm(encoder: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None):
    """Squared Frobenius norm of the code's Jacobian ∂E_q[z]/∂x, per data point: (B,).

    Closed form for MLP encoders (and per-frame MLP encoders of sequences, whose Jacobian
    is block diagonal); reverse-mode autodiff for any other encoder (convolutional ones).

    Example:
        >>> enc = MLPEncoder((5,), 3, hidden=(8,), activation="tanh")
        >>> x = torch.randn(4, 5)
        >>> exact = torch.func.vmap(torch.func.jacrev(lambda v: enc(v).mean))(x)
        >>> torch.allclose(jacobian_sq_norm(enc, x), exact.pow(2).sum((1, 2)), atol=1e-5)
        True
    """
    try:
        if isinstance(encoder, MLPEncoder):
            return _mlp_sq_norm(encoder, x, y)
        if isinstance(encoder, FrameEncoder) and isinstance(encoder.frame, MLPEncoder):
            frame_y = None if y is None else y.unsqueeze(-2)
            return _mlp_sq_norm(encoder.frame, x, frame_y).sum(-1)
    except NotImplementedError:
        pass
    return _autograd_sq_norm(encoder, x, y)


class ContractivePenalty(nn.Module):
    """log-factor −λ ‖∂code/∂x‖²_F: codes that change little when x moves off the data.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,), contractive=0.1))
        >>> vae.penalties["contractive"](vae, torch.rand(3, 6), None, None).shape
        torch.Size([3])

    References:
        Rifai, Vincent, Muller, Glorot, Bengio. Contractive auto-encoders (ICML 2011).
    """

    def __init__(self, weight: float) -> None:
        super().__init__()
        if not (math.isfinite(weight) and weight > 0):
            raise UserInputError(f"the contractive weight must be positive, got {weight}")
        self.weight = float(weight)

    def forward(self, vae: nn.Module, x, y, z) -> torch.Tensor:
        return -self.weight * jacobian_sq_norm(vae.encoder, x, y)


class SparsityPenalty(nn.Module):
    """log-factor −β Σ_j KL(Bernoulli(ρ) ‖ Bernoulli(ρ̂_j)) on codes in (0, 1), where ρ̂_j is
    code unit j's mean over the batch: units are pushed to fire at the rate ρ on average.

    The batch's penalty is charged to each of its points, so it keeps its weight relative
    to the (per-point, summed) reconstruction term whatever the batch size.

    Arguments:
        target: the target mean activation ρ in (0, 1).
        weight: β > 0.
        latent_ndim: number of event dimensions of z.

    Example:
        >>> pen = SparsityPenalty(target=0.1, weight=1.0)
        >>> pen(None, None, None, torch.full((4, 3), 0.1)).abs().max().item() < 1e-6
        True

    References:
        Ng. Sparse autoencoder (CS294A lecture notes, 2011).
    """

    def __init__(self, target: float, weight: float, latent_ndim: int = 1) -> None:
        super().__init__()
        if not 0 < target < 1:
            raise UserInputError(f"the sparsity target is a rate in (0, 1), got {target}")
        if not (math.isfinite(weight) and weight > 0):
            raise UserInputError(f"the sparsity weight must be positive, got {weight}")
        self.target, self.weight, self.latent_ndim = float(target), float(weight), latent_ndim

    def forward(self, vae: nn.Module, x, y, z: torch.Tensor) -> torch.Tensor:
        z = z.flatten(start_dim=z.dim() - self.latent_ndim)  # (..., B, Dz)
        rate = z.mean(-2, keepdim=True).clamp(1e-6, 1 - 1e-6)  # (..., 1, Dz)
        target = torch.distributions.Bernoulli(probs=torch.full_like(rate, self.target))
        kl = torch.distributions.kl_divergence(target, torch.distributions.Bernoulli(probs=rate))
        return (-self.weight * kl.sum(-1)).expand(z.shape[:-1])
