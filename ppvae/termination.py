"""SIGTERM handled like Ctrl-C, so a run stopped by ``kill``, a job scheduler or a
container's shutdown keeps what it has finished, exactly as an interrupted one does.

``ppvae fit`` saves its last finished epoch and ``ppvae evaluate`` its finished test
batches when a ``KeyboardInterrupt`` passes through them; :func:`sigterm_as_interrupt`
turns the first SIGTERM into :class:`Terminated`, a ``KeyboardInterrupt``, so the same
code runs.  A second SIGTERM is not caught: it ends the process at once, as usual.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """Raised where the program is when SIGTERM arrives inside :func:`sigterm_as_interrupt`."""


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, the first SIGTERM raises :class:`Terminated`; the handler in place
    before is restored afterwards.  Outside the main thread (where Python cannot install a
    handler) the block runs unchanged.

    Example:
        >>> import os
        >>> try:
        ...     with sigterm_as_interrupt():
        ...         os.kill(os.getpid(), signal.SIGTERM)
        ... except Terminated:
        ...     print("stopped, and everything finished was kept")
        stopped, and everything finished was kept
    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
