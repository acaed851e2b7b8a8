"""Build a VAE from a plain, serialisable configuration (used by the CLI and run folders)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ppvae.checks import check_fields
from ppvae.errors import UserInputError
from ppvae.models.likelihoods import make_likelihood
from ppvae.models.nets import MLPDecoder, MLPEncoder
from ppvae.models.priors import StandardNormal
from ppvae.models.vae import VAE


@dataclass
class ModelConfig:
    """Every setting of the network and probabilistic model, with its default.

    Example:
        >>> ModelConfig(x_shape=(64,), latent_dim=8).hidden
        (400,)
    """

    x_shape: tuple[int, ...] = (1, 28, 28)  # shape of one data point
    latent_dim: int = 50  # size of z
    hidden: tuple[int, ...] = (400,)  # hidden widths; depth = len(hidden) ("stacked" AE)
    activation: str = "relu"
    likelihood: str = "bernoulli"  # bernoulli | continuous-bernoulli | gaussian | logistic
    prior: str = "normal"
    context_dim: int = 0  # size of a conditioning input y (0: unconditional)

    def __post_init__(self) -> None:
        check_fields(self)
        self.x_shape, self.hidden = tuple(self.x_shape), tuple(self.hidden)
        if self.latent_dim < 1:
            raise UserInputError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden) or any(s < 1 for s in self.x_shape):
            raise UserInputError(f"hidden widths and x_shape must be positive: {self}")
        if self.context_dim != 0:
            raise UserInputError(
                "context_dim must be 0 for build_vae: conditional models are built from "
                "MLPEncoder/MLPDecoder(context_dim=...) in Python"
            )

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)


def build_vae(config: ModelConfig) -> VAE:
    """Build the MLP VAE described by ``config``.

    Example:
        >>> vae = build_vae(ModelConfig(x_shape=(64,), latent_dim=4, hidden=(32, 32)))
        >>> vae.generate(2).shape
        torch.Size([2, 64])
    """
    if config.prior != "normal":
        raise UserInputError(f"unknown prior {config.prior!r}; available: normal")
    likelihood = make_likelihood(config.likelihood, config.x_shape)
    encoder = MLPEncoder(
        config.x_shape, config.latent_dim, config.hidden, config.context_dim, config.activation
    )
    decoder = MLPDecoder(
        config.latent_dim,
        likelihood.param_shape,
        tuple(reversed(config.hidden)),
        config.context_dim,
        config.activation,
    )
    return VAE(encoder, decoder, likelihood, StandardNormal(config.latent_dim))
