"""What is assumed: the generative story (priors, likelihoods, networks, the VAE)."""

from ppvae.models.build import ModelConfig, build_vae
from ppvae.models.discretized_logistic import DiscretizedLogistic
from ppvae.models.frames import FrameDecoder, FrameEncoder
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
from ppvae.models.priors import (
    PRIORS,
    ConditionalGaussian,
    FlowPrior,
    IIDNormal,
    LaplacePrior,
    LearnedGaussian,
    MarkovPrior,
    MixtureOfGaussians,
    StandardNormal,
    StudentTPrior,
    VampPrior,
    make_prior,
)
from ppvae.models.vae import VAE

__all__ = [
    "LIKELIHOODS",
    "PRIORS",
    "VAE",
    "Bernoulli",
    "ConditionalGaussian",
    "ContinuousBernoulli",
    "DiscretizedLogistic",
    "FlowPrior",
    "FrameDecoder",
    "FrameEncoder",
    "Gaussian",
    "IIDNormal",
    "IndependentBernoulli",
    "LaplacePrior",
    "LearnedGaussian",
    "Likelihood",
    "Logistic256",
    "MLPDecoder",
    "MLPEncoder",
    "MarkovPrior",
    "MixtureOfGaussians",
    "ModelConfig",
    "StandardNormal",
    "StudentTPrior",
    "VampPrior",
    "build_vae",
    "likelihood_class",
    "make_likelihood",
    "make_prior",
    "mlp",
]
