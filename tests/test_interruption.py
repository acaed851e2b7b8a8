"""kill -9 in the middle of `ppvae fit` and `ppvae compare`: the rerun with --resume (or
the same compare command) ends with exactly the parameters and metrics of a run that was
never interrupted, and no half-written file is left for a later command to trust."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from ppvae.io import load_torch

FIT = [
    "--data",
    "digits",
    "--epochs",
    "6",
    "--batch-size",
    "16",
    "--hidden",
    "256",
    "--latent-dim",
    "8",
    "--num-samples",
    "50",
    "--no-progress",
]
TIMING = {"train_seconds", "eval_seconds"}


def _ppvae(*args: str, **kw) -> subprocess.Popen:
    code = "import sys; from ppvae.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _run(*args: str) -> None:
    proc = _ppvae(*args)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]


def _kill_when(proc: subprocess.Popen, ready) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _epochs(folder: Path) -> int:
    try:
        return len((folder / "history.csv").read_text().splitlines()) - 1
    except FileNotFoundError:
        return 0


def _same_run(a: Path, b: Path) -> None:
    wa, wb = load_torch(a / "checkpoint.pt")["model"], load_torch(b / "checkpoint.pt")["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    ma, mb = (json.loads((f / "metrics.json").read_text()) for f in (a, b))
    assert {k: v for k, v in ma.items() if k not in TIMING} == {
        k: v for k, v in mb.items() if k not in TIMING
    }


def _no_temporaries(folder: Path) -> None:
    assert not [p for p in folder.rglob("*.tmp")], list(folder.rglob("*.tmp"))


def test_a_killed_fit_resumes_to_the_uninterrupted_result(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run("fit", *FIT, "--out", str(straight))
    proc = _ppvae("fit", *FIT, "--out", str(killed))
    _kill_when(proc, lambda: _epochs(killed) >= 2)  # mid-run, most likely mid-epoch
    assert not (killed / "metrics.json").exists()
    for name in ("config.json", "history.csv"):  # what is there is whole
        assert (killed / name).read_text().strip()
    load_torch(killed / "checkpoint.pt")
    _run("fit", *FIT, "--out", str(killed), "--resume")
    _same_run(straight, killed)
    _no_temporaries(killed)


def test_a_killed_compare_finishes_as_if_never_interrupted(tmp_path):
    args = [
        "--priors",
        "normal",
        "laplace",
        "--data",
        "digits",
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--hidden",
        "128",
        "--latent-dim",
        "4",
        "--num-samples",
        "30",
        "--khat-points",
        "20",
        "--khat-samples",
        "40",
        "--no-progress",
    ]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run("compare", *args, "--out", str(straight))
    proc = _ppvae("compare", *args, "--out", str(killed))
    _kill_when(proc, lambda: _epochs(killed / "laplace" / "seed-0") >= 1)
    assert (killed / "normal" / "seed-0" / "metrics.json").exists()
    assert not (killed / "compare.csv").exists()
    stamp = (killed / "normal" / "seed-0" / "checkpoint.pt").stat().st_mtime_ns
    _run("compare", *args, "--out", str(killed))
    assert (killed / "normal" / "seed-0" / "checkpoint.pt").stat().st_mtime_ns == stamp
    for prior in ("normal", "laplace"):
        _same_run(straight / prior / "seed-0", killed / prior / "seed-0")
    rows = [
        list(csv.DictReader(io.StringIO((f / "compare.csv").read_text())))
        for f in (straight, killed)
    ]
    strip = lambda r: {k: v for k, v in r.items() if k != "train_seconds"}  # noqa: E731
    assert [strip(r) for r in rows[0]] == [strip(r) for r in rows[1]]
    _no_temporaries(killed)


def test_ctrl_c_stops_with_exit_130_and_says_how_to_continue(tmp_path):
    out = tmp_path / "run"
    proc = _ppvae("fit", *FIT, "--out", str(out))
    deadline = time.monotonic() + 300
    while _epochs(out) < 1:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "continue with --resume" in err and "Traceback" not in err
    _run("fit", *FIT, "--out", str(out), "--resume")
    assert (out / "metrics.json").exists()
