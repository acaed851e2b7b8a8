"""Entries of a comparison: a prior, optionally with settings that make a variant of it.

An entry is ``PRIOR`` or ``PRIOR@key=value,key=value``:

    normal                       the standard VAE
    normal@beta=4                a β-VAE with the same networks and budget
    vamp@components=100          a prior argument (any key that is not a setting)
    flow@arg.hidden=64           a prior argument named like a setting: ``arg.`` forces it
    normal@family=denoising-vae  a member of the autoencoder family (see ppvae.models.family)
    my_prior.py:Fancy@lr=3e-4    a user's prior with another learning rate

Keys are the :class:`~ppvae.models.ModelConfig` and :class:`~ppvae.inference.FitConfig`
fields that make a variant (objective, guide, corruption, penalties, optimiser; dashes or
underscores), ``family``, or the prior's own arguments.  What makes the comparison fair
cannot change per entry: the data, the networks and the likelihood (so that every log p(x)
is of the same data under comparable models), the budget (epochs, batch size, particles,
early stopping), the seed and the device.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from typing import Any

from ppvae.errors import UserInputError
from ppvae.inference.svi import FitConfig
from ppvae.models.build import ModelConfig
from ppvae.models.family import FAMILY, family_settings
from ppvae.runs import RunConfig

NETWORK = ("x_shape", "latent_dim", "hidden", "activation", "likelihood", "net", "channels")
BUDGET = ("epochs", "batch_size", "num_particles", "patience")
FIXED = (*NETWORK, *BUDGET, "context_dim", "condition_networks", "seed", "device", "progress")
PRESET_FIELDS = sorted({key for preset in FAMILY.values() for key in preset} - set(NETWORK))
PRIOR_ARG = "arg."


def parse_entry(entry: str) -> tuple[str, dict[str, str]]:
    """Split an entry into its prior spec and its ``key=value`` settings.

    Example:
        >>> parse_entry("normal@beta=4,anneal-steps=100")
        ('normal', {'beta': '4', 'anneal_steps': '100'})
        >>> parse_entry("path/to/p.py:Prior")
        ('path/to/p.py:Prior', {})
    """
    spec, sep, settings = entry.rpartition("@")
    if not sep or "/" in settings or ":" in settings:  # no settings; '@' in a path
        return entry, {}
    if not spec:
        raise UserInputError(f"{entry!r} names no prior before '@'")
    if not settings.strip():
        raise UserInputError(f"{entry!r} has nothing after '@'; give key=value settings")
    pairs: dict[str, str] = {}
    for item in settings.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key or not value.strip():
            raise UserInputError(f"{entry!r}: settings after '@' look like key=value, got {item!r}")
        if key in pairs:
            raise UserInputError(f"{entry!r} sets {key} twice")
        pairs[key] = value.strip()
    return spec, pairs


def variant_config(config: RunConfig, entry: str, seed: int, point_mass: bool = False) -> RunConfig:
    """``config`` with the entry's prior, settings and the training ``seed``; with
    ``point_mass`` the deterministic autoencoders (``normal@family=ae``) are allowed, for
    tasks that score them by reconstruction.

    Example:
        >>> base = RunConfig()
        >>> v = variant_config(base, "vamp@beta=2,components=50,arg.hidden=7", seed=3)
        >>> v.model.prior, v.model.prior_args, v.fit.beta, v.fit.seed
        ('vamp', {'components': '50', 'hidden': '7'}, 2.0, 3)
    """
    spec, settings = parse_entry(entry)
    model, fit = _model_settings(config.model), {}
    if "family" in settings:
        _apply_family(entry, spec, settings.pop("family"), model, point_mass)
    model.update(prior=spec, prior_args=dict(config.model.prior_args))
    model_fields = {f.name: f.type for f in fields(ModelConfig)}
    fit_fields = {f.name: f.type for f in fields(FitConfig)}
    for key, text in settings.items():
        if key.startswith(PRIOR_ARG):
            model["prior_args"][key.removeprefix(PRIOR_ARG)] = text
        elif key in FIXED or key in ("prior", "prior_args"):
            raise UserInputError(
                f"{entry!r}: {key} is held equal across a comparison; set it for all entries"
                + (
                    f" (or write {PRIOR_ARG}{key}= for the prior's own argument)"
                    if key in NETWORK
                    else ""
                )
            )
        elif key in model_fields:
            model[key] = _coerce(entry, key, text, str(model_fields[key]))
        elif key in fit_fields:
            fit[key] = _coerce(entry, key, text, str(fit_fields[key]))
        else:
            model["prior_args"][key] = text  # the prior's own argument; checked when built
    return replace(
        config,
        model=ModelConfig(**model),
        fit=replace(config.fit, seed=seed, **fit),
    )


def _apply_family(
    entry: str, spec: str, member: str, model: dict[str, Any], point_mass: bool
) -> None:
    """Replace what any preset sets (but the networks) by ``member``'s preset."""
    preset = family_settings(member)
    if preset.get("guide") == "delta" and not point_mass:
        raise UserInputError(
            f"{entry!r}: family {member} is a point-mass autoencoder with no log p(x) to "
            "compare; compare autoencoders with ppvae denoise or ppvae probe"
        )
    changed = sorted(set(preset) & set(NETWORK))
    if changed:
        raise UserInputError(
            f"{entry!r}: family {member} changes {', '.join(changed)}, which a comparison "
            "holds equal"
        )
    if preset.get("prior", spec) != spec:
        raise UserInputError(
            f"{entry!r}: family {member} has the prior {preset['prior']}; "
            f"write {preset['prior']}@family={member}"
        )
    for key in PRESET_FIELDS:
        model[key] = _default(ModelConfig, key)
    model.update(preset)


def _model_settings(model: ModelConfig) -> dict[str, Any]:
    return {f.name: getattr(model, f.name) for f in fields(ModelConfig)}


def _default(kind: type, key: str) -> Any:
    return getattr(kind(), key)


def _coerce(entry: str, key: str, text: str, kind: str) -> Any:
    """A setting's text as the type its field is annotated with (``none`` for None)."""
    base = kind.removesuffix("| None").strip()
    if kind.endswith("| None") and text.lower() == "none":
        return None
    try:
        return {"int": int, "float": float, "str": str}[base](text)
    except (ValueError, KeyError):
        raise UserInputError(f"{entry!r}: {key}={text!r} is not a valid {base}") from None


def entry_slug(entry: str) -> str:
    """A folder name for an entry (``path/to/my.py:Prior`` → ``my.py-Prior``).

    Example:
        >>> entry_slug("priors/mine.py:Fancy"), entry_slug("normal"), entry_slug("normal@beta=4")
        ('mine.py-Fancy', 'normal', 'normal-beta-4')
    """
    spec, sep, settings = entry.rpartition("@")
    spec, settings = (spec, "@" + settings) if sep else (settings, "")
    name = spec.replace("\\", "/").split("/")[-1] + settings
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
