"""ppvae: the autoencoder family as amortised variational inference in Pyro.

Define a prior in Python, fit it with SVI, and compare ELBO and importance-sampled
log-likelihood across priors.
"""

import pyro as _pyro

from ppvae.data import Data, DataConfig, load_data
from ppvae.errors import UserInputError
from ppvae.inference import FitConfig, FitResult, Metrics, evaluate, fit
from ppvae.models import VAE, ModelConfig, build_vae

__version__ = "0.1.0"

# Importing Pyro switches torch's distribution validation on globally; ppvae sets it
# explicitly and validates where it matters (the first training step, data checks).
_pyro.enable_validation(True)

__all__ = [
    "VAE",
    "Data",
    "DataConfig",
    "FitConfig",
    "FitResult",
    "Metrics",
    "ModelConfig",
    "UserInputError",
    "__version__",
    "build_vae",
    "evaluate",
    "fit",
    "load_data",
]
