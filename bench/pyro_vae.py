"""A plain Pyro SVI VAE in the style of Pyro's ``examples/vae/vae.py``.

Global ``pyro.module`` registration, ``pyro.optim.Adam`` and ``SVI.step`` with
``Trace_ELBO``: what a Pyro user writes from the example, on the same network.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch_vae import Decoder, Encoder, batches


class PyroVAE(torch.nn.Module):
    def __init__(self, enc: Encoder, dec: Decoder, z_dim: int) -> None:
        super().__init__()
        self.encoder, self.decoder, self.z_dim = enc, dec, z_dim

    def model(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z_loc = x.new_zeros(torch.Size((x.shape[0], self.z_dim)))
            z_scale = x.new_ones(torch.Size((x.shape[0], self.z_dim)))
            z = pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))
            logits = self.decoder(z)
            pyro.sample("obs", dist.Bernoulli(logits=logits).to_event(1), obs=x.flatten(1))

    def guide(self, x):
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            loc, scale = self.encoder(x)
            pyro.sample("latent", dist.Normal(loc, scale).to_event(1))


class PyroLearner:
    """One epoch at a time of the Pyro-example training loop."""

    def __init__(self, vae: PyroVAE, lr: float, seed: int) -> None:
        pyro.clear_param_store()
        self.vae = vae
        self.svi = SVI(vae.model, vae.guide, Adam({"lr": lr}), loss=Trace_ELBO())
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self, x_train, x_val, batch_size: int) -> dict[str, float]:
        total = sum(self.svi.step(xb) for xb in batches(x_train, batch_size, self.generator))
        val = sum(self.svi.evaluate_loss(xb) for xb in x_val.split(batch_size))
        return {"train_elbo": -total / len(x_train), "val_elbo": -val / len(x_val)}
