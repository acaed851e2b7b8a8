"""kill -9 in the middle of `ppvae fit` and `ppvae compare`: the rerun with --resume (or
the same compare command) resumes — the epochs finished before the kill are kept — and
ends with exactly the parameters and metrics of a run that was never interrupted; the
temporary files a kill leaves are cleared, a user's own are not; Ctrl-C says how to go on."""

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

# Small batches make each epoch last a second or more, so a test process that a busy
# machine schedules late still signals the run before its last epoch ends.
FIT = "--data digits --epochs 5 --batch-size 2 --hidden 128 --latent-dim 8 --num-samples 30"
FIT = [*FIT.split(), "--no-progress"]
COMPARE = "--priors normal laplace --data digits --epochs 3 --batch-size 16 --hidden 64"
COMPARE = [*COMPARE.split(), "--latent-dim", "4", "--num-samples", "20", "--khat-points", "20"]
COMPARE = [*COMPARE, "--khat-samples", "40", "--no-progress"]
# One thread per child: the runs compared are made alike, and a busy machine (another
# job's threads) does not slow tiny matrix products a hundredfold.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TIMING = {"train_seconds", "eval_seconds"}


def _ppvae(*args: str, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    # A test suite started in the background (`make test &`) passes SIGINT on ignored, and
    # Python then installs no KeyboardInterrupt handler: the child restores it, as a terminal
    # would have it, so Ctrl-C is tested however the suite was started.
    code = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    code += "from ppvae.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        env=ENV,
    )


def _run(*args: str) -> None:
    proc = _ppvae(*args, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]


def _wait_for(proc: subprocess.Popen, ready) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _kill_when(proc: subprocess.Popen, ready) -> None:
    _wait_for(proc, ready)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _epochs(folder: Path) -> int:
    try:
        return len((folder / "history.csv").read_text().splitlines()) - 1
    except FileNotFoundError:
        return 0


def _history(folder: Path) -> list[dict]:
    return load_torch(folder / "checkpoint.pt")["history"]


def _same_run(a: Path, b: Path) -> None:
    wa, wb = load_torch(a / "checkpoint.pt")["model"], load_torch(b / "checkpoint.pt")["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    ma, mb = (json.loads((f / "metrics.json").read_text()) for f in (a, b))
    assert {k: v for k, v in ma.items() if k not in TIMING} == {
        k: v for k, v in mb.items() if k not in TIMING
    }


def _plant_temporaries(folder: Path) -> Path:
    """What a kill during a write leaves (an hour old), and a user's own file beside it."""
    stale = folder / ".checkpoint.pt.k1ll3d_x.tmp"
    stale.write_bytes(b"half a checkpoint")
    os.utime(stale, (time.time() - 3600,) * 2)
    (folder / ".notes.tmp").write_text("the user's")
    return stale


def test_a_killed_fit_resumes_to_the_uninterrupted_result(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run("fit", *FIT, "--out", str(straight))
    proc = _ppvae("fit", *FIT, "--out", str(killed))
    _kill_when(proc, lambda: _epochs(killed) >= 2)  # mid-run, most likely mid-epoch
    assert not (killed / "metrics.json").exists()
    for name in ("config.json", "history.csv"):  # what is there is whole
        assert (killed / name).read_text().strip()
    before = _history(killed)  # the epochs done before the kill, with their timings
    stale = _plant_temporaries(killed)
    _run("fit", *FIT, "--out", str(killed), "--resume")
    _same_run(straight, killed)
    assert _history(killed)[: len(before)] == before  # resumed, not refitted
    assert not stale.exists() and (killed / ".notes.tmp").exists()


def test_a_killed_compare_finishes_as_if_never_interrupted(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run("compare", *COMPARE, "--out", str(straight))
    proc = _ppvae("compare", *COMPARE, "--out", str(killed))
    _kill_when(proc, lambda: _epochs(killed / "laplace" / "seed-0") >= 1)
    assert (killed / "normal" / "seed-0" / "metrics.json").exists()
    assert not (killed / "compare.csv").exists()
    stamp = (killed / "normal" / "seed-0" / "checkpoint.pt").stat().st_mtime_ns
    before = _history(killed / "laplace" / "seed-0")
    stale = _plant_temporaries(killed / "laplace" / "seed-0")
    _run("compare", *COMPARE, "--out", str(killed))
    assert (killed / "normal" / "seed-0" / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert _history(killed / "laplace" / "seed-0")[: len(before)] == before  # resumed
    assert not stale.exists()
    for prior in ("normal", "laplace"):
        _same_run(straight / prior / "seed-0", killed / prior / "seed-0")
    rows = [
        list(csv.DictReader(io.StringIO((f / "compare.csv").read_text())))
        for f in (straight, killed)
    ]
    strip = lambda r: {k: v for k, v in r.items() if k != "train_seconds"}  # noqa: E731
    assert [strip(r) for r in rows[0]] == [strip(r) for r in rows[1]]


def test_ctrl_c_stops_with_exit_130_and_says_how_to_continue(tmp_path):
    out = tmp_path / "run"
    proc = _ppvae("fit", *FIT, "--out", str(out), stderr=subprocess.PIPE)
    _wait_for(proc, lambda: _epochs(out) >= 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "continue with --resume" in err and "Traceback" not in err
    _run("fit", *FIT, "--out", str(out), "--resume")
    assert (out / "metrics.json").exists()


def test_sigterm_stops_like_ctrl_c_with_exit_143(tmp_path):
    out = tmp_path / "run"
    proc = _ppvae("fit", *FIT, "--out", str(out), stderr=subprocess.PIPE)
    _wait_for(proc, lambda: _epochs(out) >= 1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "terminated" in err and "continue with --resume" in err
    assert "Traceback" not in err
    kept = _epochs(out)
    assert kept >= 1 and len(_history(out)) == kept  # the checkpoint holds every epoch shown
    _run("fit", *FIT, "--out", str(out), "--resume")
    assert (out / "metrics.json").exists()
