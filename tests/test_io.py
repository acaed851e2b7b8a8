"""Atomic writes and safe checkpoint loading."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from ppvae.errors import UserInputError
from ppvae.inference.checkpoint import load_checkpoint, save_checkpoint
from ppvae.io import load_torch, write_json, write_text


class _Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickled_code_in_a_checkpoint_is_refused_not_run(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "ppvae-checkpoint", "model": _Exploit(str(marker))}, path)
    with pytest.raises(UserInputError, match=r"refused|not a"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(UserInputError):
        load_torch(raw)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "corrupt"),
        (b"definitely not a checkpoint", "corrupt"),
    ],
)
def test_corrupt_checkpoints(tmp_path, content, message):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match=message):
        load_checkpoint(path)


def test_truncated_and_foreign_checkpoints(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(3)}, "epoch": 1})
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(UserInputError):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.ones(3)}}, foreign)
    with pytest.raises(UserInputError, match="not a ppvae checkpoint"):
        load_checkpoint(foreign)
    newer = tmp_path / "newer.pt"
    torch.save({"format": "ppvae-checkpoint", "format_version": 99, "model": {}}, newer)
    with pytest.raises(UserInputError, match="newer"):
        load_checkpoint(newer)
    with pytest.raises(UserInputError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "m.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert path.read_text().strip().endswith("}") and '"a": 2' in path.read_text()
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.txt"
    write_text(path, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_written_files_get_the_umask_permissions_like_any_other_file(tmp_path, mask):
    old = os.umask(mask)
    try:
        write_text(tmp_path / "a.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "a.txt").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode
