"""Entries of a comparison: a prior, optionally with settings that make a variant of it.

An entry is ``PRIOR`` or ``PRIOR@key=value,key=value``:

    normal                       the standard VAE
    normal@beta=4                a β-VAE with the same networks and budget
    vamp@components=100          a prior argument (any key that is not a setting)
    normal@family=denoising-vae  a member of the autoencoder family (see ppvae.models.family)
    my_prior.py:Fancy@lr=3e-4    a user's prior with another learning rate

Keys are :class:`~ppvae.models.ModelConfig` and :class:`~ppvae.inference.FitConfig` fields
(dashes or underscores), ``family``, or the prior's own arguments.  What makes the
comparison fair cannot be changed per entry: the data, the budget (epochs, batch size),
the seed, the device.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from ppvae.errors import UserInputError
from ppvae.inference.svi import FitConfig
from ppvae.models.build import ModelConfig
from ppvae.models.family import FAMILY, family_settings
from ppvae.runs import RunConfig

FIXED = ("x_shape", "context_dim", "epochs", "batch_size", "seed", "device", "progress")
PRESET_FIELDS = sorted({key for preset in FAMILY.values() for key in preset})
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


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


def variant_config(config: RunConfig, entry: str, seed: int) -> RunConfig:
    """``config`` with the entry's prior, settings and the training ``seed``.

    Example:
        >>> base = RunConfig()
        >>> v = variant_config(base, "vamp@beta=2,components=50,hidden=200+100", seed=3)
        >>> v.model.prior, v.model.prior_args, v.model.hidden, v.fit.beta, v.fit.seed
        ('vamp', {'components': '50'}, (200, 100), 2.0, 3)
    """
    spec, settings = parse_entry(entry)
    model, fit = _model_settings(config.model), {}
    if "family" in settings:
        for key in PRESET_FIELDS:  # a member's preset replaces what another preset set
            model[key] = _default(ModelConfig, key)
        model.update(family_settings(settings.pop("family")))
    model.update(prior=spec, prior_args=dict(config.model.prior_args))
    kinds = {f.name: f.type for f in fields(ModelConfig)} | {
        f.name: f.type for f in fields(FitConfig)
    }
    for key, text in settings.items():
        if key in FIXED or key in ("prior", "prior_args"):
            raise UserInputError(
                f"{entry!r}: {key} is held equal across a comparison; set it for all entries"
            )
        if key not in kinds:
            model["prior_args"][key] = text  # the prior's own argument; checked when built
            continue
        target = model if key in {f.name for f in fields(ModelConfig)} else fit
        target[key] = _coerce(entry, key, text, str(kinds[key]))
    return replace(
        config,
        model=ModelConfig(**model),
        fit=replace(config.fit, seed=seed, **fit),
    )


def _model_settings(model: ModelConfig) -> dict[str, Any]:
    return {f.name: getattr(model, f.name) for f in fields(ModelConfig)}


def _default(kind: type, key: str) -> Any:
    return getattr(kind(), key)


def _coerce(entry: str, key: str, text: str, kind: str) -> Any:
    """A setting's text as the type its field is annotated with."""
    optional = kind.endswith("| None")
    base = kind.removesuffix("| None").strip()
    if optional and text.lower() == "none":
        return None
    try:
        if base == "bool":
            if text.lower() not in TRUE + FALSE:
                raise ValueError(text)
            return text.lower() in TRUE
        if base.startswith("tuple[int"):
            return tuple(int(part) for part in text.split("+")) if text != "()" else ()
        return {"int": int, "float": float, "str": str}[base](text)
    except (ValueError, KeyError):
        raise UserInputError(
            f"{entry!r}: {key}={text!r} is not a valid {base}"
            + (" (widths joined by '+', e.g. 500+500)" if base.startswith("tuple") else "")
        ) from None
