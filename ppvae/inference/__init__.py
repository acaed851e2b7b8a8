"""What is done with a model: fit it by SVI, evaluate it honestly."""

from ppvae.inference.evaluate import (
    Metrics,
    Pointwise,
    active_units,
    elbo,
    evaluate,
    log_likelihood,
    mean_and_se,
    pointwise,
)
from ppvae.inference.svi import FitConfig, FitResult, TrainingDiverged, fit, make_elbo

__all__ = [
    "FitConfig",
    "FitResult",
    "Metrics",
    "Pointwise",
    "TrainingDiverged",
    "active_units",
    "elbo",
    "evaluate",
    "fit",
    "log_likelihood",
    "make_elbo",
    "mean_and_se",
    "pointwise",
]
