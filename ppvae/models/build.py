"""Build a VAE from a plain, serialisable configuration (used by the CLI and run folders)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ppvae.checks import check_fields
from ppvae.errors import UserInputError
from ppvae.models.conv import ConvDecoder, ConvEncoder
from ppvae.models.corruption import Corruption, check_corruption
from ppvae.models.frames import FrameDecoder, FrameEncoder, check_sequence_shapes
from ppvae.models.heads import CODES, GUIDES
from ppvae.models.hierarchical import HierarchicalVAE
from ppvae.models.likelihoods import make_likelihood
from ppvae.models.nets import MLPDecoder, MLPEncoder
from ppvae.models.penalties import ContractivePenalty, SparsityPenalty
from ppvae.models.priors import is_improper, latent_shape_of, make_prior
from ppvae.models.vae import VAE

NETS = ("mlp", "conv")


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
    net: str = "mlp"  # mlp | conv (images: stride-2 convolutions, then the hidden layers)
    channels: tuple[int, ...] = (32, 64)  # conv: output channels of each convolution
    guide: str = "normal"  # normal (a VAE) | delta (a point mass: the deterministic AEs)
    code: str = "linear"  # linear | sigmoid (codes in (0, 1); delta guide only)
    corruption: str = "none"  # none | mask | gaussian | salt-pepper: the guide's input only
    noise_level: float = 0.0  # masking / replacement probability, or the Gaussian noise scale
    contractive: float = 0.0  # λ of the contractive factor −λ‖∂code/∂x‖² (0: off)
    sparsity_target: float = 0.05  # ρ, the target mean code of the KL-sparsity factor
    sparsity_weight: float = 0.0  # β of the KL-sparsity factor (0: off; needs sigmoid codes)
    levels: int = 1  # stochastic layers: 1, or 2 (z, then z_lower | z: a hierarchical VAE)

    def __post_init__(self) -> None:
        check_fields(self)
        self.x_shape, self.hidden = tuple(self.x_shape), tuple(self.hidden)
        self.channels = tuple(self.channels)
        if self.latent_dim < 1:
            raise UserInputError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if any(h < 1 for h in self.hidden) or any(s < 1 for s in self.x_shape):
            raise UserInputError(f"hidden widths and x_shape must be positive: {self}")
        if self.context_dim < 0:
            raise UserInputError(f"context_dim must be >= 0, got {self.context_dim}")
        check_choice("net", self.net, NETS)
        check_choice("guide", self.guide, GUIDES)
        check_choice("code", self.code, CODES)
        check_corruption(self.corruption, self.noise_level)
        if (self.corruption == "none") != (self.noise_level == 0):
            raise UserInputError(
                "a denoising model needs both a corruption and a noise level > 0 "
                f"(got corruption {self.corruption!r}, noise level {self.noise_level})"
            )
        _check_penalties(self)
        check_levels(self)

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    """Refuse a value outside ``choices`` with a one-line message.

    Example:
        >>> check_choice("net", "rnn", NETS)
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: unknown net 'rnn'; choose one of mlp, conv
    """
    if value not in choices:
        raise UserInputError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def _check_penalties(config: ModelConfig) -> None:
    if not (math.isfinite(config.contractive) and config.contractive >= 0):
        raise UserInputError(f"contractive must be a finite number >= 0, got {config.contractive}")
    if not (math.isfinite(config.sparsity_weight) and config.sparsity_weight >= 0):
        raise UserInputError(f"sparsity_weight must be >= 0, got {config.sparsity_weight}")
    if not 0 < config.sparsity_target < 1:
        raise UserInputError(f"sparsity_target is a rate in (0, 1), got {config.sparsity_target}")
    if config.code == "sigmoid" and config.guide != "delta":
        raise UserInputError("sigmoid codes need the point-mass guide (--guide delta)")
    if config.sparsity_weight > 0 and config.code != "sigmoid":
        raise UserInputError(
            "the KL-sparsity penalty reads codes as firing rates in (0, 1): use it with "
            "--guide delta --code sigmoid (or --family sparse-kl)"
        )


def _network_classes(config: ModelConfig) -> tuple[type, type, dict]:
    """Encoder and decoder classes of ``config.net``, and their extra keywords."""
    if config.net == "conv":
        return ConvEncoder, ConvDecoder, {"channels": config.channels}
    return MLPEncoder, MLPDecoder, {}


def _networks(config: ModelConfig, shape: tuple, likelihood, context_dim: int):
    """Encoder and decoder for the latent ``shape`` (per frame for a sequence prior)."""
    encoder_cls, decoder_cls, conv = _network_classes(config)
    head = {"guide": config.guide, "code": config.code}
    latent = shape
    if len(shape) == 2:  # a sequence prior: per-frame encoder and decoder
        check_sequence_shapes(config.x_shape, shape, likelihood.param_shape)
        head["network"], conv_dec = encoder_cls, {**conv, "network": decoder_cls}
        encoder_cls, decoder_cls, latent = FrameEncoder, FrameDecoder, shape[-1]
    else:
        conv_dec = conv
    args = (config.hidden, context_dim, config.activation)
    encoder = encoder_cls(config.x_shape, latent, *args, **head, **conv)
    reversed_args = (tuple(reversed(config.hidden)), context_dim, config.activation)
    decoded = latent if config.levels == 1 else config.levels * shape[0]  # (z_lower, z)
    decoder = decoder_cls(decoded, likelihood.param_shape, *reversed_args, **conv_dec)
    return encoder, decoder


def _penalties(config: ModelConfig, latent_ndim: int) -> dict[str, nn.Module]:
    penalties: dict[str, nn.Module] = {}
    if config.contractive > 0:
        penalties["contractive"] = ContractivePenalty(config.contractive)
    if config.sparsity_weight > 0:
        penalties["sparsity"] = SparsityPenalty(
            config.sparsity_target, config.sparsity_weight, latent_ndim
        )
    return penalties


def _hierarchical(config: ModelConfig, shape: tuple, likelihood, prior, encoder, decoder):
    """The two-level VAE: ``encoder`` is q(z | x), ``decoder`` reads (z_lower, z);
    q(z_lower | x, z) and p(z_lower | z) are built here with the same widths and activation."""
    encoder_cls, _, conv = _network_classes(config)
    size, act = shape[0], config.activation
    lower_encoder = encoder_cls(config.x_shape, size, config.hidden, size, act, **conv)
    lower_prior = MLPEncoder(shape, size, config.hidden, 0, act)
    return HierarchicalVAE(encoder, lower_encoder, lower_prior, decoder, likelihood, prior)


def check_levels(config: ModelConfig) -> None:
    """Refuse a number of stochastic layers ppvae does not build, or a two-level model
    with a setting it does not support (point-mass guides, corruption, penalties, a
    context y).

    Example:
        >>> check_levels(ModelConfig(levels=2))
        >>> check_levels(ModelConfig(levels=3))
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: levels must be 1 or 2, got 3
    """
    if config.levels not in (1, 2):
        raise UserInputError(f"levels must be 1 or 2, got {config.levels}")
    if config.levels == 1:
        return
    unsupported = {
        "--guide delta": config.guide != "normal",
        "--corruption": config.corruption != "none",
        "--contractive": config.contractive > 0,
        "--sparsity-weight": config.sparsity_weight > 0,
        "a context y (--context)": config.context_dim > 0,
    }
    named = [flag for flag, used in unsupported.items() if used]
    if named:
        raise UserInputError(
            f"a hierarchical VAE (--levels 2) is a Gaussian-guide VAE without a context; "
            f"drop {', '.join(named)}"
        )


def _check_guide_and_prior(config: ModelConfig, prior) -> None:
    if is_improper(prior) and config.guide != "delta":
        raise UserInputError(
            "a flat prior needs the point-mass guide (--guide delta): with a Gaussian guide "
            "the objective grows without bound as q widens"
        )
    if hasattr(prior, "bind_encoder") and config.guide == "delta":
        raise UserInputError(
            "the VampPrior is a mixture of the guide's posteriors, which a point-mass guide "
            "does not have: use it with --guide normal"
        )


def _probe_batch(prior, context):
    try:
        return prior(context).batch_shape
    except Exception:  # latent_shape_of below reports a broken prior with a clear message
        return (1,)


def build_vae(config: ModelConfig) -> VAE:
    """Build the VAE (or autoencoder) described by ``config``, with the prior its ``prior``
    spec names, its guide, networks, corruption and penalties.

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
    _check_guide_and_prior(config, prior)
    declared = getattr(prior, "latent_shape", None)
    shape = tuple(declared) if declared else latent_shape_of(prior, config.latent_dim, context)
    likelihood = make_likelihood(config.likelihood, config.x_shape)
    net_context = config.context_dim if config.condition_networks else 0
    if config.levels > 1 and len(shape) != 1:
        raise UserInputError(
            f"a hierarchical VAE (--levels 2) needs a vector latent; the prior "
            f"{config.prior!r} has latent shape {shape}"
        )
    encoder, decoder = _networks(config, shape, likelihood, net_context)
    if config.levels == 2:
        vae = _hierarchical(config, shape, likelihood, prior, encoder, decoder)
    else:
        corruption = Corruption(config.corruption, config.noise_level)
        penalties = _penalties(config, len(shape))
        vae = VAE(encoder, decoder, likelihood, prior, corruption, penalties)
    actual = latent_shape_of(vae.prior, config.latent_dim, context)
    if actual != shape:
        raise UserInputError(f"the prior declares latent shape {shape} but returns {actual}")
    return vae
