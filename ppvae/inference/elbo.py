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
from pyro.distributions.util import scale_and_mask
from pyro.infer import ELBO, Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.util import is_validation_enabled
from pyro.poutine.util import prune_subsample_sites
from pyro.util import check_model_guide_match

ELBOS = ("auto", "trace", "meanfield", "iwae")  # iwae: ppvae.inference.iwae


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
                site["log_prob_sum"] = scale_and_mask(log_p, site["scale"], site["mask"]).sum()
        return model_trace, prune_subsample_sites(guide_trace)


def traces(model: Callable, guide: Callable, *args: Any) -> tuple[Any, Any]:
    """One guide trace and the model replayed on it, without gradients or side effects.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,)))
        >>> model_trace, guide_trace = traces(vae.model, vae.guide, torch.ones(3, 4))
        >>> model_trace.nodes["x"]["is_observed"], guide_trace.nodes["z"]["value"].shape
        (True, torch.Size([3, 2]))
    """
    with torch.no_grad(), poutine.block():
        guide_trace = poutine.trace(guide).get_trace(*args)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args)
    return prune_subsample_sites(model_trace), prune_subsample_sites(guide_trace)


def max_plate_nesting(model: Callable, guide: Callable, *args: Any) -> int:
    """How many batch dimensions the plates of ``model`` and ``guide`` use.

    Passing it to an ELBO spares Pyro its own probe, which would draw an extra sample
    from the global random stream (and so break exact resumption of a run).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,)))
        >>> max_plate_nesting(vae.model, vae.guide, torch.ones(3, 4))
        1
    """
    dims = [
        -frame.dim
        for trace in traces(model, guide, *args)
        for site in trace.nodes.values()
        if site["type"] == "sample"
        for frame in site["cond_indep_stack"]
        if frame.vectorized
    ]
    return max(dims, default=0)


def has_analytic_kl(model: Callable, guide: Callable, *args: Any) -> bool:
    """Whether ``kl_divergence(q, p)`` is registered for every latent site of ``model``
    (and the guide has no auxiliary sites the model lacks).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,)))
        >>> has_analytic_kl(vae.model, vae.guide, torch.ones(3, 4))
        True
    """
    model_trace, guide_trace = traces(model, guide, *args)
    check_model_guide_match(model_trace, guide_trace)
    latent = [
        n for n, s in model_trace.nodes.items() if s["type"] == "sample" and not s["is_observed"]
    ]
    guided = [n for n, s in guide_trace.nodes.items() if s["type"] == "sample"]
    if set(guided) - set(latent):
        return False  # auxiliary guide sites need the guide's score parts
    for name in latent:
        try:
            torch.distributions.kl_divergence(
                guide_trace.nodes[name]["fn"], model_trace.nodes[name]["fn"]
            )
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
    kwargs = {
        "num_particles": particles,
        "vectorize_particles": particles > 1,
        "max_plate_nesting": max_plate_nesting(model, guide, *args),
    }
    if name == "trace":
        return Trace_ELBO(**kwargs)
    if has_analytic_kl(model, guide, *args):
        return AnalyticKL_ELBO(**kwargs)
    return TraceMeanField_ELBO(**kwargs) if name == "meanfield" else Trace_ELBO(**kwargs)
