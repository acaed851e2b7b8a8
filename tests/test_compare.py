"""``ppvae compare``: equal-terms runs per prior and seed, paired differences to the
baseline, k̂ shares, and nothing refitted when the comparison is run again."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from ppvae.cli import main
from ppvae.compare import compare
from ppvae.data import DataConfig
from ppvae.inference import FitConfig, paired_difference
from ppvae.io import load_torch
from ppvae.models import ModelConfig
from ppvae.runs import EvalConfig, RunConfig

TINY = RunConfig(
    DataConfig(name="digits"),
    ModelConfig(latent_dim=2, hidden=(16,)),
    FitConfig(epochs=1, progress=False),
    EvalConfig(num_samples=10),
)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    rows = compare(TINY, ["normal", "laplace"], out, seeds=[0, 1], khat_points=20, khat_samples=50)
    return out, rows


def test_rows_hold_paired_differences_to_the_baseline(two_seeds):
    out, rows = two_seeds
    base, other = rows
    assert base["diff"] == 0.0 and base["diff_se"] == 0.0
    # the reported difference is the mean over seeds of the paired per-point differences
    diffs = []
    for seed in (0, 1):
        a = load_torch(out / "laplace" / f"seed-{seed}" / "pointwise.pt")["log_likelihood"]
        b = load_torch(out / "normal" / f"seed-{seed}" / "pointwise.pt")["log_likelihood"]
        diffs.append(paired_difference(a, b))
    assert other["diff"] == pytest.approx((diffs[0][0] + diffs[1][0]) / 2)
    assert other["diff_se"] == pytest.approx(math.hypot(diffs[0][1], diffs[1][1]) / 2)
    assert other["diff_seed_se"] == pytest.approx(abs(diffs[0][0] - diffs[1][0]) / 2)
    assert 0 <= other["khat_unreliable"] <= 1 and other["seeds"] == 2
    with open(out / "compare.csv") as f:
        assert [r["prior"] for r in csv.DictReader(f)] == ["normal", "laplace"]
    assert "| laplace |" in (out / "compare.md").read_text()


def test_the_seeds_give_different_runs_with_the_same_data(two_seeds):
    out, _ = two_seeds
    w0 = load_torch(out / "normal" / "seed-0" / "checkpoint.pt")["model"]
    w1 = load_torch(out / "normal" / "seed-1" / "checkpoint.pt")["model"]
    key = next(iter(w0))
    assert not torch.equal(w0[key], w1[key])


def test_a_second_compare_refits_nothing_and_resumes_the_interrupted(two_seeds):
    out, rows = two_seeds
    finished = out / "normal" / "seed-0" / "checkpoint.pt"
    stamp = finished.stat().st_mtime_ns
    (out / "laplace" / "seed-1" / "metrics.json").unlink()  # as if interrupted there
    again = compare(TINY, ["normal", "laplace"], out, seeds=[0, 1], khat_points=20, khat_samples=50)
    assert finished.stat().st_mtime_ns == stamp
    assert (out / "laplace" / "seed-1" / "metrics.json").exists()
    assert again[0] == rows[0]


def test_compare_from_the_command_line(tmp_path, capsys):
    argv = [
        "compare",
        "--priors",
        "normal",
        "student-t",
        "--data",
        "digits",
        "--epochs",
        "1",
        "--latent-dim",
        "2",
        "--hidden",
        "8",
        "--num-samples",
        "5",
        "--khat-samples",
        "30",
        "--khat-points",
        "10",
        "--no-progress",
        "--out",
        str(tmp_path / "c"),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Δ vs baseline" in printed and "student-t" in printed
    assert (tmp_path / "c" / "compare.md").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--priors", "normal"], "at least two priors"),
        (["--priors", "normal", "normal"], "repeat"),
        (["--priors", "normal", "flat"], "point-mass guide or a flat prior"),
        (["--priors", "normal", "laplace", "--family", "ae"], "point-mass"),
        (["--priors", "normal", "laplace", "--prior", "vamp"], "--priors, not --prior"),
        (["--priors", "normal", "nonsense"], "unknown prior"),
    ],
)
def test_compare_mistakes_exit_2(extra, message, tmp_path, capsys):
    argv = ["compare", "--data", "digits", "--epochs", "1", "--out", str(tmp_path / "c"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_bad_prior_is_refused_before_anything_is_fitted(tmp_path):
    from ppvae.errors import UserInputError

    with pytest.raises(UserInputError, match="unknown prior"):
        compare(TINY, ["normal", "nonsense"], tmp_path / "c")
    assert not (tmp_path / "c" / "normal").exists()
