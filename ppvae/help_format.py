"""The help formatter of every ``ppvae`` command."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show an option's default once: skip ``None`` and defaults the help already states.

    Example:
        >>> p = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
        >>> _ = p.add_argument("--a", default=None, help="size [default: 3]")
        >>> _ = p.add_argument("--b", default=2, help="count")
        >>> text = p.format_help()
        >>> "(default: None)" in text, "(default: 2)" in text
        (False, True)
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is argparse.SUPPRESS:
            return text
        if "[default" in text or "%(default)" in text or action.default is False:
            return text
        return super()._get_help_string(action)


def add_command(
    sub: argparse._SubParsersAction, name: str, help: str, description: str, **kwargs
) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` as every ``ppvae`` command is made: this module's help
    formatter, and no abbreviated options (``--epoch`` is an error, not ``--epochs``).

    Example:
        >>> sub = argparse.ArgumentParser().add_subparsers()
        >>> p = add_command(sub, "fit", help="fit", description="Fit a model.")
        >>> p.allow_abbrev, p.formatter_class is DefaultsHelpFormatter
        (False, True)
    """
    return sub.add_parser(
        name,
        help=help,
        description=description,
        formatter_class=DefaultsHelpFormatter,
        allow_abbrev=False,
        **kwargs,
    )
