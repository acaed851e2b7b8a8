"""``ppvae compare``: equal-terms runs per prior and seed, paired differences to the
baseline, k̂ shares, amortisation gaps, InferenceData files, figures and the report, and
nothing refitted (or recomputed) when the comparison is run again."""

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
from ppvae.run_diagnostics import DiagnosticsConfig
from ppvae.runs import EvalConfig, RunConfig

TINY = RunConfig(
    DataConfig(name="digits"),
    ModelConfig(latent_dim=2, hidden=(16,)),
    FitConfig(epochs=1, progress=False),
    EvalConfig(num_samples=10),
)
SMALL = DiagnosticsConfig(
    khat_points=20,
    khat_samples=50,
    latent_points=3,
    gap_points=5,
    gap_steps=20,
    gap_samples=50,
    samples=4,
)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    rows = compare(TINY, ["normal", "laplace"], out, seeds=[0, 1], diagnostics=SMALL)
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
    # the seeds score the same images: the SE is that of the per-image mean differences
    per_image = torch.stack(
        [
            load_torch(out / "laplace" / f"seed-{s}" / "pointwise.pt")["log_likelihood"].double()
            - load_torch(out / "normal" / f"seed-{s}" / "pointwise.pt")["log_likelihood"].double()
            for s in (0, 1)
        ]
    ).mean(0)
    assert other["diff_se"] == pytest.approx(per_image.std().item() / math.sqrt(len(per_image)))
    assert other["diff_seed_se"] == pytest.approx(abs(diffs[0][0] - diffs[1][0]) / 2)
    assert 0 <= other["khat_unreliable"] <= 1 and other["seeds"] == 2
    gaps = []
    for seed in (0, 1):
        gap = load_torch(out / "laplace" / f"seed-{seed}" / "diagnostics.pt")["gap"]["value"]
        assert gap["optimized"].shape == (SMALL.gap_points,)
        gaps.append(gap["optimized"] - gap["amortized"])
    assert other["gap"] == pytest.approx(torch.stack(gaps).double().mean().item())
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
    again = compare(TINY, ["normal", "laplace"], out, seeds=[0, 1], diagnostics=SMALL)
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


def test_each_prior_is_saved_as_inference_data(two_seeds):
    from ppvae.data import load_data
    from ppvae.inference.diagnostics import load_inference_data

    out, _ = two_seeds
    idata = load_inference_data(out / "laplace" / "inference_data.nc")
    assert idata.posterior.chain.values.tolist() == [0, 1]  # one chain per training seed
    assert dict(idata.posterior.z.sizes) == {"chain": 2, "draw": 50, "test_point": 3, "latent": 2}
    for seed in (0, 1):
        run = out / "laplace" / f"seed-{seed}"
        points = load_torch(run / "pointwise.pt")
        cached = load_torch(run / "diagnostics.pt")
        chain = {"chain": seed}
        loglik = idata.log_likelihood.x.sel(chain).values
        assert loglik.tolist() == points["log_likelihood"].double().tolist()
        assert idata.sample_stats.elbo.sel(chain).values.tolist() == points["elbo"].tolist()
        khat = idata.sample_stats.pareto_k.sel(chain).values
        assert khat.tolist() == cached["importance"]["value"]["khat"].tolist()
        epochs = idata.sample_stats.val_elbo.sel(chain).values
        with open(run / "history.csv") as f:
            assert epochs.tolist() == [float(r["val_elbo"]) for r in csv.DictReader(f)]
    observed = idata.observed_data.x.values
    x_test = load_data(TINY.data).split("test")[0]
    assert observed.shape == tuple(x_test.shape) and (observed == x_test.numpy()).all()


def test_the_report_and_figures_are_written(two_seeds):
    out, rows = two_seeds
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == [
        "differences.png",
        "elbo_curves.png",
        "gap_histogram.png",
        "khat_arviz.png",
        "khat_histogram.png",
        "samples.png",
    ]
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert "<td>laplace</td>" in page and "amortisation gap" in page
    assert f"{rows[1]['diff']:+.2f} ± {rows[1]['diff_se']:.2f}" in page


