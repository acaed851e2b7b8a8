"""Finding and building priors by name, from a user's file, or from an importable module.

A prior *spec* is one of

* a registered name: ``normal``, ``learned``, ``mixture``, ``vamp``, ``flow``, ``resampled``,
  ``laplace``, ``student-t``, ``conditional``, ``markov``, ``iid``, or the improper ``flat``;
* ``path/to/file.py:Name`` — a class or callable defined in a user's file;
* ``package.module:Name`` — the same, from an importable module.

A class is instantiated with the keyword arguments its constructor accepts among
``latent_dim``, ``x_shape`` and ``context_dim`` (ppvae knows those) plus the user's
``--prior-arg key=value`` pairs, converted by the parameter's annotation. Any other
callable is used as the prior itself: ``prior(context)`` must return a Distribution.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from pyro.distributions import Distribution

from ppvae.errors import UserInputError
from ppvae.models.priors.conditional import ConditionalGaussian
from ppvae.models.priors.flat import FlatPrior
from ppvae.models.priors.flow import FlowPrior
from ppvae.models.priors.gaussian import IIDNormal, LearnedGaussian, StandardNormal
from ppvae.models.priors.heavy_tailed import LaplacePrior, StudentTPrior
from ppvae.models.priors.markov import MarkovPrior
from ppvae.models.priors.mixture import MixtureOfGaussians
from ppvae.models.priors.resampled import ResampledPrior
from ppvae.models.priors.vamp import VampPrior

PRIORS: dict[str, type] = {
    "normal": StandardNormal,
    "learned": LearnedGaussian,
    "mixture": MixtureOfGaussians,
    "vamp": VampPrior,
    "flow": FlowPrior,
    "resampled": ResampledPrior,
    "laplace": LaplacePrior,
    "student-t": StudentTPrior,
    "conditional": ConditionalGaussian,
    "markov": MarkovPrior,
    "iid": IIDNormal,
}
# Improper priors (no density to sample or integrate): the deterministic autoencoders' flat prior.
IMPROPER_PRIORS: dict[str, type] = {"flat": FlatPrior}
KNOWN = ("latent_dim", "x_shape", "context_dim")


def parse_prior_args(items: Sequence[str]) -> dict[str, str]:
    """``["components=50", "flow=spline"]`` -> ``{"components": "50", "flow": "spline"}``.

    Example:
        >>> parse_prior_args(["components=50", "df=2.5"])
        {'components': '50', 'df': '2.5'}
    """
    args: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserInputError(f"--prior-arg must look like key=value, got {item!r}")
        args[key.strip().replace("-", "_")] = value.strip()
    return args


def canonical_spec(spec: str) -> str:
    """The spec with a file path made absolute, so a saved run finds the file from anywhere.

    Example:
        >>> canonical_spec("mixture")
        'mixture'
        >>> canonical_spec("my_prior.py:P").endswith("/my_prior.py:P")
        True
    """
    where, sep, name = spec.rpartition(":")
    if sep and where.endswith(".py"):
        return f"{Path(where).resolve()}:{name}"
    return spec


def resolve_prior(spec: str) -> Callable:
    """The class or callable a prior spec names.

    Example:
        >>> resolve_prior("mixture").__name__
        'MixtureOfGaussians'
    """
    if spec in PRIORS or spec in IMPROPER_PRIORS:
        return PRIORS.get(spec) or IMPROPER_PRIORS[spec]
    if ":" not in spec:
        raise UserInputError(
            f"unknown prior {spec!r}; choose one of {', '.join([*PRIORS, *IMPROPER_PRIORS])}, "
            "or give path/to/file.py:Name or package.module:Name"
        )
    where, _, name = spec.rpartition(":")
    module = _load_file(Path(where)) if where.endswith(".py") else _import(where)
    if not hasattr(module, name):
        raise UserInputError(f"{where} defines no {name!r}")
    found = getattr(module, name)
    if not callable(found):
        raise UserInputError(f"{spec} is not a class or a callable")
    return found


def make_prior(spec: str, args: dict[str, Any] | None = None, **known: Any) -> Callable:
    """Build the prior ``spec`` names; ``known`` holds ``latent_dim``, ``x_shape``,
    ``context_dim``; ``args`` are the user's extra constructor arguments.

    Example:
        >>> make_prior("mixture", {"components": "3"}, latent_dim=2).locs.shape
        torch.Size([3, 2])
    """
    found, args = resolve_prior(spec), dict(args or {})
    if not inspect.isclass(found):
        if args:
            raise UserInputError(f"{spec} is a function: it takes no --prior-arg")
        return found
    params = inspect.signature(found).parameters
    hints = _hints(found)
    unknown = [k for k in args if k not in params or k in KNOWN]
    if unknown:
        allowed = [p for p in params if p not in KNOWN and p != "self"]
        raise UserInputError(
            f"prior {spec} has no argument {', '.join(unknown)}; it takes {allowed or 'none'}"
        )
    kwargs = {k: v for k, v in known.items() if k in params}
    kwargs.update({k: _convert(spec, k, v, hints.get(k)) for k, v in args.items()})
    try:
        return found(**kwargs)
    except UserInputError:
        raise
    except (TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UserInputError(f"prior {spec} could not be built: {first}") from None


def latent_shape_of(prior: Callable, latent_dim: int, context: torch.Tensor | None) -> tuple:
    """Call ``prior`` and check what it returns: a Distribution with an empty batch shape
    (or, given a context, the context's batch) and a last event dimension of
    ``latent_dim``; returns its event shape.

    Example:
        >>> latent_shape_of(make_prior("markov", {"steps": "4"}, latent_dim=3), 3, None)
        (4, 3)
        >>> import pyro.distributions as dist
        >>> latent_shape_of(lambda context: dist.Normal(torch.zeros(3), 1.0), 3, None)
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: the prior's distribution has batch shape (3,) \
(expected ()): declare the latent dimensions as event dimensions, e.g. .to_event(1)
    """
    probe = _call(prior, context)
    if not isinstance(probe, Distribution):
        raise UserInputError(f"the prior returned {type(probe).__name__}, not a Distribution")
    batch = tuple(probe.batch_shape)
    # an unconditional prior may ignore a context (batch ()), a conditional one follows it
    expected_batch = () if context is None else tuple(context.shape[:1])
    if batch not in ((), expected_batch):
        raise UserInputError(
            f"the prior's distribution has batch shape {batch} (expected {expected_batch}): "
            "declare the latent dimensions as event dimensions, e.g. .to_event(1)"
        )
    shape = tuple(probe.event_shape)
    if not shape or shape[-1] != latent_dim:
        raise UserInputError(
            f"the prior's distribution has event shape {shape}; expected (..., {latent_dim}) "
            f"for latent_dim {latent_dim}"
        )
    return shape


def _call(prior: Callable, context: torch.Tensor | None) -> Any:
    try:
        return prior(context)
    except UserInputError:
        raise
    except Exception as err:
        raise UserInputError(f"calling the prior failed: {type(err).__name__}: {err}") from None


def _load_file(path: Path):
    if not path.is_file():
        raise UserInputError(f"prior file {path} does not exist")
    name = f"ppvae_user_prior_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise UserInputError(f"{path} failed to load: {type(err).__name__}: {err}") from None
    sys.modules[name] = module
    return module


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise UserInputError(f"cannot import {name!r} ({err})") from None


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:
        return {}


def _convert(spec: str, key: str, value: Any, hint: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value.startswith(("(", "[")) or "," in value:  # a tuple, e.g. hidden=64,64
        text = value if value.startswith(("(", "[")) else f"({value},)"
        try:
            return tuple(ast.literal_eval(text))
        except (ValueError, SyntaxError, TypeError):
            raise UserInputError(f"--prior-arg {key}={value} for {spec}: not a tuple") from None
    target = next((t for t in (bool, int, float, str) if _allows(hint, t)), None)
    try:
        if target is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if target in (int, float):
            return target(value)
        if target is str:
            return value
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        kind = target.__name__ if target else "a Python literal"
        raise UserInputError(f"--prior-arg {key}={value} for {spec}: expected {kind}") from None


def _allows(hint: Any, kind: type) -> bool:
    if hint is kind:
        return True
    return kind in typing.get_args(hint) and typing.get_origin(hint) is not tuple
