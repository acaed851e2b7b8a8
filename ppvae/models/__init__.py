"""What is assumed: the generative story (priors, likelihoods, networks, the VAE)."""

from ppvae.models.build import NETS, ModelConfig, build_vae
from ppvae.models.conv import ConvDecoder, ConvEncoder
from ppvae.models.corruption import CORRUPTIONS, Corruption, corrupt
from ppvae.models.discretized_logistic import DiscretizedLogistic
from ppvae.models.family import FAMILY, family_config, family_of, family_settings
from ppvae.models.frames import FrameDecoder, FrameEncoder
from ppvae.models.heads import DeltaHead, NormalHead
from ppvae.models.hierarchical import HierarchicalVAE
from ppvae.models.independent_bernoulli import IndependentBernoulli
from ppvae.models.likelihoods import (
    LIKELIHOODS,
    Bernoulli,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    Logistic256,
    SquaredError,
    likelihood_class,
    make_likelihood,
)
from ppvae.models.nets import MLPDecoder, MLPEncoder, mlp
from ppvae.models.penalties import ContractivePenalty, SparsityPenalty, jacobian_sq_norm
from ppvae.models.priors import (
    PRIORS,
    ConditionalGaussian,
    FlatPrior,
    FlowPrior,
    IIDNormal,
    LaplacePrior,
    LearnedGaussian,
    MarkovPrior,
    MixtureOfGaussians,
    ResampledPrior,
    StandardNormal,
    StudentTPrior,
    VampPrior,
    make_prior,
)
from ppvae.models.vae import VAE

__all__ = [
    "CORRUPTIONS",
    "FAMILY",
    "LIKELIHOODS",
    "NETS",
    "PRIORS",
    "VAE",
    "Bernoulli",
    "ConditionalGaussian",
    "ContinuousBernoulli",
    "ContractivePenalty",
    "ConvDecoder",
    "ConvEncoder",
    "Corruption",
    "DeltaHead",
    "DiscretizedLogistic",
    "FlatPrior",
    "FlowPrior",
    "FrameDecoder",
    "FrameEncoder",
    "Gaussian",
    "HierarchicalVAE",
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
    "NormalHead",
    "ResampledPrior",
    "SparsityPenalty",
    "SquaredError",
    "StandardNormal",
    "StudentTPrior",
    "VampPrior",
    "build_vae",
    "corrupt",
    "family_config",
    "family_of",
    "family_settings",
    "jacobian_sq_norm",
    "likelihood_class",
    "make_likelihood",
    "make_prior",
    "mlp",
]
