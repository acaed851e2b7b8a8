"""What is assumed: the generative story (priors, likelihoods, networks, the VAE)."""

from ppvae.models.build import ModelConfig, build_vae
from ppvae.models.discretized_logistic import DiscretizedLogistic
from ppvae.models.independent_bernoulli import IndependentBernoulli
from ppvae.models.likelihoods import (
    LIKELIHOODS,
    Bernoulli,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    Logistic256,
    likelihood_class,
    make_likelihood,
)
from ppvae.models.nets import MLPDecoder, MLPEncoder, mlp
from ppvae.models.priors import StandardNormal
from ppvae.models.vae import VAE

__all__ = [
    "LIKELIHOODS",
    "VAE",
    "Bernoulli",
    "ContinuousBernoulli",
    "DiscretizedLogistic",
    "Gaussian",
    "IndependentBernoulli",
    "Likelihood",
    "Logistic256",
    "MLPDecoder",
    "MLPEncoder",
    "ModelConfig",
    "StandardNormal",
    "build_vae",
    "likelihood_class",
    "make_likelihood",
    "mlp",
]
