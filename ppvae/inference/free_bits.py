"""Free bits (Kingma et al., 2016): a floor under the KL of each latent dimension.

The training objective becomes

    E_q[log p(x|z)] − Σ_d max(λ, E_x KL(q(z_d|x) ‖ p(z_d)))

with the KL averaged over the mini-batch before the floor λ (nats per dimension) applies:
a dimension whose average KL is below λ gets no gradient pushing it further towards the
prior, which keeps units from collapsing early in training.  It needs the KL of every
latent dimension in closed form, so the guide and the prior must both factorise over
dimensions (e.g. a diagonal Gaussian guide with ``normal`` or ``learned`` priors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Distribution, Independent, kl_divergence

from ppvae.errors import UserInputError
from ppvae.inference.elbo import AnalyticKL_ELBO, traces


class FreeBitsELBO(AnalyticKL_ELBO):
    """The analytic-KL ELBO with each latent dimension's batch-mean KL floored at ``free_bits``.

    Latent-site scales (β, annealing) multiply the floored KL as they multiply the KL.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,)))
        >>> x = torch.ones(3, 4)
        >>> _ = torch.manual_seed(0); floored = FreeBitsELBO(100.0).loss(vae.model, vae.guide, x)
        >>> _ = torch.manual_seed(0); plain = AnalyticKL_ELBO().loss(vae.model, vae.guide, x)
        >>> floored > plain  # a 100-nat floor on both dimensions of all 3 points
        True
    """

    def __init__(self, free_bits: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.free_bits = free_bits

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        elbo = torch.zeros(())
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample":
                continue
            if site["is_observed"]:
                elbo = elbo + site["log_prob_sum"]
                continue
            q_site = guide_trace.nodes[name]
            kl = per_dim_kl(q_site["fn"], site["fn"])  # batch_shape + event_shape
            event = q_site["fn"].event_shape
            keep = torch.ones(kl.shape[: kl.dim() - len(event)], device=kl.device)
            if q_site["mask"] is not None:  # masked entries take no part in the mean
                keep = keep * q_site["mask"]
            keep = keep.reshape(-1, *(1,) * len(event))
            count = keep.sum().clamp(min=1.0)
            mean_kl = (kl.reshape(-1, *event) * keep).sum(0) / count
            floored = mean_kl.clamp(min=self.free_bits).sum() * count
            elbo = elbo - q_site["scale"] * floored
        loss = -elbo
        return loss.item(), loss


def per_dim_kl(q: Distribution, p: Distribution) -> torch.Tensor:
    """KL(q ‖ p) for every batch element and every event coordinate, shape
    ``q.batch_shape + q.event_shape``; ``NotImplementedError`` if it has no closed form.

    Example:
        >>> import pyro.distributions as dist
        >>> q = dist.Normal(torch.zeros(3, 2), 1.0).to_event(1)
        >>> p = dist.Normal(torch.zeros(2), 1.0).to_event(1).expand([3])
        >>> per_dim_kl(q, p).shape
        torch.Size([3, 2])
    """
    kl = kl_divergence(_base(q), _base(p))
    if kl.shape != q.batch_shape + q.event_shape:
        raise NotImplementedError("the KL does not factorise over latent dimensions")
    return kl


def _base(d: Distribution) -> Distribution:
    while isinstance(d, Independent):
        d = d.base_dist
    return d


def check_free_bits(model: Callable, guide: Callable, *args: Any) -> None:
    """Refuse free bits when some latent site's KL is not available per dimension.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,),
        ...                             prior="student-t"))
        >>> check_free_bits(vae.model, vae.guide, torch.ones(3, 4))
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: free bits need a closed-form KL per latent dimension, \
and site 'z' has none (Normal guide, StudentT prior); use a factorised prior with an \
analytic KL such as normal or learned
    """
    model_trace, guide_trace = traces(model, guide, *args)
    latent = {n for n, s in model_trace.nodes.items() if s["type"] == "sample"}
    extra = [n for n, s in guide_trace.nodes.items() if s["type"] == "sample" and n not in latent]
    if extra:
        raise UserInputError(
            f"free bits need every guide site to be a latent site of the model; the guide's "
            f"{', '.join(map(repr, extra))} is not"
        )
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        q = guide_trace.nodes[name]["fn"]
        try:
            per_dim_kl(q, site["fn"])
        except NotImplementedError:
            raise UserInputError(
                f"free bits need a closed-form KL per latent dimension, and site {name!r} has "
                f"none ({type(_base(q)).__name__} guide, {type(_base(site['fn'])).__name__} "
                "prior); use a factorised prior with an analytic KL such as normal or learned"
            ) from None
