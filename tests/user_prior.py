"""The source of a user's prior file, written to a temporary ``my_prior.py`` by the tests."""

USER_PRIOR = '''
import pyro.distributions as dist
import torch
from torch import nn


class ShiftedNormal(nn.Module):
    """A user's prior: N(shift, I) with a learned shift."""

    def __init__(self, latent_dim: int, shift: float = 0.5):
        super().__init__()
        self.shift = nn.Parameter(torch.full((latent_dim,), shift))

    def forward(self, context=None):
        return dist.Normal(self.shift, torch.ones_like(self.shift)).to_event(1)


class Forgetful(nn.Module):
    """Forgets .to_event(1): a batch of scalars instead of one vector."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def forward(self, context=None):
        return dist.Normal(torch.zeros(self.latent_dim), 1.0)


def forgetful(context=None):
    return dist.Normal(torch.zeros(3), 1.0)
'''
