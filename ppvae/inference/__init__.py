"""What is done with a model: fit it by SVI, evaluate it honestly."""

from ppvae.inference.diagnostics import pareto_khat, unreliable_share
from ppvae.inference.elbo import AnalyticKL_ELBO, has_analytic_kl, make_elbo
from ppvae.inference.evaluate import (
    Metrics,
    Pointwise,
    active_units,
    elbo,
    evaluate,
    evaluation_key,
    has_log_likelihood,
    importance_draws,
    importance_log_weights,
    log_likelihood,
    mean_and_se,
    pointwise,
)
from ppvae.inference.free_bits import FreeBitsELBO
from ppvae.inference.kl_weight import KLSchedule, LatentScale
from ppvae.inference.paired import across_seeds, paired_difference
from ppvae.inference.prior_fit import fit_prior, mean_log_density, posterior_draws
from ppvae.inference.svi import (
    FitConfig,
    FitResult,
    TrainingDiverged,
    fit,
    penalized,
    validation_terms,
)
from ppvae.inference.warm_start import warm_start

__all__ = [
    "AnalyticKL_ELBO",
    "FitConfig",
    "FitResult",
    "FreeBitsELBO",
    "KLSchedule",
    "LatentScale",
    "Metrics",
    "Pointwise",
    "TrainingDiverged",
    "across_seeds",
    "active_units",
    "elbo",
    "evaluate",
    "evaluation_key",
    "fit",
    "fit_prior",
    "has_analytic_kl",
    "has_log_likelihood",
    "importance_draws",
    "importance_log_weights",
    "log_likelihood",
    "make_elbo",
    "mean_and_se",
    "mean_log_density",
    "paired_difference",
    "pareto_khat",
    "penalized",
    "pointwise",
    "posterior_draws",
    "unreliable_share",
    "validation_terms",
    "warm_start",
]
