"""Property-based bad input (hypothesis): whatever a user passes on the command line, in a
data file, or in an edited config or checkpoint, ppvae either works or refuses with one
line and exit code 2 — no traceback, nothing written half-way, no run folder touched."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ppvae.cli as cli
from ppvae.data import DataConfig, load_data
from ppvae.errors import UserInputError
from ppvae.io import load_torch
from ppvae.runs import prepare

# PPVAE_FUZZ_EXAMPLES=500 for a longer hunt than the default suite's
FUZZ = settings(
    max_examples=int(os.environ.get("PPVAE_FUZZ_EXAMPLES", 40)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
NUMERIC = [
    "--epochs",
    "--batch-size",
    "--lr",
    "--latent-dim",
    "--hidden",
    "--beta",
    "--num-samples",
    "--val-size",
    "--clip-norm",
    "--free-bits",
    "--anneal-steps",
    "--noise-level",
    "--split-seed",
    "--binarization-seed",
    "--seed",
    "--num-particles",
    "--patience",
    "--contractive",
    "--sparsity-target",
    "--exclude-classes",
    "--channels",
]
CHOICE = [
    "--likelihood",
    "--prior",
    "--family",
    "--net",
    "--elbo",
    "--anneal",
    "--binarize",
    "--context",
    "--corruption",
    "--activation",
    "--on-nan",
    "--prior-arg",
    "--data",
]
VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "-0", "1e400", "", " ", "0x10", "1,5", "🙂"]),
    st.text(max_size=12),
)


def _one_error_line(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("ppvae"), err


@pytest.fixture
def checked_only(monkeypatch):
    """``fit`` stops after every input check (prepare), so valid fuzzed values cost nothing."""
    calls = []

    def fit_run(config, out, resume=False, overwrite=False):
        prepare(config)
        calls.append(out)
        return {}

    monkeypatch.setattr(cli, "fit_run", fit_run)
    monkeypatch.setattr(cli, "format_metrics", lambda metrics: "")
    return calls


@FUZZ
@given(option=st.sampled_from(NUMERIC + CHOICE), value=VALUES)
def test_any_option_value_works_or_is_refused_cleanly(
    option, value, checked_only, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = ["fit", "--data", "digits", option, value, "--out", str(out), "--no-progress"]
    if option == "--data":
        argv = ["fit", "--data", value, "--out", str(out), "--no-progress"]
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argparse refuses unparseable values itself
        code = stop.code
    err = capsys.readouterr().err
    assert code in (0, 2), (argv, err)
    if code == 2:
        _one_error_line(err)
        assert not out.exists()


def _load(path: Path, **kw) -> None:
    with contextlib.suppress(UserInputError):  # refused cleanly, or loaded
        load_data(DataConfig(name=str(path), **kw))


@FUZZ
@given(content=st.binary(max_size=400), suffix=st.sampled_from([".npy", ".npz", ".csv"]))
def test_random_bytes_as_a_data_file(content, suffix, tmp_path):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(content)
    _load(path)


@FUZZ
@given(rows=st.lists(st.text(max_size=30), min_size=0, max_size=30))
def test_random_text_as_csv(rows, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows))
    _load(path, binarize="none")


@FUZZ
@given(
    x=st.sampled_from([np.nan, np.inf, 1e30, -5.0, 0.5, 2]),
    shape=st.sampled_from([(0, 4), (30,), (30, 0), (12, 3), (5, 2), (30, 2, 2)]),
    dtype=st.sampled_from(["float32", "float64", "int8", "bool", "complex64", "U3"]),
)
def test_odd_arrays(x, shape, dtype, tmp_path):
    path = tmp_path / "data.npy"
    try:
        array = np.full(shape, x).astype(dtype)
    except (ValueError, OverflowError):
        return
    np.save(path, array)
    _load(path, binarize="none")


def _idx(images: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, images.ndim) + struct.pack(
        f">{images.ndim}I", *images.shape
    )
    return header + images.astype(np.uint8).tobytes()


@FUZZ
@given(cut=st.integers(0, 2000), flip=st.integers(0, 2000), zipped=st.booleans())
def test_truncated_or_corrupt_idx_files(cut, flip, zipped, tmp_path):
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": _idx(rng.integers(0, 255, (20, 28, 28))),
        "train-labels-idx1-ubyte": _idx(rng.integers(0, 10, (20,))),
        "t10k-images-idx3-ubyte": _idx(rng.integers(0, 255, (10, 28, 28))),
        "t10k-labels-idx1-ubyte": _idx(rng.integers(0, 10, (10,))),
    }
    for i, (name, raw) in enumerate(files.items()):
        raw = bytearray(raw)
        if i == 0:  # damage the first file: cut it short and flip one byte
            raw = raw[: max(0, len(raw) - cut)]
            if raw and flip < len(raw):
                raw[flip] ^= 0xFF
        data = gzip.compress(bytes(raw)) if zipped else bytes(raw)
        if zipped and i == 1:
            data = data[: len(data) // 2]  # a truncated gzip stream
        (tmp_path / (name + (".gz" if zipped else ""))).write_bytes(data)
    with contextlib.suppress(UserInputError):
        load_data(DataConfig(name="fashion-mnist", data_dir=str(tmp_path), val_size=5))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz") / "run"
    argv = [
        "fit",
        "--data",
        "digits",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--latent-dim",
        "2",
        "--num-samples",
        "3",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    return out


def _json_values():
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**65), 2**65),
        st.floats(allow_nan=False),
        st.text(max_size=8),
    )
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=5)


@FUZZ
@given(
    section=st.sampled_from(["data", "model", "fit", "eval", "versions", None]),
    key=st.text(max_size=10)
    | st.sampled_from(
        ["name", "hidden", "latent_dim", "lr", "num_samples", "x_shape", "prior", "seed"]
    ),
    value=_json_values(),
)
def test_a_hand_edited_config_is_refused_or_used(
    section, key, value, finished_run, tmp_path, capsys
):
    run = tmp_path / "edited"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(finished_run, run)
    config = json.loads((run / "config.json").read_text())
    if section is None:
        config = value
    else:
        config.setdefault(section, {})
        if isinstance(config[section], dict):
            config[section][key] = value
    (run / "config.json").write_text(json.dumps(config))
    _evaluate_works_or_refuses(run, capsys)


@FUZZ
@given(cut=st.integers(0, 5000), flips=st.lists(st.integers(0, 10**6), max_size=4))
def test_a_damaged_checkpoint_is_refused_or_loads_whole(cut, flips, finished_run, tmp_path, capsys):
    run = tmp_path / "damaged"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(finished_run, run)
    raw = bytearray((run / "checkpoint.pt").read_bytes())
    raw = raw[: len(raw) - cut]
    for f in flips:
        if raw:
            raw[f % len(raw)] ^= 0x5A
    (run / "checkpoint.pt").write_bytes(bytes(raw))
    if _evaluate_works_or_refuses(run, capsys) == 0:  # the damage missed: loaded whole
        original = load_torch(finished_run / "checkpoint.pt")["model"]
        loaded = load_torch(run / "checkpoint.pt")["model"]
        assert all(torch.equal(original[k], loaded[k]) for k in original)


@FUZZ
@given(
    key=st.sampled_from(
        [
            "epoch",
            "history",
            "losses",
            "train_seconds",
            "best_epoch",
            "model",
            "optimizer",
            "rng",
            "fit_config",
            "best_model",
            "rollbacks",
            "stopped_early",
            "format_version",
        ]
    ),
    value=st.one_of(
        st.none(),
        st.integers(-5, 5),
        st.floats(allow_nan=True),
        st.text(max_size=4),
        st.lists(st.integers(0, 3), max_size=3),
        st.just({"w": 1}),
        st.just([{"epoch": "x"}]),
    ),
)
def test_a_hand_edited_checkpoint_is_refused_or_used(key, value, finished_run, tmp_path, capsys):
    run = tmp_path / "edited-ckpt"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(finished_run, run)
    state = load_torch(run / "checkpoint.pt")
    state[key] = value
    torch.save(state, run / "checkpoint.pt")
    _evaluate_works_or_refuses(run, capsys)
    argv = ["fit", "--out", str(run), "--resume", "--epochs", "2", "--no-progress"]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        _one_error_line(err)


def _evaluate_works_or_refuses(run: Path, capsys) -> int:
    """``ppvae evaluate`` on the damaged run: it works, or one line, exit 2, and
    metrics.json is untouched.  Returns the exit code."""
    before = (run / "metrics.json").read_bytes()
    code = cli.main(["evaluate", str(run), "--num-samples", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        _one_error_line(err)
        assert (run / "metrics.json").read_bytes() == before
    return code


def test_an_existing_run_is_never_overwritten_without_overwrite(finished_run, tmp_path, capsys):
    run = tmp_path / "kept"
    shutil.copytree(finished_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    argv = ["fit", "--data", "digits", "--epochs", "1", "--out", str(run), "--no-progress"]
    assert cli.main(argv) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
