"""Convolutional encoder and decoder for images (C, H, W), drop-in for the MLP ones.

Each convolution halves the image (kernel 4, stride 2, padding 1); the decoder mirrors
the encoder with transposed convolutions that land exactly on the encoder's sizes, so any
image of at least 2^len(channels) pixels a side works, 8×8 digits and 28×28 Fashion-MNIST
alike.  Dense ``hidden`` layers sit between the convolutions and the code; a context ``y``
joins there.  The head is the same as the MLP encoder's, so every guide (Normal or point
mass), prior and variant works with either network.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pyro.distributions as dist
import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.models.heads import make_head
from ppvae.models.nets import _with_context, as_shape, check_activation, mlp, nonlinearity, widened

KERNEL, STRIDE, PADDING = 4, 2, 1
# Without gradients on a CPU (evaluation), the transposed convolutions run in channels-last
# layout: about 20% faster for a K = 5000 evaluation (bench/conv_scoring_layout.py), with the
# same numbers to float32 rounding (tests/test_conv_layout.py).  With gradients it stays
# off: the weight gradients would differ in the last bits, and with them every conv model.
CHANNELS_LAST_SCORING = True


def conv_sizes(hw: Sequence[int], layers: int) -> list[tuple[int, int]]:
    """Spatial size after each convolution, input first.

    Example:
        >>> conv_sizes((28, 28), 2)
        [(28, 28), (14, 14), (7, 7)]
    """
    sizes = [tuple(int(s) for s in hw)]
    for _ in range(layers):
        h, w = sizes[-1]
        sizes.append(tuple((s + 2 * PADDING - KERNEL) // STRIDE + 1 for s in (h, w)))
    return sizes


def _check_image(shape: tuple[int, ...], channels: Sequence[int], what: str) -> None:
    if len(shape) < 3:
        raise UserInputError(
            f"--net conv needs image data (channels, height, width); {what} has shape "
            f"{shape} (use --net mlp for vectors)"
        )
    if not channels or any(c < 1 for c in channels):
        raise UserInputError(f"conv channels must be positive widths, got {tuple(channels)}")
    if min(shape[-2:]) < 2 ** len(channels):
        raise UserInputError(
            f"images of {shape[-2]}x{shape[-1]} are too small for {len(channels)} "
            "stride-2 convolutions; use fewer --channels"
        )


def _fold(t: torch.Tensor, event: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Merge all leading (batch) dimensions into one: (..., *event) -> (N, *event)."""
    lead = tuple(t.shape[: t.dim() - event])
    return t.reshape(math.prod(lead), *t.shape[t.dim() - event :]), lead


