"""Priors p(z): ``nn.Module`` objects whose ``forward(context=None)`` returns a Distribution.

A prior is a *lazy distribution*: calling it builds the distribution from its (possibly
learned) parameters, so one object serves sampling, scoring and optimisation. The batch
shape is ``()`` (or the context's batch) and the event shape is the latent shape.
Registered names (``--prior NAME``) are in :data:`PRIORS`; any class or callable in a
user's file or module works too (see :func:`make_prior`).
"""

from ppvae.models.priors.conditional import ConditionalGaussian
from ppvae.models.priors.flat import FlatPrior, is_improper
from ppvae.models.priors.flow import FlowPrior
from ppvae.models.priors.gaussian import IIDNormal, LearnedGaussian, StandardNormal
from ppvae.models.priors.heavy_tailed import LaplacePrior, StudentTPrior
from ppvae.models.priors.markov import (
    GatedTransition,
    GaussianMarkovChain,
    LinearTransition,
    MarkovPrior,
)
from ppvae.models.priors.mixture import MixtureOfGaussians
from ppvae.models.priors.registry import (
    IMPROPER_PRIORS,
    PRIORS,
    canonical_spec,
    latent_shape_of,
    make_prior,
    parse_prior_args,
    resolve_prior,
)
from ppvae.models.priors.resampled import ResampledPrior, TruncatedResampledNormal
from ppvae.models.priors.vamp import VampPrior

__all__ = [
    "IMPROPER_PRIORS",
    "PRIORS",
    "ConditionalGaussian",
    "FlatPrior",
    "FlowPrior",
    "GatedTransition",
    "GaussianMarkovChain",
    "IIDNormal",
    "LaplacePrior",
    "LearnedGaussian",
    "LinearTransition",
    "MarkovPrior",
    "MixtureOfGaussians",
    "ResampledPrior",
    "StandardNormal",
    "StudentTPrior",
    "TruncatedResampledNormal",
    "VampPrior",
    "canonical_spec",
    "is_improper",
    "latent_shape_of",
    "make_prior",
    "parse_prior_args",
    "resolve_prior",
]
