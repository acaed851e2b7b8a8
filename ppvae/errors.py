"""The one exception type for mistakes a user can fix.

Library code raises :class:`UserInputError` for bad input (a missing file, a wrong shape,
an unknown option value, a corrupt checkpoint).  The command line turns it into a single
line on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """Bad input that the user can correct; the CLI reports it and exits with code 2.

    Example:
        >>> try:
        ...     raise UserInputError("unknown likelihood 'poisson'")
        ... except ValueError as err:
        ...     print(err)
        unknown likelihood 'poisson'
    """