class ConvEncoder(nn.Module):
    """Convolutions, then dense layers, then a Normal or point-mass head.

    Arguments:
        x_shape: (C, H, W) of one image (extra leading axes are folded into channels).
        latent_shape: size or shape of z.
        hidden: dense widths after the convolutions.
        context_dim: size of the optional context y (joins after the convolutions).
        activation: nonlinearity after every layer.
        guide, code, min_scale: as for :class:`~ppvae.models.nets.MLPEncoder`.
        channels: output channels of each convolution.

    Example:
        >>> enc = ConvEncoder((1, 8, 8), 2, hidden=(16,), channels=(4, 8))
        >>> enc(torch.rand(5, 1, 8, 8)).event_shape
        torch.Size([2])
    """

    def __init__(
        self,
        x_shape: Sequence[int],
        latent_shape: int | Sequence[int],
        hidden: Sequence[int] = (256,),
        context_dim: int = 0,
        activation: str = "relu",
        min_scale: float = 1e-5,
        guide: str = "normal",
        code: str = "linear",
        channels: Sequence[int] = (32, 64),
    ) -> None:
        super().__init__()
        self.x_shape = tuple(int(s) for s in x_shape)
        _check_image(self.x_shape, channels, "one data point")
        check_activation(activation)
        self.latent_shape = as_shape(latent_shape)
        self.context_dim = int(context_dim)
        self.min_scale = float(min_scale)
        widths = [math.prod(self.x_shape[:-2]), *channels]
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(widths):
            conv = nn.Conv2d(c_in, widened(activation, c_out), KERNEL, STRIDE, PADDING)
            layers += [conv, nonlinearity(activation, dim=-3)]
        self.convs = nn.Sequential(*layers)
        h, w = conv_sizes(self.x_shape[-2:], len(channels))[-1]
        sizes = [widths[-1] * h * w + self.context_dim, *hidden]
        self.dense = mlp(sizes, activation)
        self.head = make_head(guide, sizes[-1], self.latent_shape, min_scale, code)

    def conv_features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened output of the convolutions (..., F): what the dense layers see,
        before the context joins."""
        images, lead = _fold(x, len(self.x_shape))
        images = images.reshape(len(images), -1, *self.x_shape[-2:])  # (N, C, H, W)
        h = self.convs(images).flatten(1).unflatten(0, lead or (1,))  # (..., F)
        return h if lead else h[0]

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The last dense layer's activations (B, H): what the head sees."""
        return self.dense(_with_context(self.conv_features(x), y, self.context_dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dist.Distribution:
        return self.head(self.features(x, y))


class ConvDecoder(nn.Module):
    """Dense layers from z (and y), then transposed convolutions up to the image size.

    Arguments:
        latent_shape: size or shape of z.
        out_shape: the likelihood's parameter shape, (..., H, W); leading axes are channels.
        hidden: dense widths from z outwards.
        context_dim: size of the optional context y.
        activation: nonlinearity after every hidden layer.
        channels: the encoder's channels (used in reverse).

    Example:
        >>> dec = ConvDecoder(2, (1, 8, 8), hidden=(16,), channels=(4, 8))
        >>> dec(torch.zeros(3, 5, 2)).shape
        torch.Size([3, 5, 1, 8, 8])
    """

    def __init__(
        self,
        latent_shape: int | Sequence[int],
        out_shape: Sequence[int],
        hidden: Sequence[int] = (256,),
        context_dim: int = 0,
        activation: str = "relu",
        channels: Sequence[int] = (32, 64),
    ) -> None:
        super().__init__()
        self.latent_shape = as_shape(latent_shape)
        self.out_shape = tuple(int(s) for s in out_shape)
        _check_image(self.out_shape, channels, "the decoder output")
        self.context_dim = int(context_dim)
        self.sizes = conv_sizes(self.out_shape[-2:], len(channels))
        self.start = (channels[-1], *self.sizes[-1])
        sizes = [math.prod(self.latent_shape) + self.context_dim, *hidden]
        self.dense = nn.Sequential(
            mlp(sizes, activation),
            nn.Linear(sizes[-1], widened(activation, math.prod(self.start))),
            nonlinearity(activation),
        )
        widths = [math.prod(self.out_shape[:-2]), *channels][::-1]
        pairs = list(itertools.pairwise(widths))
        self.deconvs = nn.ModuleList(  # every one but the last is followed by self.act
            nn.ConvTranspose2d(
                c_in,
                c_out if i == len(pairs) - 1 else widened(activation, c_out),
                KERNEL,
                STRIDE,
                PADDING,
            )
            for i, (c_in, c_out) in enumerate(pairs)
        )
        self.act = nonlinearity(activation, dim=-3)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = z.flatten(start_dim=z.dim() - len(self.latent_shape))  # (..., B, Dz)
        h = self.dense(_with_context(z, y, self.context_dim))  # (..., B, C*h*w)
        h, lead = _fold(h, 1)
        h = h.reshape(len(h), *self.start)
        if CHANNELS_LAST_SCORING and h.device.type == "cpu" and not torch.is_grad_enabled():
            h = h.contiguous(memory_format=torch.channels_last)
        for i, deconv in enumerate(self.deconvs):
            h = deconv(h, output_size=self.sizes[-i - 2])
            h = self.act(h) if i < len(self.deconvs) - 1 else h
        return h.reshape(*lead, *self.out_shape)
