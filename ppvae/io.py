"""Atomic file writing and safe checkpoint loading.

Every file ppvae writes goes to a temporary file in the same folder and is renamed over
the target, so an interrupted run never leaves a half-written file that a later command
trusts.  Checkpoints are read with ``torch.load(weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ppvae.errors import UserInputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` (after an
    fsync) when the block ends without an error, removed otherwise.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_path(p) as tmp:
        ...     _ = tmp.write_text("done")
        >>> p.read_text()
        'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from others
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str | os.PathLike, min_age: float = 60.0) -> list[Path]:
    """Delete the temporary files an interrupted atomic write (``kill -9``, a power cut)
    left in ``folder``: only ppvae's own (``.NAME.XXXXXXXX.tmp``), and only those older
    than ``min_age`` seconds, so a write in progress elsewhere is left alone.  Nothing
    ever reads them.  Returns what was removed.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".checkpoint.pt.abc_1234.tmp").write_bytes(b"half")
        >>> _ = (folder / ".notes.tmp").write_text("the user's")
        >>> [p.name for p in remove_stale_temporaries(folder, min_age=0)]
        ['.checkpoint.pt.abc_1234.tmp']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    stale = [
        path
        for path in sorted(folder.glob(".*.tmp"))
        if _TEMPORARY.fullmatch(path.name) and now - path.stat().st_mtime >= min_age
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # tempfile.mkstemp's eight characters


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> write_bytes(p, b"ok"); p.read_bytes()
        b'ok'
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
        >>> write_text(p, "hi"); p.read_text()
        'hi'
    """
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.json"
        >>> write_json(p, {"a": 1}); read_json(p)
        {'a': 1}
    """
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, raising :class:`UserInputError` if it is missing or malformed.

    Example:
        >>> read_json("/nonexistent.json")
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: /nonexistent.json does not exist
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserInputError(f"{path} is not valid JSON ({err})") from None


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write a list of dicts as a CSV file with a header row, atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "h.csv"
        >>> write_csv(p, [{"epoch": 1, "elbo": -3.5}]); print(p.read_text().strip())
        epoch,elbo
        1,-3.5
    """
    buffer = io.StringIO()
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` to ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> save_torch(p, {"w": torch.ones(2)}); load_torch(p)["w"]
        tensor([1., 1.])
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())


def load_torch(path: str | os.PathLike) -> Any:
    """Load a torch file with ``weights_only=True``; refuse anything that needs pickled code.

    Raises:
        UserInputError: the file is missing, truncated, not a torch file, or would need
            to execute code to load.

    Example:
        >>> load_torch("/nonexistent.pt")
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: checkpoint /nonexistent.pt does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint {path} does not exist")
    _check_crc(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise UserInputError(
            f"{path} is corrupt or not a torch checkpoint ({_first_line(err)})"
        ) from None
    except Exception as err:
        raise UserInputError(
            f"{path} was refused: it is not a plain-tensor checkpoint ({_first_line(err)})"
        ) from None


def _check_crc(path: Path) -> None:
    """A torch file is a zip archive whose members carry CRC-32s that ``torch.load`` does
    not verify: check them, so a flipped byte in the weights is refused, not loaded."""
    if not zipfile.is_zipfile(path):
        return  # not a zip at all: torch.load's own refusal says so
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as err:
        raise UserInputError(f"{path} is corrupt ({_first_line(err)})") from None
    if bad is not None:
        raise UserInputError(f"{path} is corrupt: {bad} fails its checksum")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
