"""Build a VAE from a plain, serialisable configuration (used by the CLI and run folders)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from ppvae.checks import check_fields
from ppvae.errors import UserInputError
from ppvae.models.frames import FrameDecoder, FrameEncoder, check_sequence_shapes
from ppvae.models.likelihoods import make_likelihood
from ppvae.models.nets import MLPDecoder, MLPEncoder
from ppvae.models.priors import latent_shape_of, make_prior
from ppvae.models.vae import VAE


@dataclass
class ModelConfig:
    """Every setting of the network and probabilistic model, with its default.

    Example:
        >>> ModelConfig(x_shape=(64,), latent_dim=8).hidden
        (400,)
    """

    x_shape: tuple[int, ...] = (1, 28, 28)  # shape of one data point
    latent_dim: int = 50  # size of z (of each z_t for a sequence prior)
    hidden: tuple[int, ...] = (400,)  # hidden widths; depth = len(hidden) ("stacked" AE)
    activation: str = "relu"
    likelihood: str = "bernoulli"  # bernoulli | continuous-bernoulli | gaussian | logistic
    prior: str = "normal"  # a registered name, path/to/file.py:Name or package.module:Name
    prior_args: dict[str, str] = field(default_factory=dict)  # --prior-arg key=value
    context_dim: int = 0  # size of the context y the data carry (0: none)
    condition_networks: bool = False  # encoder and decoder also see y (a conditional VAE)

    def __post_init__(self) -> None:
        check_fields(self)
        self.x_shape, self.hidden = tuple(self.x_shape), tuple(self.hidden)
        if self.latent_dim < 1:
            raise UserInputError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden) or any(s < 1 for s in self.x_shape):
            raise UserInputError(f"hidden widths and x_shape must be positive: {self}")
        if self.context_dim < 0:
            raise UserInputError(f"context_dim must be >= 0, got {self.context_dim}")

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)


def _probe_batch(prior, context):
    try:
        return prior(context).batch_shape
    except Exception:  # latent_shape_of below reports a broken prior with a clear message
        return (1,)


def build_vae(config: ModelConfig) -> VAE:
    """Build the MLP VAE described by ``config``, with the prior its ``prior`` spec names.

    The prior decides the latent shape (``(steps, latent_dim)`` for the sequence priors,
    whose data are sequences (T, *frame): the encoder and decoder then work frame by frame);
    the encoder and decoder are built to match, and the assembled prior is checked.

    Example:
        >>> vae = build_vae(ModelConfig(x_shape=(64,), latent_dim=4, hidden=(32, 32)))
        >>> vae.generate(2).shape
        torch.Size([2, 64])
        >>> vae = build_vae(ModelConfig(x_shape=(5, 64), latent_dim=3, prior="markov"))
        >>> vae.encode(torch.zeros(2, 5, 64)).event_shape  # sequences of 5 frames
        torch.Size([5, 3])
    """
    if config.condition_networks and config.context_dim == 0:
        raise UserInputError(
            "conditioning the networks needs a context y: --context labels (one-hot classes) "
            "or --context array (a .npz's 'c')"
        )
    context = torch.eye(config.context_dim)[:2] if config.context_dim else None
    prior = make_prior(
        config.prior,
        config.prior_args,
        latent_dim=config.latent_dim,
        x_shape=config.x_shape,
        context_dim=config.context_dim,
    )
    unused = context is not None and not config.condition_networks
    if unused and not tuple(_probe_batch(prior, context)):
        raise UserInputError(
            "the context y is used by nothing: add --condition-networks (encoder and "
            "decoder see y) or --prior conditional (p(z|y)), or drop --context"
        )
    declared = getattr(prior, "latent_shape", None)
    shape = tuple(declared) if declared else latent_shape_of(prior, config.latent_dim, context)
    likelihood = make_likelihood(config.likelihood, config.x_shape)
    net_context = config.context_dim if config.condition_networks else 0
    if len(shape) == 2:  # a sequence prior: per-frame encoder and decoder
        check_sequence_shapes(config.x_shape, shape, likelihood.param_shape)
        encoder_cls, decoder_cls, latent = FrameEncoder, FrameDecoder, shape[-1]
    else:
        encoder_cls, decoder_cls, latent = MLPEncoder, MLPDecoder, shape
    encoder = encoder_cls(config.x_shape, latent, config.hidden, net_context, config.activation)
    decoder = decoder_cls(
        latent,
        likelihood.param_shape,
        tuple(reversed(config.hidden)),
        net_context,
        config.activation,
    )
    vae = VAE(encoder, decoder, likelihood, prior)
    actual = latent_shape_of(vae.prior, config.latent_dim, context)
    if actual != shape:
        raise UserInputError(f"the prior declares latent shape {shape} but returns {actual}")
    return vae
