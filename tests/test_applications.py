"""The applications on run folders: ``ppvae denoise``, ``ppvae probe``, ``ppvae pca``, and
the family flags of ``ppvae fit`` (with exit code 2 for inconsistent requests)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ppvae.cli import main
from ppvae.runs import load_run
from ppvae.tasks.denoise import psnr
from ppvae.tasks.pca_angles import decoder_basis, principal_angles
from ppvae.tasks.probe import pca_codes, probe_accuracy

TINY = ["--data", "digits", "--binarize", "none", "--latent-dim", "4", "--hidden", "16"]
TINY += ["--epochs", "2", "--num-samples", "4", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("family")
    members = {
        "ae": ["--family", "ae", "--likelihood", "mse"],
        "dae": ["--family", "denoising", "--likelihood", "mse", "--noise-level", "0.4"],
        "vae": ["--family", "vae", "--likelihood", "gaussian"],
        "linear": ["--family", "linear", "--hidden", "--latent-dim", "3"],
    }
    for name, flags in members.items():
        assert main(["fit", *TINY, *flags, "--out", str(root / name)]) == 0
    return root


def test_fit_records_the_member_and_no_log_likelihood(runs):
    ae = json.loads((runs / "ae" / "metrics.json").read_text())
    assert ae["family"] == "AE" and ae["point_estimate"]
    assert ae["test_log_likelihood"] is None and ae["num_samples"] == 1
    assert not (runs / "ae" / "samples.png").exists()  # a flat prior has no samples
    assert (runs / "ae" / "reconstructions.png").exists()
    dae = json.loads((runs / "dae" / "config.json").read_text())["model"]
    assert (dae["guide"], dae["corruption"], dae["noise_level"]) == ("delta", "mask", 0.4)
    vae = json.loads((runs / "vae" / "metrics.json").read_text())
    assert not vae["point_estimate"] and vae["test_log_likelihood"] is not None
    linear = json.loads((runs / "linear" / "config.json").read_text())["model"]
    assert linear["hidden"] == [] and linear["likelihood"] == "mse"


def test_denoise_writes_the_psnr_table(runs, tmp_path, capsys):
    out = tmp_path / "dn"
    argv = ["denoise", str(runs / "ae"), str(runs / "dae"), "--levels", "0.2", "0.5"]
    assert main([*argv, "--out", str(out)]) == 0
    rows = json.loads((out / "denoising.json").read_text())
    assert [(r["level"], r["model"]) for r in rows] == [
        (0.2, "input"),
        (0.2, "ae"),
        (0.2, "dae"),
        (0.5, "input"),
        (0.5, "ae"),
        (0.5, "dae"),
    ]
    for r in rows:
        assert np.isfinite(r["psnr"]) and r["psnr_se"] > 0
    worse = [r["psnr"] for r in rows if r["model"] == "input"]
    assert worse[0] > worse[1]  # more masking, lower PSNR of the corrupted input
    assert (out / "denoising.png").exists() and (out / "denoising.csv").exists()
    assert "PSNR (dB)" in capsys.readouterr().out


def test_probe_writes_accuracies_and_embeddings(runs, tmp_path):
    out = tmp_path / "probe"
    assert main(["probe", str(runs / "ae"), str(runs / "vae"), "--out", str(out)]) == 0
    rows = json.loads((out / "probe.json").read_text())
    assert [r["model"] for r in rows] == ["ae", "vae", "PCA-4"]
    for r in rows:
        assert 0.1 < r["accuracy"] <= 1  # ten classes: chance is 0.1
    assert rows[0]["contraction"] > 0 and rows[2]["contraction"] is None
    assert (out / "embedding-ae.png").exists() and (out / "embedding-vae.png").exists()


def test_pca_reports_principal_angles(runs, capsys):
    assert main(["pca", str(runs / "linear")]) == 0
    result = json.loads((runs / "linear" / "pca_angles.json").read_text())
    assert len(result["angles"]) == 3 and result["linear"]
    # the reported angles are those of the run's own decoder against PCA of its training data
    _, data, vae, _ = load_run(runs / "linear")
    expected = principal_angles(decoder_basis(vae), data.x_train)
    np.testing.assert_allclose(result["angles"], expected, atol=1e-6)
    assert "principal angles" in capsys.readouterr().out


def test_psnr_and_the_probe_on_known_cases():
    clean = torch.zeros(3, 10)
    assert torch.allclose(psnr(clean, torch.full((3, 10), 0.01)), torch.full((3,), 40.0))
    assert torch.allclose(psnr(clean, torch.full((3, 10), -5.0)), torch.full((3,), 120.0))
    x = torch.randn(200, 5)
    train, test = pca_codes(x[:150], x[150:], 2)
    assert train.shape == (150, 2) and test.shape == (50, 2)
    labels = (x[:, 0] > 0).long().numpy()
    assert probe_accuracy(x[:150].numpy(), labels[:150], x[150:].numpy(), labels[150:])[0] > 0.9


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", *TINY, "--family", "vae", "--code", "sigmoid"], "point-mass guide"),
        (["fit", *TINY, "--sparsity-weight", "1"], "sigmoid"),
        (["fit", *TINY, "--net", "conv", "--channels", "8", "8", "8", "8"], "conv"),
        (["fit", *TINY, "--corruption", "mask", "--noise-level", "2"], "probability"),
        (["sweep", *TINY, "--family", "ae", "--betas", "1", "2"], "point-mass"),
        (["denoise", "/no/such/run"], "not a ppvae run folder"),
        (["denoise", "RUN", "--levels", "1.5"], "probability"),
        (["probe", "RUN", "OTHER"], "other data"),
    ],
)
def test_family_mistakes_exit_2(argv, message, runs, tmp_path, capsys):
    argv = [a.replace("RUN", str(runs / "ae")) for a in argv]
    if "OTHER" in argv:
        other = tmp_path / "binary"
        assert main(["fit", *TINY[:2], *TINY[4:], "--out", str(other)]) == 0
        argv = [str(other) if a == "OTHER" else a for a in argv]
    if argv[0] in ("fit", "sweep"):
        argv += ["--out", str(tmp_path / "out")]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_level_zero_scores_clean_reconstructions():
    from ppvae.models import build_vae, family_config
    from ppvae.tasks.denoise import denoising_table, reconstruct_batches

    ae = build_vae(family_config("ae", x_shape=(6,), latent_dim=2, hidden=(4,)))
    x = torch.rand(30, 6)
    (row,) = denoising_table({"ae": ae}, x, levels=[0])
    assert row["model"] == "ae" and row["gain"] is None
    assert row["psnr"] == pytest.approx(psnr(x, reconstruct_batches(ae, x)).double().mean().item())


def test_denoise_refuses_binarised_runs(tmp_path, capsys):
    binary = tmp_path / "binary"
    assert main(["fit", *TINY[:2], *TINY[4:], "--out", str(binary)]) == 0
    capsys.readouterr()
    assert main(["denoise", str(binary), "--out", str(tmp_path / "d")]) == 2
    assert "binarised" in capsys.readouterr().err
