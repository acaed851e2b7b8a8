"""Conditional VAEs: context from labels or a user array, q(z|x,y), p(x|z,y), generation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ppvae.cli import main
from ppvae.runs import load_run

SMALL = ["--latent-dim", "4", "--hidden", "32", "--epochs", "2", "--num-samples", "20"]


def _fit(tmp_path, name, *flags):
    out = tmp_path / name
    return main(["fit", "--no-progress", "--out", str(out), *SMALL, *flags]), out


def test_cvae_on_labels_fits_reports_log_p_x_given_y_and_generates_per_class(tmp_path, capsys):
    code, run = _fit(
        tmp_path, "cvae", "--data", "digits", "--context", "labels", "--condition-networks"
    )
    assert code == 0 and "log p(x|y)" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["context"] == "labels"
    vae = load_run(run)[2]
    assert vae.encoder.context_dim == vae.decoder.context_dim == 10
    z = torch.zeros(2, 4)
    y = torch.eye(10)[[0, 1]]
    means = vae.decode(z, y).mean  # the same code, two classes: the decoder sees y
    assert not torch.allclose(means[0], means[1])
    assert main(["generate", str(run), "--per-row", "3", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_context_array_from_a_user_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = (rng.random((120, 12)) < 0.3).astype(np.float32)
    c = rng.normal(size=(120, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, c=c)
    code, run = _fit(
        tmp_path,
        "arr",
        "--data",
        str(tmp_path / "d.npz"),
        "--context",
        "array",
        "--condition-networks",
    )
    assert code == 0, capsys.readouterr().err
    _, data, vae, _ = load_run(run)
    assert data.context_dim == 3 and vae.encoder.context_dim == 3
    assert torch.equal(data.split("test")[1], data.c_test) and len(data.c_test) == len(data.x_test)
    assert main(["generate", str(run), "--rows", "2"]) == 0


@pytest.mark.parametrize(
    "arrays, flags, message",
    [
        ({"x": np.zeros((50, 4))}, ["--context", "array"], "needs an array named 'c'"),
        ({"x": np.zeros((50, 4)), "c": np.zeros((49, 2))}, ["--context", "array"], "(50, C)"),
        ({"x": np.zeros((50, 4))}, ["--condition-networks"], "needs a context y"),
        ({"x": np.zeros((50, 4))}, ["--prior", "conditional"], "no labels to use as context"),
    ],
)
def test_invalid_conditioning_is_refused_with_exit_2(tmp_path, capsys, arrays, flags, message):
    np.savez(tmp_path / "d.npz", **arrays)
    code, out = _fit(tmp_path, "bad", "--data", str(tmp_path / "d.npz"), *flags)
    assert code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_context_array_needs_an_npz(tmp_path, capsys):
    code, _ = _fit(tmp_path, "bad", "--data", "digits", "--context", "array")
    assert code == 2 and "not one" in capsys.readouterr().err
