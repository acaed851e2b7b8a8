"""Type and range checks for the configuration dataclasses.

Settings arrive from the command line, from Python, and from ``config.json`` files that a
user may have edited by hand; every configuration checks its own fields in
``__post_init__`` so a wrong value is one clear :class:`UserInputError`, not a traceback
from deep inside torch.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from ppvae.errors import UserInputError

MAX_SEED = 2**63 - 1


def check_fields(config: Any) -> None:
    """Raise :class:`UserInputError` unless each field of the dataclass ``config`` has the
    type its annotation names (JSON lists are accepted for tuples).

    Example:
        >>> @dataclasses.dataclass
        ... class C:
        ...     n: int = 1
        >>> check_fields(C(n=2))
        >>> check_fields(C(n="2"))
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: C.n must be int, got '2'
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, hint = getattr(config, field.name), hints[field.name]
        if not _matches(value, hint):
            raise UserInputError(
                f"{type(config).__name__}.{field.name} must be {_describe(hint)}, got {value!r}"
            )


def check_seed(name: str, value: int) -> None:
    """Seeds are integers in [0, 2**63).

    Example:
        >>> check_seed("seed", -1)
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: seed must be in [0, 2**63), got -1
    """
    if not 0 <= value <= MAX_SEED:
        raise UserInputError(f"{name} must be in [0, 2**63), got {value}")


def check_positive(name: str, value: float | None, allow_none: bool = False) -> None:
    """``value`` must be > 0 (or None when allowed).

    Example:
        >>> check_positive("batch_size", 0)
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: batch_size must be positive, got 0
    """
    if value is None and allow_none:
        return
    if value is None or not value > 0:
        raise UserInputError(f"{name} must be positive, got {value}")


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        element = typing.get_args(hint)[0]
        return isinstance(value, tuple | list) and all(_matches(v, element) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
