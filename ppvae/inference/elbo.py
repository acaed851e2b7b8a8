"""Choosing the ELBO: analytic KL where every latent site has one, Monte Carlo otherwise.

``AnalyticKL_ELBO`` is Pyro's ``TraceMeanField_ELBO`` estimator, unchanged, for models in
which every latent site has a registered ``kl_divergence`` to its guide site.  It only
skips work that estimator never uses there: the log-densities of latent sites and the
guide's score parts.  With validation on it defers to Pyro's full checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyro.poutine as poutine
import torch
from pyro.infer import ELBO, Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.util import is_validation_enabled
from pyro.poutine.util import prune_subsample_sites
from pyro.util import check_model_guide_match

ELBOS = ("auto", "trace", "meanfield")


class AnalyticKL_ELBO(TraceMeanField_ELBO):
    """TraceMeanField_ELBO that scores only observed sites (every latent site has a KL).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,)))
        >>> x = torch.ones(3, 4)
        >>> _ = torch.manual_seed(0); a = AnalyticKL_ELBO().loss(vae.model, vae.guide, x)
        >>> _ = torch.manual_seed(0); b = TraceMeanField_ELBO().loss(vae.model, vae.guide, x)
        >>> abs(a - b) < 1e-4
        True
    """

    def _get_trace(self, model: Callable, guide: Callable, args: tuple, kwargs: dict) -> Any:
        if is_validation_enabled():
            return super()._get_trace(model, guide, args, kwargs)
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        replayed = poutine.replay(model, trace=guide_trace)
        model_trace = poutine.trace(replayed).get_trace(*args, **kwargs)
        model_trace = prune_subsample_sites(model_trace)
        for site in model_trace.nodes.values():
            if site["type"] == "sample" and site["is_observed"]:
                log_p = site["fn"].log_prob(site["value"])
                if site["mask"] is not None:
                    log_p = log_p * site["mask"]
                site["log_prob_sum"] = (log_p * site["scale"]).sum()
        return model_trace, prune_subsample_sites(guide_trace)


def has_analytic_kl(model: Callable, guide: Callable, *args: Any) -> bool:
    """Whether ``kl_divergence(q, p)`` is registered for every latent site of ``model``.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,)))
        >>> has_analytic_kl(vae.model, vae.guide, torch.ones(3, 4))
        True
    """
    with torch.no_grad(), poutine.block():
        guide_trace = poutine.trace(guide).get_trace(*args)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args)
    check_model_guide_match(model_trace, guide_trace)
    for name, site in prune_subsample_sites(model_trace).nodes.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        try:
            torch.distributions.kl_divergence(guide_trace.nodes[name]["fn"], site["fn"])
        except NotImplementedError:
            return False
    return True


def make_elbo(name: str, model: Callable, guide: Callable, args: tuple, particles: int = 1) -> ELBO:
    """The Pyro ELBO for ``name``: ``meanfield`` (analytic KL), ``trace`` (Monte Carlo) or
    ``auto`` (analytic KL when every latent site has one).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,)))
        >>> type(make_elbo("auto", vae.model, vae.guide, (torch.ones(3, 4),))).__name__
        'AnalyticKL_ELBO'
    """
    kwargs = {"num_particles": particles, "vectorize_particles": particles > 1}
    if name == "trace":
        return Trace_ELBO(**kwargs)
    if has_analytic_kl(model, guide, *args):
        return AnalyticKL_ELBO(**kwargs)
    return TraceMeanField_ELBO(**kwargs) if name == "meanfield" else Trace_ELBO(**kwargs)