def test_a_new_gap_setting_recomputes_only_the_gap(two_seeds, tmp_path, monkeypatch):
    import shutil

    import ppvae.run_diagnostics as rd

    out = tmp_path / "copy"
    shutil.copytree(two_seeds[0], out)

    def refuse(*args, **kwargs):
        raise AssertionError("importance weights were recomputed")

    monkeypatch.setattr(rd, "importance_draws", refuse)
    again = DiagnosticsConfig(**{**SMALL.__dict__, "gap_steps": 30})
    compare(TINY, ["normal", "laplace"], out, seeds=[0, 1], diagnostics=again)
    cached = load_torch(out / "normal" / "seed-0" / "diagnostics.pt")
    assert cached["gap"]["settings"]["gap_steps"] == 30


def test_a_refitted_run_gets_fresh_diagnostics_and_a_reevaluated_one_keeps_them(
    two_seeds, tmp_path, monkeypatch
):
    import shutil

    import ppvae.run_diagnostics as rd
    from ppvae.runs import evaluate_run

    out = tmp_path / "copy"
    shutil.copytree(two_seeds[0], out)
    calls = []
    real = rd.importance_draws
    monkeypatch.setattr(rd, "importance_draws", lambda *a, **k: calls.append(1) or real(*a, **k))
    evaluate_run(out / "normal" / "seed-0", num_samples=10)  # same weights: nothing to redo
    compare(TINY, ["normal", "laplace"], out, seeds=[0, 1], diagnostics=SMALL)
    assert calls == []
    compare(TINY, ["normal", "laplace"], out, seeds=[0], diagnostics=SMALL, overwrite=True)
    assert len(calls) == 2  # both seed-0 runs were refitted


def test_variants_are_compared_the_same_way(tmp_path):
    rows = compare(TINY, ["normal", "normal@beta=4"], tmp_path / "c", diagnostics=SMALL)
    assert [r["prior"] for r in rows] == ["normal", "normal@beta=4"]
    from ppvae.io import read_json

    saved = read_json(tmp_path / "c" / "normal-beta-4" / "seed-0" / "config.json")
    assert saved["fit"]["beta"] == 4.0 and saved["model"]["prior"] == "normal"
    assert rows[1]["rate"] < rows[0]["rate"]  # a heavier KL weight spends fewer nats on z


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("normal@epochs=3", "held equal"),
        ("normal@family=ae", "point-mass"),
        ("normal@beta=abc", "not a valid float"),
        ("vamp@nonsense=1", "has no argument nonsense"),
    ],
)
def test_bad_variants_exit_2(entry, message, tmp_path, capsys):
    argv = ["compare", "--data", "digits", "--epochs", "1", "--out", str(tmp_path / "c")]
    assert main([*argv, "--priors", "normal", entry]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_the_report_renders_in_a_browser(two_seeds, tmp_path):
    """Chromium shows the table (every entry, the numbers of compare.csv) and the figures:
    the page shows coloured plots, and the same page without its pictures none."""
    import re

    from tests.browser import coloured, dump_dom, screenshot

    out, _ = two_seeds
    page = out / "report.html"
    dom = dump_dom(page, tmp_path / "profile-a")
    cells = re.findall(r"<td>(?:<b>)?(.*?)(?:</b>)?</td>", dom)
    assert cells[0] == "normal" and "laplace" in cells
    with open(out / "compare.csv") as f:
        laplace = next(r for r in csv.DictReader(f) if r["prior"] == "laplace")
    assert f"{float(laplace['log_likelihood']):.2f} ± " in " ".join(cells)
    assert dom.count("<img") == 6
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<img [^>]*>", "", page.read_text()))
    assert coloured(screenshot(page, tmp_path / "profile-b")) > 1e-3
    assert coloured(screenshot(bare, tmp_path / "profile-c")) < 1e-4
