"""The autoencoder family by name: each member is a setting of the same model and guide.

=============  ==========================================================================
member         the probabilistic program
=============  ==========================================================================
vae            z ~ N(0, I), x ~ p(x|z);  guide z ~ N(μ(x), σ(x))
ae             z ~ flat, x ~ p(x|z);  guide z = code(x) (point mass): max log p(x|code(x))
sparse         z ~ Laplace(0, b): the log-prior −‖z‖₁/b is the L1 penalty (MAP view)
sparse-kl      codes in (0, 1), flat prior, factor −β Σ_j KL(ρ ‖ ρ̂_j)
denoising      the guide sees x̃ (25 % of the inputs zeroed), the model scores clean x
contractive    factor −λ ‖∂code/∂x‖²_F
linear         no hidden layers, squared error: spans the top principal subspace (PCA)
denoising-vae  the VAE whose guide sees x̃
=============  ==========================================================================

A *stacked* (deep) autoencoder is ``ae`` with several hidden widths (``--hidden 500 250``)
and a *convolutional* one any member with ``net="conv"``.
"""

from __future__ import annotations

from typing import Any

from ppvae.errors import UserInputError
from ppvae.models.build import ModelConfig

POINT_MASS = {"guide": "delta", "prior": "flat"}

FAMILY: dict[str, dict[str, Any]] = {
    "vae": {},
    "ae": POINT_MASS,
    "sparse": {"guide": "delta", "prior": "laplace"},
    "sparse-kl": {**POINT_MASS, "code": "sigmoid", "sparsity_weight": 1.0},
    "denoising": {**POINT_MASS, "corruption": "mask", "noise_level": 0.25},
    "contractive": {**POINT_MASS, "contractive": 0.01},
    "linear": {**POINT_MASS, "hidden": (), "likelihood": "mse"},
    "denoising-vae": {"corruption": "mask", "noise_level": 0.25},
}


def family_settings(member: str) -> dict[str, Any]:
    """The :class:`~ppvae.models.ModelConfig` fields that make ``member``.

    Example:
        >>> family_settings("sparse")
        {'guide': 'delta', 'prior': 'laplace'}
    """
    if member not in FAMILY:
        raise UserInputError(f"unknown family member {member!r}; choose one of {', '.join(FAMILY)}")
    return dict(FAMILY[member])


def family_config(member: str, **settings: Any) -> ModelConfig:
    """A :class:`~ppvae.models.ModelConfig` for ``member``; ``settings`` override the preset.

    Example:
        >>> c = family_config("denoising", x_shape=(64,), noise_level=0.5)
        >>> c.guide, c.prior, c.corruption, c.noise_level
        ('delta', 'flat', 'mask', 0.5)
    """
    return ModelConfig(**{**family_settings(member), **settings})


def family_of(config: ModelConfig) -> str:
    """A short description of the member a configuration is, for tables and titles.

    Example:
        >>> family_of(family_config("contractive", x_shape=(64,)))
        'contractive AE'
        >>> family_of(ModelConfig(x_shape=(64,), corruption="mask", noise_level=0.3))
        'denoising VAE'
    """
    delta = config.guide == "delta"
    parts = []
    if config.corruption != "none" and config.noise_level > 0:
        parts.append("denoising")
    if config.contractive > 0:
        parts.append("contractive")
    if config.sparsity_weight > 0 or (delta and config.prior == "laplace"):
        parts.append("sparse")
    if delta and not config.hidden and config.net == "mlp":
        parts.append("linear")
    if config.net == "conv":
        parts.append("convolutional")
    if delta and len(config.hidden) > 1:
        parts.append("stacked")
    if config.levels == 2:
        parts.append("hierarchical")
    parts.append("AE" if delta else "VAE")
    return " ".join(parts)
