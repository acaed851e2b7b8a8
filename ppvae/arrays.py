"""Reading a user's own data from ``.npy``, ``.npz`` or ``.csv`` files, safely.

Arrays are loaded with ``allow_pickle=False``; text, NaN, infinities, object arrays,
empty files and single examples are refused with one clear message.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from ppvae.errors import UserInputError


def read_array_file(
    path: str | Path, min_examples: int = 10
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read data ``x`` of shape (N, ...) and optional labels ``y`` of shape (N,); at least
    ``min_examples`` examples (10 to train: enough to split; 1 to score).

    ``.npz`` files hold ``x`` (or a single array) and optionally ``y``; ``.csv`` files hold
    one example per row (a non-numeric first row is taken as a header).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
        >>> _ = p.write_text("a,b\\n" + "0,1\\n1,0\\n" * 6)
        >>> x, y = read_array_file(p); x.shape, y
        ((12, 2), None)
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            x, y = np.load(path, allow_pickle=False), None
        elif suffix == ".npz":
            x, y = _read_npz(path)
        else:
            x, y = _read_csv(path), None
    except UserInputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise UserInputError(f"{path} could not be read as {suffix} ({err})") from None
    return _check_x(path, x, min_examples), _check_y(path, y, len(x))


def read_context(path: str | Path, n: int) -> np.ndarray:
    """Read the context array ``c`` of a ``.npz`` file as float32 of shape (n, C).

    A context is any per-example tensor the model conditions on (attributes, a class
    embedding, a masked image): extra dimensions are flattened.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.npz"
        >>> np.savez(p, x=np.zeros((4, 3)), c=np.ones((4, 2, 2)))
        >>> read_context(p, 4).shape
        (4, 4)
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise UserInputError(
            f"--context array reads the array 'c' of a .npz data file; {path.name} is not one"
        )
    with np.load(path, allow_pickle=False) as archive:
        if "c" not in archive:
            raise UserInputError(
                f"{path}: --context array needs an array named 'c' (found {list(archive.keys())})"
            )
        c = archive["c"]
    if c.ndim < 2 or c.dtype.kind not in "biuf" or len(c) != n or c[0].size == 0:
        raise UserInputError(
            f"{path}: the context 'c' must be numeric of shape ({n}, C), found {c.shape} {c.dtype}"
        )
    c = c.reshape(n, -1).astype(np.float32)
    if not np.isfinite(c).all():
        raise UserInputError(f"{path}: the context 'c' holds NaN or infinite values")
    return c


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        if "x" in keys:
            x = archive["x"]
        elif len(keys) == 1:
            x = archive[keys[0]]
        else:
            raise UserInputError(f"{path}: expected an array named 'x' (found {keys or 'none'})")
        return x, (archive["y"] if "y" in keys else None)


def _read_csv(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise UserInputError(f"{path} is empty")
    if not _is_numeric_row(lines[0]):
        lines = lines[1:]  # header
    for number, line in enumerate(lines, start=2):
        if not _is_numeric_row(line):
            raise UserInputError(f"{path}: line {number} is not numeric: {line[:60]!r}")
    try:
        return np.loadtxt(io.StringIO("\n".join(lines)), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise UserInputError(
            f"{path}: rows must all have the same number of columns ({err})"
        ) from None


def _is_numeric_row(line: str) -> bool:
    try:
        [float(cell) for cell in line.split(",")]
    except ValueError:
        return False
    return True


def _check_x(path: Path, x: np.ndarray, min_examples: int = 10) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise UserInputError(f"{path}: data must be numeric, found dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] == 0 or x.size == 0:
        raise UserInputError(
            f"{path}: expected an array of shape (N, features...), found {x.shape}"
        )
    if x.shape[0] < min_examples:
        raise UserInputError(
            f"{path}: {x.shape[0]} examples are too few"
            + (f" to split (need {min_examples})" if min_examples > 1 else "")
        )
    if not np.isfinite(x).all():
        raise UserInputError(f"{path}: the data contain NaN or infinite values")
    if np.abs(x).max() > 1e6:
        raise UserInputError(f"{path}: values up to {np.abs(x).max():.3g}; rescale the data first")
    return x.astype(np.float32)


def _check_y(path: Path, y: np.ndarray | None, n: int) -> np.ndarray | None:
    if y is None:
        return None
    if y.shape != (n,) or y.dtype.kind not in "iu" or (y < 0).any():
        raise UserInputError(
            f"{path}: labels 'y' must be {n} non-negative integers, found {y.shape} {y.dtype}"
        )
    return y.astype(np.int64)
