"""Honest evaluation: per-data-point ELBO and importance-sampled log p(x), with errors.

For every data point x the guide proposes K samples z_k ~ q(z|x) and

    log p(x) ≈ logsumexp_k [log p(x, z_k) − log q(z_k|x)] − log K        (Burda et al., 2016)

which is a lower bound in expectation that tightens as K grows, and is never smaller
than the ELBO on average.  Samples live in a ``"particles"`` plate of their own, the
log-sum-exp is taken per data point, and K is processed in chunks so memory stays bounded
for K = 5000.  Nothing here takes a gradient or changes a parameter.

The deterministic autoencoders have no log p(x): a point-mass guide has no density to
importance-sample with, and a flat prior none to integrate.  For them one "sample" (the
code) is scored, ``log_likelihood`` is NaN and ``elbo`` is the training objective
log p(x|ẑ) + log p(ẑ), which is not a bound.  ``pyro.factor`` penalties (contractive,
sparsity) shape training only and are left out of every figure here, as β is.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import prune_subsample_sites
from torch import nn
from tqdm.auto import tqdm

from ppvae.errors import UserInputError
from ppvae.inference.checkpoint import rng_state, set_rng_state
from ppvae.inference.elbo import max_plate_nesting, traces
from ppvae.inference.resumable import Partial, fingerprint
from ppvae.seeding import seeded

DATA_PLATE = "data"
ACTIVE_THRESHOLD = 0.01  # Burda et al. (2016): a unit is active if Cov_x(E_q[z_u]) > 0.01


@dataclass
class Pointwise:
    """Per-data-point estimates, each of shape (N,) in nats, plus posterior means (N, L).

    ``elbo == -(kl + reconstruction)`` exactly; ``kl`` is analytic where every latent site
    has a closed-form KL, otherwise the Monte-Carlo average over the K samples.  For a
    point-mass guide or an improper prior ``log_likelihood`` is NaN (see the module notes).
    """

    log_likelihood: torch.Tensor
    elbo: torch.Tensor
    kl: torch.Tensor
    reconstruction: torch.Tensor
    posterior_mean: torch.Tensor
    num_samples: int
    defined: bool = True  # False: log p(x) is undefined (point mass or improper prior)


@dataclass
class Metrics:
    """Summary of :class:`Pointwise` estimates: means over data points and standard errors.

    Every value is in nats per data point; ``bits_per_dim`` is ``None`` for continuous data
    and wherever log p(x) is undefined (``log_likelihood`` is then NaN and ``point_estimate``
    is True: a point-mass guide or an improper prior).
    """

    elbo: float
    elbo_se: float
    log_likelihood: float
    log_likelihood_se: float
    kl: float
    reconstruction: float
    active_units: int
    bits_per_dim: float | None
    num_samples: int
    num_points: int
    seconds: float
    point_estimate: bool = False

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)


def mean_and_se(values: torch.Tensor) -> tuple[float, float]:
    """Mean and its standard error, std / sqrt(N) (0 for a single value).

    Example:
        >>> mean_and_se(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        (2.5, 0.6454972243679028)
    """
    values = values.double()
    if values.numel() < 2:
        return values.mean().item(), 0.0
    return values.mean().item(), (values.std(unbiased=True) / math.sqrt(values.numel())).item()


def active_units(posterior_mean: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Number of latent units whose posterior mean varies across data: Cov_x(E_q[z]) > threshold.

    Example:
        >>> means = torch.stack([torch.randn(500), torch.full((500,), 0.3)], dim=1)
        >>> active_units(means)
        1

    References:
        Burda, Grosse, Salakhutdinov. Importance weighted autoencoders (ICLR 2016).
    """
    if posterior_mean.shape[0] < 2:
        return 0
    return int((posterior_mean.double().var(dim=0) > threshold).sum().item())


def evaluate(
    vae: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, num_samples: int = 5000, **kw
) -> Metrics:
    """Mean ELBO and importance-sampled log p(x) (with standard errors), KL, reconstruction,
    active units and bits per dimension of ``vae`` on data ``x``.

    Other keywords (``batch_size``, ``seed``, ``progress``, ``max_elements``) are those of
    :func:`pointwise`.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> x = torch.bernoulli(torch.full((20, 6), 0.3))
        >>> m = evaluate(vae, x, num_samples=50)
        >>> m.num_points, m.log_likelihood >= m.elbo, m.bits_per_dim is not None
        (20, True, True)
    """
    start = time.perf_counter()
    points = pointwise(vae, x, y, num_samples, **kw)
    return summarize(points, is_discrete(vae), math.prod(x.shape[1:]), time.perf_counter() - start)


def summarize(points: Pointwise, discrete: bool, x_numel: int, seconds: float = 0.0) -> Metrics:
    """Means and standard errors of per-data-point estimates.

    Example:
        >>> t = torch.tensor([-2.0, -4.0])
        >>> m = summarize(Pointwise(t + 1, t, -t / 2, -t / 2, torch.zeros(2, 1), 10), True, 4)
        >>> m.elbo, m.log_likelihood, m.active_units
        (-3.0, -2.0, 0)
    """
    elbo, elbo_se = mean_and_se(points.elbo)
    ll, ll_se = mean_and_se(points.log_likelihood)
    undefined = not points.defined
    return Metrics(
        elbo=elbo,
        elbo_se=elbo_se,
        log_likelihood=ll,
        log_likelihood_se=ll_se,
        kl=points.kl.double().mean().item(),
        reconstruction=points.reconstruction.double().mean().item(),
        active_units=active_units(points.posterior_mean),
        bits_per_dim=-ll / (x_numel * math.log(2)) if discrete and not undefined else None,
        num_samples=points.num_samples,
        num_points=len(points.elbo),
        seconds=seconds,
        point_estimate=undefined,
    )


def log_likelihood(
    vae: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, num_samples: int = 5000, **kw
) -> torch.Tensor:
    """Importance-sampled log p(x) for every data point, shape (N,).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> log_likelihood(vae, torch.ones(3, 6), num_samples=20).shape
        torch.Size([3])
    """
    return pointwise(vae, x, y, num_samples, **kw).log_likelihood


def elbo(
    vae: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, num_particles: int = 1, **kw
) -> torch.Tensor:
    """ELBO of every data point (analytic KL where available), shape (N,).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> x = torch.ones(3, 6)
        >>> bound = elbo(vae, x, num_particles=50)
        >>> bool((bound <= log_likelihood(vae, x, num_samples=2000) + 0.5).all())
        True
    """
    return pointwise(vae, x, y, num_particles, **kw).elbo


@contextlib.contextmanager
def scoring(vae: nn.Module) -> Iterator[nn.Module]:
    """Score ``vae`` as a model, not as a training objective: evaluation mode (no dropout,
    no denoising corruption), no ``pyro.factor`` penalties, nothing registered in Pyro's
    param store; the training mode is restored afterwards.

    Example:
        >>> from ppvae.models import build_vae, family_config
        >>> dae = build_vae(family_config("denoising", x_shape=(6,), latent_dim=2))
        >>> with scoring(dae):
        ...     dae.training
        False
        >>> dae.training
        True
    """
    was_training = vae.training
    vae.eval()
    store_off = getattr(vae, "param_store_off", contextlib.nullcontext)()
    penalties_off = getattr(vae, "penalties_off", contextlib.nullcontext)()
    try:
        with store_off, penalties_off:
            yield vae
    finally:
        vae.train(was_training)


@torch.no_grad()
def pointwise(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    num_samples: int = 5000,
    batch_size: int = 100,
    seed: int = 0,
    progress: bool = False,
    max_elements: int = 2**24,
    partial_dir: str | os.PathLike | None = None,
) -> Pointwise:
    """Per-data-point estimates from ``num_samples`` guide samples per data point.

    Data are processed ``batch_size`` points at a time and the samples in chunks of at most
    ``max_elements / (batch_size * cost)`` so memory stays bounded, the cost of a sample
    being the larger of a data point's size and a mixture prior's components × latent
    size (see :func:`elements_per_sample`).  Sampling is seeded
    by ``seed`` without disturbing the caller's random state.

    With ``partial_dir`` a folder, the finished batches are kept in a file there (after a
    batch once :data:`~ppvae.inference.resumable.SAVE_EVERY_SECONDS` have passed, and when
    interrupted), and a later call with the same model, data and settings goes on from
    them with the same random stream, so its result equals an uninterrupted one; the file
    is deleted when the evaluation completes (see :mod:`ppvae.inference.resumable`).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> p = pointwise(vae, torch.ones(4, 6), num_samples=10)
        >>> p.log_likelihood.shape, p.posterior_mean.shape
        (torch.Size([4]), torch.Size([4, 2]))
    """
    if num_samples < 1:
        raise UserInputError(f"num_samples must be >= 1, got {num_samples}")
    if len(x) == 0:
        raise UserInputError("there are no data points to evaluate")
    likelihood = getattr(vae, "likelihood", None)
    if likelihood is not None:
        likelihood.check_data(x)  # once, on all of x; Pyro's per-chunk checks are off below
    settings = {
        "num_samples": num_samples,
        "batch_size": batch_size,
        "seed": seed,
        "max_elements": max_elements,
    }
    with scoring(vae), seeded(seed), pyro.validation_enabled(False):
        key = _evaluation_key(vae, x, y, **settings) if partial_dir else ""
        done = Partial.open(partial_dir, key)
        done.settings = settings
        defined, nesting, chunk = _plan(vae, x, y, num_samples, batch_size, max_elements, seed)
        if not defined:
            num_samples = chunk = 1  # one code per point; importance sampling is undefined
        if done.rng is not None:
            set_rng_state(done.rng)  # the stream as it was after the last saved batch
        plan = (num_samples, chunk, nesting)
        _evaluate_batches(vae, x, y, batch_size, plan, done, progress)
    parts = done.parts
    done.finish()
    cat = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    if not defined:
        cat["log_likelihood"] = torch.full_like(cat["log_likelihood"], math.nan)
    return Pointwise(num_samples=num_samples, defined=defined, **cat)


def evaluation_key(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    num_samples: int = 5000,
    batch_size: int = 100,
    seed: int = 0,
    max_elements: int = 2**24,
) -> str:
    """The fingerprint under which :func:`pointwise` with the same arguments and a
    ``partial_dir`` keeps its finished batches (:class:`~ppvae.inference.resumable.Partial`):
    equal keys mean the same weights, data and settings, so those batches are this
    evaluation's.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> x = torch.ones(4, 6)
        >>> evaluation_key(vae, x, num_samples=10) == evaluation_key(vae, x, num_samples=20)
        False
    """
    with scoring(vae):
        return _evaluation_key(vae, x, y, num_samples, batch_size, seed, max_elements)


def _evaluation_key(vae, x, y, num_samples, batch_size, seed, max_elements) -> str:
    device = next(iter(vae.parameters()), torch.empty(0)).device
    settings = {"k": num_samples, "b": batch_size, "seed": seed, "max_elements": max_elements}
    return fingerprint(vae, [x, y], device=device.type, **settings)


def _evaluate_batches(vae, x, y, batch_size, plan, done: Partial, progress: bool) -> None:
    """Add each data batch's estimates to ``done`` after those already there, saving them
    now and then and when interrupted; ``plan`` is (K, chunk, nesting)."""
    device = next(iter(vae.parameters()), torch.empty(0)).device
    starts = range(0, len(x), batch_size)
    bar = tqdm(
        total=len(starts),
        initial=len(done.parts),
        disable=not progress,
        desc="evaluate",
        unit="batch",
    )
    try:
        for start in starts[len(done.parts) :]:
            xb, yb = _batch(x, y, start, batch_size, device)
            part = _batch_estimates(vae.model, vae.guide, xb, yb, *plan)
            done.add(part, rng_state())
            if done.due():
                done.save()
            bar.update()
    except BaseException:
        done.save()  # keep what finished; the batch in flight is redone
        raise
    finally:
        bar.close()


@torch.no_grad()
def importance_log_weights(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    num_samples: int = 1000,
    batch_size: int = 100,
    seed: int = 0,
) -> torch.Tensor:
    """Log importance weights log p(x, z_k) − log q(z_k | x), k = 1..K, per data point:
    shape (N, K), float64.  Their log-mean-exp is the estimate of log p(x) that
    :func:`pointwise` reports; their spread says how good the guide is as a proposal
    (see :mod:`ppvae.inference.diagnostics`).  Memory is N·K numbers: use a subset of the
    data for large K.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> importance_log_weights(vae, torch.ones(3, 6), num_samples=20).shape
        torch.Size([3, 20])
    """
    return importance_draws(vae, x, y, num_samples, batch_size, seed)[0]


@torch.no_grad()
def importance_draws(
    vae: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    num_samples: int = 1000,
    batch_size: int = 100,
    seed: int = 0,
    keep_latents: int = 0,
    max_elements: int = 2**24,
    site: str | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The guide's draws z_k ~ q(z | x) and their log importance weights.

    Returns ``(log_weights, latents)``: log weights (N, K) in float64 as in
    :func:`importance_log_weights`, and the draws of the first ``keep_latents`` data
    points, flattened to (min(N, keep_latents), K, L) (L numbers in z; a (T, D) sequence
    latent gives L = T·D).  ``site`` keeps one latent site's draws (``"z"``, the top layer
    of a hierarchical VAE); by default every latent site's, concatenated in guide order.
    Samples are drawn in chunks as in :func:`pointwise`; ``progress`` shows a bar over the
    batches.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> lw, z = importance_draws(vae, torch.ones(3, 6), num_samples=20, keep_latents=2)
        >>> lw.shape, z.shape
        (torch.Size([3, 20]), torch.Size([2, 20, 2]))
    """
    if num_samples < 1 or len(x) == 0:
        raise UserInputError("need at least one sample and one data point")
    device = next(iter(vae.parameters()), torch.empty(0)).device
    weights, latents = [], []
    with scoring(vae), seeded(seed), pyro.validation_enabled(False):
        defined, nesting, chunk = _plan(vae, x, y, num_samples, batch_size, max_elements, seed)
        if not defined:
            raise UserInputError("a point-mass guide or a flat prior has no importance weights")
        starts = range(0, len(x), batch_size)
        for start in tqdm(starts, desc="draw", unit="batch", disable=not progress):
            xb, yb = _batch(x, y, start, batch_size, device)
            keep = max(0, min(keep_latents - start, len(xb)))
            w, z = [], []
            for done in range(0, num_samples, chunk):
                n = min(chunk, num_samples - done)
                terms = _log_terms(vae.model, vae.guide, xb, yb, n, nesting)
                log_w = terms["lik"].double() + terms["prior"].double() - terms["q"].double()
                w.append(log_w.T.cpu())  # (B, n)
                draws = terms["z"] if site is None else _site_draws(terms, site)
                z.append(draws.transpose(0, 1)[:keep].cpu())  # (keep, n, L)
            weights.append(torch.cat(w, dim=1))
            if keep:
                latents.append(torch.cat(z, dim=1))
    z = torch.cat(latents) if latents else torch.empty(0, num_samples, 0)
    return torch.cat(weights), z


def _plan(vae, x, y, num_samples, batch_size, max_elements, seed) -> tuple[bool, int, int]:
    """Probe the first points: whether log p(x) is defined, the plate nesting, and how
    many samples a chunk may hold; seeded apart, so the estimator's stream is untouched."""
    device = next(iter(vae.parameters()), torch.empty(0)).device
    first = _batch(x, y, 0, 2, device)
    nesting = max_plate_nesting(vae.model, vae.guide, *first)
    with seeded(seed):
        defined = has_log_likelihood(vae.model, vae.guide, *first)
        cost = max(math.prod(x.shape[1:]), elements_per_sample(vae.model, vae.guide, *first))
    return defined, nesting, max(1, min(num_samples, max_elements // (batch_size * cost)))


def _site_draws(terms: dict, site: str) -> torch.Tensor:
    if site not in terms["sites"]:
        names = list(terms["sites"])
        raise UserInputError(f"the guide has no latent site {site!r}: it has {names}")
    return terms["sites"][site]


def elements_per_sample(model: Callable, guide: Callable, *args) -> int:
    """Numbers one importance sample of one data point makes the estimator hold: the
    largest of the observed sites' sizes and, for a mixture distribution at a latent site,
    its components × event size (``MixtureSameFamily`` scores every z against every
    component, coordinate by coordinate) or its components (``DiagonalGaussianMixture``).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> x = torch.ones(2, 64)
        >>> vae = build_vae(ModelConfig(x_shape=(64,), latent_dim=8, hidden=(8,)))
        >>> elements_per_sample(vae.model, vae.guide, x)
        64
        >>> vamp = build_vae(ModelConfig(x_shape=(64,), latent_dim=8, hidden=(8,),
        ...                              prior="vamp", prior_args={"components": "30"}))
        >>> elements_per_sample(vamp.model, vamp.guide, x)  # 30 components, each one number
        64
    """
    model_trace, _ = traces(model, guide, *args)
    cost = 1
    for _, site in _sample_sites(model_trace):
        fn, size = site["fn"], 1
        while isinstance(fn, torch.distributions.Independent):
            fn = fn.base_dist
        if site["is_observed"]:
            size = math.prod(site["fn"].event_shape) or 1
        elif hasattr(fn, "components") and isinstance(fn.components, int):
            size = fn.components  # DiagonalGaussianMixture: K numbers per point
        elif isinstance(fn, torch.distributions.MixtureSameFamily):
            component = fn.component_distribution
            size = component.batch_shape[-1] * (math.prod(component.event_shape) or 1)
        cost = max(cost, size)
    return cost


def _innermost(fn):
    while isinstance(fn, torch.distributions.Independent):
        fn = fn.base_dist
    return fn


def has_log_likelihood(model: Callable, guide: Callable, *args) -> bool:
    """Whether log p(x) is defined and can be importance-sampled: False for a point-mass
    (Delta) guide site or an improper (flat) prior site.

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> x = torch.ones(2, 6)
        >>> vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
        >>> ae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, guide="delta", prior="flat"))
        >>> has_log_likelihood(vae.model, vae.guide, x), has_log_likelihood(ae.model, ae.guide, x)
        (True, False)
    """
    model_trace, guide_trace = traces(model, guide, *args)
    for trace, degenerate in ((guide_trace, dist.Delta), (model_trace, dist.ImproperUniform)):
        for _, site in _sample_sites(trace):
            if not site["is_observed"] and isinstance(_innermost(site["fn"]), degenerate):
                return False
    return True


def _batch(x, y, start, size, device):
    xb = x[start : start + size].to(device)
    return xb, (None if y is None else y[start : start + size].to(device))


def is_discrete(vae: nn.Module) -> bool:
    """Whether ``vae``'s likelihood is over discrete data (so bits per dimension apply).

    Example:
        >>> from ppvae.models import build_vae, ModelConfig
        >>> is_discrete(build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,))))
        True
    """
    return bool(getattr(getattr(vae, "likelihood", None), "discrete", False))


def _batch_estimates(
    model, guide, x, y, k: int, chunk: int, nesting: int
) -> dict[str, torch.Tensor]:
    """Accumulate one data batch over K samples, ``chunk`` samples at a time."""
    lse = torch.full((x.shape[0],), -math.inf, dtype=torch.float64, device=x.device)
    sum_lik = torch.zeros_like(lse)
    sum_log_ratio = torch.zeros_like(lse)  # sum_k [log q(z_k|x) - log p(z_k)]
    kl, mean = None, None
    done = 0
    while done < k:
        n = min(chunk, k - done)
        terms = _log_terms(model, guide, x, y, n, nesting)
        log_w = terms["lik"] + terms["prior"] - terms["q"]  # (n, B)
        lse = torch.logaddexp(lse, torch.logsumexp(log_w.double(), dim=0))
        sum_lik += terms["lik"].double().sum(0)
        sum_log_ratio += (terms["q"] - terms["prior"]).double().sum(0)
        kl = terms["kl"] * n if kl is None else kl + terms["kl"] * n  # varies with z above
        mean = terms["mean"] * n if mean is None else mean + terms["mean"] * n
        done += n
    analytic = kl is not None and not torch.isnan(kl).any()
    rate = kl.double() / k if analytic else sum_log_ratio / k
    distortion = -sum_lik / k
    return {
        "log_likelihood": (lse - math.log(k)).cpu(),
        "elbo": (-(rate + distortion)).cpu(),
        "kl": rate.cpu(),
        "reconstruction": distortion.cpu(),
        "posterior_mean": (mean / k).cpu(),
    }


def _vectorize(fn: Callable, k: int, nesting: int) -> Callable:
    def vectorized(*args):
        with pyro.plate("particles", k, dim=-(nesting + 1)):
            return fn(*args)

    return vectorized


def _log_terms(model, guide, x, y, k: int, nesting: int) -> dict[str, torch.Tensor]:
    """Per-(sample, data point) log p(x|z), log p(z), log q(z|x), each (k, B); the analytic
    KL per data point (B,) where available (NaN otherwise), the posterior mean (B, L) and
    the draws themselves (k, B, L), all sites concatenated and per site in ``sites``."""
    guide_trace = poutine.trace(_vectorize(guide, k, nesting)).get_trace(x, y)
    model_trace = poutine.trace(
        poutine.replay(_vectorize(model, k, nesting), trace=guide_trace)
    ).get_trace(x, y)
    zeros = torch.zeros(k, x.shape[0], device=x.device)
    terms = {"lik": zeros, "prior": zeros, "q": zeros}
    kl = torch.zeros(x.shape[0], device=x.device)
    means, draws, sites = [], [], {}
    for name, site in _sample_sites(model_trace):
        if isinstance(site["fn"], dist.Unit):
            continue  # a pyro.factor penalty: training-only, not part of p(x, z)
        key = "lik" if site["is_observed"] else "prior"
        terms[key] = terms[key] + _per_point(site, _log_prob(site), nesting)
        if not site["is_observed"]:
            q_site = guide_trace.nodes[name]
            kl = kl + _analytic_kl(q_site, site, nesting)
    for name, site in _sample_sites(guide_trace):
        terms["q"] = terms["q"] + _per_point(site, _log_prob(site), nesting)
        means.append(_posterior_mean(site, nesting))
        sites[name] = _draws(site, nesting)
        draws.append(sites[name])
    mean, z = torch.cat(means, dim=1), torch.cat(draws, dim=2)
    return {**terms, "kl": kl, "mean": mean, "z": z, "sites": sites}


def _sample_sites(trace):
    for name, site in prune_subsample_sites(trace).nodes.items():
        if site["type"] == "sample":
            yield name, site


def _log_prob(site) -> torch.Tensor:
    # Unscaled density: evaluation scores the model itself, whatever poutine.scale
    # (beta, annealing) training applied; masked entries count as zero.
    return scale_and_mask(site["fn"].log_prob(site["value"]), 1.0, site["mask"])


def _data_dim(site) -> int:
    for frame in site["cond_indep_stack"]:
        if frame.name == DATA_PLATE:
            return frame.dim
    raise UserInputError(
        f"sample site {site['name']!r} is outside the {DATA_PLATE!r} plate, so the "
        "per-data-point log-likelihood is not defined"
    )


def _per_point(site, value: torch.Tensor, nesting: int) -> torch.Tensor:
    """Reduce a batch-shaped tensor to (particles, data), summing over every other plate."""
    full = value.reshape((1,) * (nesting + 1 - value.dim()) + tuple(value.shape))
    out = full.movedim(nesting + 1 + _data_dim(site), 1)  # (k, B, other plates...)
    return out.flatten(2).sum(-1) if out.dim() > 2 else out


def _analytic_kl(q_site, p_site, nesting: int) -> torch.Tensor:
    try:
        kl = torch.distributions.kl_divergence(q_site["fn"], p_site["fn"])
    except NotImplementedError:
        return torch.full((), math.nan)
    # mean over the particles: a lower layer's KL depends on the sampled layer above
    return _per_point(p_site, kl, nesting).mean(0)


def _posterior_mean(site, nesting: int) -> torch.Tensor:
    """E_q[z] per data point, flattened to (B, L); the sample itself if no closed form."""
    try:
        mean = site["fn"].mean
    except NotImplementedError:
        mean = site["value"]
    batch_dims = len(site["fn"].batch_shape)
    full = mean.reshape((1,) * (nesting + 1 - batch_dims) + tuple(mean.shape))
    data_axis = nesting + 1 + _data_dim(site)
    # mean over the particles: a lower layer's posterior mean depends on the z drawn above
    return full.mean(0).movedim(data_axis - 1, 0).reshape(full.shape[data_axis], -1)


def _draws(site, nesting: int) -> torch.Tensor:
    """The site's sampled values as (particles, data points, L), L the numbers per point."""
    value = site["value"]
    batch_dims = len(site["fn"].batch_shape)
    full = value.reshape((1,) * (nesting + 1 - batch_dims) + tuple(value.shape))
    out = full.movedim(nesting + 1 + _data_dim(site), 1)  # (k, B, other batch dims, *event)
    return out.reshape(out.shape[0], out.shape[1], -1)
