"""Anomaly scores and AUROC on cases with known answers: two Gaussians (AUROC = Φ(d/√2)),
identical distributions (0.5), and PPCA whose importance-sampled score is the exact
−log p(x); the held-out-class benchmark end to end, resumable; scoring a user's rows."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from ppvae.cli import main
from ppvae.data import DataConfig, load_data
from ppvae.inference import FitConfig
from ppvae.io import load_torch
from ppvae.models import ModelConfig
from ppvae.runs import EvalConfig, RunConfig
from ppvae.tasks.anomaly import anomaly_scores, auroc
from ppvae.tasks.anomaly_runs import held_out_benchmark
from tests.linear_gaussian import make_ppca


def test_auroc_of_two_gaussians_is_phi_of_d_over_root_two():
    g = torch.Generator().manual_seed(0)
    normal, anomalous = torch.randn(4000, generator=g), torch.randn(3000, generator=g) + 1.0
    area, se = auroc(normal, anomalous)
    exact = 0.5 * (1 + math.erf(1.0 / 2))  # Φ(1/√2)
    assert abs(area - exact) < 3 * se and 0.004 < se < 0.01


def test_auroc_is_one_half_for_one_distribution_and_its_se_is_honest():
    g = torch.Generator().manual_seed(1)
    areas, ses = [], []
    for _ in range(200):
        a, b = torch.randn(60, generator=g), torch.randn(40, generator=g)
        area, se = auroc(a, b)
        areas.append(area)
        ses.append(se)
    spread = torch.tensor(areas).std().item()
    assert abs(sum(areas) / len(areas) - 0.5) < 3 * spread / math.sqrt(len(areas))
    assert abs(sum(ses) / len(ses) / spread - 1) < 0.2  # Hanley–McNeil matches the spread
    assert auroc(torch.zeros(5), torch.zeros(5)) == (0.5, pytest.approx(0.2, abs=0.1))


def test_the_likelihood_score_of_ppca_is_the_exact_negative_log_density():
    vae, marginal = make_ppca()  # the encoder is the exact posterior
    torch.manual_seed(0)
    normal = marginal.sample((300,))
    anomalous = marginal.sample((200,)) * 1.5 + 0.5  # a wider, shifted population
    s_normal = anomaly_scores(vae, normal, num_samples=50)
    s_anomalous = anomaly_scores(vae, anomalous, num_samples=50)
    exact_normal, exact_anomalous = -marginal.log_prob(normal), -marginal.log_prob(anomalous)
    torch.testing.assert_close(s_normal["nll"], exact_normal.double(), atol=1e-4, rtol=0)
    assert auroc(s_normal["nll"], s_anomalous["nll"])[0] == pytest.approx(
        auroc(exact_normal, exact_anomalous)[0], abs=1e-9
    )
    # the same population: no score separates it better than chance (3 standard errors)
    again = anomaly_scores(vae, marginal.sample((200,)), num_samples=50)
    area, se = auroc(s_normal["nll"], again["nll"])
    assert abs(area - 0.5) < 3 * se


TINY = RunConfig(
    DataConfig(name="digits"),
    ModelConfig(latent_dim=4, hidden=(32,)),
    FitConfig(epochs=3, progress=False),
    EvalConfig(num_samples=5),
)


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    out = tmp_path_factory.mktemp("anomaly")
    rows = held_out_benchmark(TINY, ["normal", "flat@family=ae"], 0, out, num_samples=30)
    return out, rows


def test_the_benchmark_scores_the_held_out_class_against_the_rest(benchmark):
    out, rows = benchmark
    data = load_data(DataConfig(name="digits"))
    held = (data.y_test == 0).sum().item()
    by = {(r["entry"], r["score"]): r for r in rows}
    assert by["normal", "nll"]["num_anomalous"] == held
    assert by["normal", "nll"]["num_normal"] == len(data.y_test) - held
    scores = load_torch(out / "normal" / "scores.pt")["scores"]
    anomalous = data.y_test == 0
    expected = auroc(scores["nll"][~anomalous], scores["nll"][anomalous])
    assert by["normal", "nll"]["auroc"] == pytest.approx(expected[0])
    assert math.isnan(by["flat@family=ae", "nll"]["auroc"])  # a point mass has no log p(x)
    assert 0 <= by["flat@family=ae", "recon"]["auroc"] <= 1
    with open(out / "anomaly.csv") as f:
        assert len(list(csv.DictReader(f))) == 6
    assert "| flat@family=ae | — |" in (out / "anomaly.md").read_text()
    assert (out / "roc.png").exists() and (out / "scores.png").exists()


def test_the_held_out_class_is_not_trained_on_and_nothing_is_refitted(benchmark):
    from ppvae.io import read_json

    out, rows = benchmark
    saved = read_json(out / "normal" / "config.json")
    assert saved["data"]["exclude_classes"] == [0]
    stamp = (out / "normal" / "checkpoint.pt").stat().st_mtime_ns
    scores = (out / "normal" / "scores.pt").stat().st_mtime_ns
    again = held_out_benchmark(TINY, ["normal", "flat@family=ae"], 0, out, num_samples=30)
    assert (out / "normal" / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert (out / "normal" / "scores.pt").stat().st_mtime_ns == scores
    assert repr(again) == repr(rows)  # NaN (no log p(x) for the AE) is not == itself


def test_excluded_classes_leave_every_split_and_keep_the_other_images():
    full = load_data(DataConfig(name="digits"))
    cut = load_data(DataConfig(name="digits", exclude_classes=(3, 5)))
    for split in ("train", "val", "test"):
        labels = getattr(cut, f"y_{split}")
        assert not torch.isin(labels, torch.tensor([3, 5])).any()
    keep = ~torch.isin(full.y_test, torch.tensor([3, 5]))
    assert torch.equal(cut.x_test, full.x_test[keep])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--held-out", "shirt"], "no class 'shirt'"),
        (["--held-out", "0", "--prior", "vamp"], "--priors, not --prior"),
        (["--held-out", "0", "--priors", "normal@epochs=2"], "held equal"),
        (["--held-out", "0", "--exclude-classes", "11"], "no class [11]"),
    ],
)
def test_anomaly_mistakes_exit_2(extra, message, tmp_path, capsys):
    argv = ["anomaly", "--data", "digits", "--epochs", "1", "--out", str(tmp_path / "a")]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_scoring_a_users_rows(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "normal.npy", rng.normal(size=(300, 4)).astype("float32"))
    new = np.concatenate([rng.normal(size=(40, 4)), rng.normal(size=(40, 4)) + 4])
    np.savez(tmp_path / "new.npz", x=new.astype("float32"), y=np.repeat([0, 1], 40))
    fit = [
        "fit",
        "--data",
        str(tmp_path / "normal.npy"),
        "--likelihood",
        "gaussian",
        "--latent-dim",
        "2",
        "--hidden",
        "16",
        "--epochs",
        "15",
        "--num-samples",
        "10",
        "--no-progress",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(fit) == 0
    score = [
        "score",
        str(tmp_path / "run"),
        "--data",
        str(tmp_path / "new.npz"),
        "--num-samples",
        "50",
        "--no-progress",
    ]
    assert main(score) == 0
    printed = capsys.readouterr().out
    assert "scored 80 rows" in printed and "AUROC, nll: " in printed
    with open(tmp_path / "run" / "scores.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 80 and set(table[0]) == {"row", "nll", "nelbo", "recon"}
    shifted = sum(float(r["nll"]) for r in table[40:]) / 40
    assert shifted > sum(float(r["nll"]) for r in table[:40]) / 40 + 3  # far rows score higher
    np.save(tmp_path / "wide.npy", np.zeros((3, 5), dtype="float32"))
    assert main(["score", str(tmp_path / "run"), "--data", str(tmp_path / "wide.npy")]) == 2
    assert "takes (4,)" in capsys.readouterr().err


def _labelled(tmp_path, shift: float):
    """Three normal classes from N(0, I_4) and class 3 from N(shift, I_4)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 4))
    y = np.repeat([0, 1, 2, 3], 200)
    x[y == 3] += shift
    path = tmp_path / f"rows-{shift:g}.npz"
    np.savez(path, x=x.astype("float32"), y=y)
    return path


@pytest.mark.parametrize(("shift", "expected"), [(10.0, 1.0), (0.0, 0.5)])
def test_the_benchmark_gets_known_answers(shift, expected, tmp_path):
    """A class far from the others is found perfectly by every score; a class drawn from
    the same distribution as the others is found by none (chance, within 3 SE)."""
    config = RunConfig(
        DataConfig(name=str(_labelled(tmp_path, shift)), binarize="none"),
        ModelConfig(x_shape=(4,), latent_dim=2, hidden=(16,), likelihood="gaussian"),
        FitConfig(epochs=10, progress=False),
        EvalConfig(num_samples=5),
    )
    rows = held_out_benchmark(config, ["normal"], 3, tmp_path / "b", num_samples=50)
    for row in rows:
        assert row["num_anomalous"] > 0 and row["num_normal"] > 2 * row["num_anomalous"]
        assert abs(row["auroc"] - expected) <= max(3 * row["auroc_se"], 1e-9), row


def test_a_users_excluded_classes_stay_out_of_training_and_scoring(tmp_path):
    config = RunConfig(
        DataConfig(name=str(_labelled(tmp_path, 10.0)), binarize="none", exclude_classes=(2,)),
        ModelConfig(x_shape=(4,), latent_dim=2, hidden=(16,), likelihood="gaussian"),
        FitConfig(epochs=2, progress=False),
        EvalConfig(num_samples=5),
    )
    rows = held_out_benchmark(config, ["normal"], 3, tmp_path / "b", num_samples=10)
    from ppvae.io import read_json

    saved = read_json(tmp_path / "b" / "normal" / "config.json")
    assert saved["data"]["exclude_classes"] == [2, 3]
    full = load_data(DataConfig(name=str(_labelled(tmp_path, 10.0)), binarize="none"))
    kept = ~torch.isin(full.y_test, torch.tensor([2]))
    assert rows[0]["num_normal"] + rows[0]["num_anomalous"] == kept.sum().item()


def test_conditional_entries_are_refused_before_fitting(tmp_path):
    from ppvae.errors import UserInputError

    config = RunConfig(
        DataConfig(name="digits"),
        ModelConfig(latent_dim=2, hidden=(8,)),
        FitConfig(epochs=1, progress=False),
        EvalConfig(num_samples=5),
    )
    with pytest.raises(UserInputError, match="conditional model"):
        held_out_benchmark(config, ["conditional"], 0, tmp_path / "b")
    assert not (tmp_path / "b").exists()
