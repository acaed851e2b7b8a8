"""Refitting a trained model's prior (``ppvae refit-prior``): importance-resampled draws
match a known posterior, the fit moves only the prior and keeps its best held-out check,
the new run keeps the source's network and scores like any run, and user mistakes exit 2."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.distributions import MultivariateNormal

from ppvae.cli import main
from ppvae.errors import UserInputError
from ppvae.inference.checkpoint import check_resumable, load_checkpoint
from ppvae.inference.evaluate import importance_draws
from ppvae.inference.prior_fit import (
    fit_prior,
    log_likelihood_change,
    mean_log_density,
    posterior_draws,
    weighted_draws,
)
from ppvae.io import read_json
from ppvae.models import LearnedGaussian, MixtureOfGaussians, MLPEncoder, VampPrior
from ppvae.runs import evaluate_run, load_run
from tests.linear_gaussian import NOISE, D, make_ppca

FAST = ["--data", "digits", "--latent-dim", "3", "--hidden", "16", "--batch-size", "64"]
FAST = [*FAST, "--num-samples", "8", "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("refit") / "run"
    assert main(["fit", *FAST, "--epochs", "4", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def refitted(run: Path) -> Path:
    dest = run.parent / "mog"
    flags = ["--prior", "mixture", "--prior-arg", "components=8", "--steps", "300"]
    assert main(["refit-prior", str(run), str(dest), *flags, "--no-progress"]) == 0
    return dest


def _exact_posterior(seed: int = 0):
    """A PPCA model, one data point, and its exact posterior mean and standard deviation."""
    vae, _ = make_ppca(seed)
    x = torch.full((1, D), 0.7)
    post = vae.encoder(x)  # this encoder's q(z|x) is the exact posterior
    return vae, x, post.mean[0].detach(), post.stddev[0].detach()


def test_resampling_corrects_a_too_wide_guide_to_the_exact_posterior():
    _, x, mean, std = _exact_posterior()
    wide, _ = make_ppca(0, scale_factor=2.0)
    xs = x.expand(4000, D)
    raw = posterior_draws(wide, xs, proposals=1, batch_size=500)
    fixed = posterior_draws(wide, xs, proposals=64, batch_size=500)
    # 4000 draws: the sample std's relative error is about 1/sqrt(8000), about 1.1%
    assert torch.allclose(raw.std(0), 2 * std, rtol=0.05)
    assert torch.allclose(fixed.std(0), std, rtol=0.08)
    assert torch.allclose(fixed.mean(0), mean, atol=4 * float(std.max()) / math.sqrt(4000))


def test_draws_of_one_site_are_that_sites_columns():
    vae, x, _, _ = _exact_posterior()
    _, every = importance_draws(vae, x.expand(3, D), num_samples=5, keep_latents=3)
    _, top = importance_draws(vae, x.expand(3, D), num_samples=5, keep_latents=3, site="z")
    assert torch.equal(every, top)  # one latent site: the same draws, the same stream
    with pytest.raises(UserInputError, match="no latent site 'w'"):
        importance_draws(vae, x, num_samples=2, keep_latents=1, site="w")


def test_the_likelihood_change_matches_the_closed_form_of_a_linear_gaussian_model():
    """PPCA with prior N(0, I) against N(m, diag(s²)): both marginals are Gaussian."""
    vae, _ = make_ppca(0)
    new = LearnedGaussian(2)
    with torch.no_grad():
        new.loc.copy_(torch.tensor([0.3, -0.2]))
        new.raw_scale.copy_(torch.log(torch.expm1(torch.tensor([1.2, 0.8]))))
    w, b = vae.decoder.head.weight.detach(), vae.decoder.head.bias.detach()
    cov = torch.diag(torch.tensor([1.2, 0.8]) ** 2)
    noise = NOISE**2 * torch.eye(D)
    exact_new = MultivariateNormal(w @ new.loc.detach() + b, w @ cov @ w.T + noise)
    exact_old = MultivariateNormal(b, w @ w.T + noise)
    x = torch.randn(5, D, generator=torch.Generator().manual_seed(1))
    log_w, z = weighted_draws(vae, x, proposals=4000, batch_size=5)
    change = log_likelihood_change(vae.prior, new, log_w, z)
    exact = exact_new.log_prob(x) - exact_old.log_prob(x)
    # the exact posterior as proposal: self-normalised weights of 4000 draws; the ratio's
    # spread is moderate here, so 0.03 nats is several standard errors
    assert torch.allclose(change.float(), exact, atol=0.03)


def test_a_larger_prior_starts_from_the_runs_own(run, tmp_path):
    first = tmp_path / "vamp3"
    flags = ["--prior", "vamp", "--prior-arg", "components=3", "--steps", "5"]
    assert main(["refit-prior", str(run), str(first), *flags, "--no-progress"]) == 0
    grown = tmp_path / "vamp5"
    flags = ["--prior", "vamp", "--prior-arg", "components=5", "--steps", "1", "--from-source"]
    assert main(["refit-prior", str(first), str(grown), *flags, "--lr", "1e-9"]) == 0
    old = load_checkpoint(first / "checkpoint.pt")["model"]["prior.pseudo_inputs"]
    new = load_checkpoint(grown / "checkpoint.pt")["model"]["prior.pseudo_inputs"]
    assert new.shape[0] == 5 and torch.allclose(new[:3], old, atol=1e-6)


def _two_modes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    sign = torch.tensor([-1.0, 1.0]).repeat(n // 2)[:, None]
    return torch.randn(n, 1, generator=g) + 4 * sign


def test_a_mixture_fit_reaches_the_true_densitys_mean_log_density():
    torch.manual_seed(0)
    prior = MixtureOfGaussians(1, components=2)
    train, val = _two_modes(4000, 0), _two_modes(2000, 1)
    prior.init_from_data(train)
    rows = fit_prior(prior, train, val, steps=800, lr=0.02, batch_size=500, eval_every=100)
    # the true density's mean log density: minus the entropy of two far-apart unit normals
    truth = -(0.5 * math.log(2 * math.pi * math.e) + math.log(2))
    assert rows[0]["step"] == 0 and rows[-1]["step"] == 800
    assert abs(mean_log_density(prior, val) - truth) < 0.05  # MC error of 2000 draws ~0.02
    assert mean_log_density(prior, val) == pytest.approx(max(r["val_log_density"] for r in rows))


def test_the_prior_is_left_at_its_best_held_out_check():
    torch.manual_seed(0)
    prior = MixtureOfGaussians(1, components=2)
    train, val = _two_modes(400, 0), _two_modes(400, 1)
    prior.init_from_data(train)
    rows = fit_prior(prior, train, val, steps=60, lr=5.0, batch_size=100, eval_every=10)
    best = max(r["val_log_density"] for r in rows)
    assert best > rows[-1]["val_log_density"]  # a learning rate of 5 overshoots ...
    assert mean_log_density(prior, val) == pytest.approx(best)  # ... and the best is kept


def test_a_vamp_prior_fit_moves_its_pseudo_inputs_and_never_the_shared_encoder():
    torch.manual_seed(0)
    encoder = MLPEncoder((6,), 2, hidden=(8,))
    prior = VampPrior(2, (6,), components=3, encoder=encoder)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    start = prior.pseudo_inputs.detach().clone()
    z = torch.randn(200, 2) * 0.3 + 1.0
    fit_prior(prior, z[:150], z[150:], steps=20, lr=0.05, batch_size=50, eval_every=5)
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    assert not torch.equal(start, prior.pseudo_inputs)
    assert all(p.requires_grad for p in encoder.parameters())  # restored afterwards


def test_the_new_run_keeps_the_network_and_fits_the_prior(run, refitted, capsys):
    config = read_json(refitted / "config.json")
    assert config["model"]["prior"] == "mixture"
    assert config["model"]["prior_args"] == {"components": "8"}
    source = load_run(run)[2].state_dict()
    new = load_checkpoint(refitted / "checkpoint.pt")["model"]
    network = [k for k in source if not k.startswith("prior.")]
    assert network and all(torch.equal(source[k], new[k]) for k in network)
    summary = read_json(refitted / "refit.json")
    assert summary["gain"] == pytest.approx(
        summary["log_density"] - summary["log_density_source_prior"]
    )
    val = len(load_run(run)[1].x_val)  # the first half picks the step, the second reports
    assert summary["report_images"] == val - val // 2 and summary["source"] == str(run.resolve())
    assert summary["gain"] > 0  # 8 free components beat N(0, I) at its own posteriors
    assert summary["log_likelihood_change"] > 0 and summary["log_likelihood_change_se"] > 0
    rows = (refitted / "refit.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 1 + 4  # checks at 0, 100, 200, 300
    assert (refitted / "history.csv").read_text() == (run / "history.csv").read_text()


def test_the_new_run_scores_pairs_and_trains_on_like_any_run(run, refitted, capsys):
    metrics = evaluate_run(refitted, num_samples=16)
    assert metrics["prior"] == "mixture" and math.isfinite(metrics["test_log_likelihood"])
    assert main(["evaluate", str(run), "--num-samples", "16", "--no-progress"]) == 0
    assert main(["paired", str(run), str(refitted)]) == 0
    assert str(refitted) in capsys.readouterr().out
    out = run.parent / "on"
    flags = ["--prior", "mixture", "--prior-arg", "components=8", "--epochs", "1"]
    assert main(["fit", *FAST, *flags, "--init-from", str(refitted), "--out", str(out)]) == 0
    with pytest.raises(UserInputError, match="cannot be resumed"):
        check_resumable(load_checkpoint(refitted / "checkpoint.pt"), "x")


def test_a_vamp_prior_starts_from_training_images(run, tmp_path):
    dest = tmp_path / "vamp"
    flags = ["--prior", "vamp", "--prior-arg", "components=5", "--steps", "1"]
    assert main(["refit-prior", str(run), str(dest), *flags, "--eval-every", "1000"]) == 0
    pseudo = load_checkpoint(dest / "checkpoint.pt")["model"]["prior.pseudo_inputs"]
    # one Adam step of 1e-3 from binarised images: every value within 1e-3 of 0 or 1
    assert pseudo.shape == (5, 1, 8, 8)
    assert torch.minimum(pseudo.abs(), (pseudo - 1).abs()).max() <= 1.001e-3


def test_the_command_prints_the_bound_and_the_change(run, tmp_path, capsys):
    dest = tmp_path / "learned"
    flags = ["--prior", "learned", "--steps", "50", "--eval-every", "25", "--no-progress"]
    assert main(["refit-prior", str(run), str(dest), *flags]) == 0
    out, s = capsys.readouterr().out, read_json(dest / "refit.json")
    assert f"{s['gain']:+.3f} nats, a lower bound" in out
    assert f"{s['log_likelihood_change']:+.3f} ± {s['log_likelihood_change_se']:.3f}" in out
    assert f"ppvae evaluate {dest}" in out


def test_a_two_level_run_refits_its_top_layer_only(tmp_path):
    run, dest = tmp_path / "hvae", tmp_path / "hvae-mog"
    assert main(["fit", *FAST, "--levels", "2", "--epochs", "2", "--out", str(run)]) == 0
    source = load_run(run)[2]
    x = load_run(run)[1].x_val[:4]
    _, every = importance_draws(source, x, num_samples=3, keep_latents=4)
    _, top = importance_draws(source, x, num_samples=3, keep_latents=4, site="z")
    assert every.shape[-1] == 6 and torch.equal(top, every[..., :3])  # z, then z_lower
    flags = ["--prior", "mixture", "--prior-arg", "components=4", "--steps", "20"]
    assert main(["refit-prior", str(run), str(dest), *flags, "--no-progress"]) == 0
    new = load_checkpoint(dest / "checkpoint.pt")["model"]
    lower = [k for k in new if k.startswith(("lower_prior.", "lower_encoder."))]
    assert lower and all(torch.equal(new[k], source.state_dict()[k]) for k in lower)
    assert new["prior.locs"].shape == (4, 3)
    assert math.isfinite(evaluate_run(dest, num_samples=4)["test_log_likelihood"])


def test_from_source_keeps_a_flows_permutations(tmp_path):
    run, dest = tmp_path / "flow", tmp_path / "flow-again"
    fit = ["fit", *FAST, "--prior", "flow", "--epochs", "1", "--seed", "3"]
    assert main([*fit, "--out", str(run)]) == 0
    flags = ["--prior", "flow", "--from-source", "--steps", "1", "--lr", "1e-9"]
    assert main(["refit-prior", str(run), str(dest), *flags, "--no-progress"]) == 0
    s = read_json(dest / "refit.json")
    # the same density (a seed-0 build alone would draw other permutations)
    assert s["log_density"] == pytest.approx(s["log_density_source_prior"], abs=1e-5)


def test_a_run_trained_with_free_bits_needs_a_prior_with_a_closed_form_kl(tmp_path, capsys):
    run = tmp_path / "fb"
    assert main(["fit", *FAST, "--free-bits", "0.1", "--epochs", "1", "--out", str(run)]) == 0
    flags = ["--prior", "mixture", "--steps", "2", "--no-progress"]
    assert main(["refit-prior", str(run), str(tmp_path / "mog"), *flags]) == 2
    assert "training settings do not suit the new prior" in capsys.readouterr().err
    assert not (tmp_path / "mog").exists()
    assert main(["refit-prior", str(run), str(tmp_path / "g"), "--prior", "learned"]) == 0


def test_a_sequence_prior_is_refused(tmp_path, capsys):
    run = tmp_path / "md"
    tiny = ["--epochs", "1", "--latent-dim", "2", "--hidden", "16", "--num-samples", "2"]
    fit = ["fit", "--data", "moving-digits", "--prior", "markov", *tiny, "--no-progress"]
    assert main([*fit, "--out", str(run)]) == 0
    assert main(["refit-prior", str(run), str(tmp_path / "m"), "--prior", "markov"]) == 2
    assert "vector latent" in capsys.readouterr().err


@pytest.mark.parametrize(
    "problem, flags, message",
    [
        ("not empty", ["--prior", "learned"], "not an empty folder"),
        ("inside", ["--prior", "learned"], "inside the run"),
        ("flat", ["--prior", "flat"], "no density to fit"),
        ("unknown", ["--prior", "nope"], "nope"),
        ("bad arg", ["--prior", "mixture", "--prior-arg", "components"], "key=value"),
        ("no params", ["--prior", "normal"], "no parameters to fit"),
        ("other class", ["--prior", "mixture", "--from-source"], "needs the run's prior class"),
    ],
)
def test_mistakes_exit_2_and_write_nothing(run, tmp_path, capsys, problem, flags, message):
    dest = run / "inner" if problem == "inside" else tmp_path / "dest"
    if problem == "not empty":
        dest.mkdir()
        (dest / "mine.txt").write_text("mine")
    before = sorted(p.name for p in run.iterdir())
    assert main(["refit-prior", str(run), str(dest), *flags, "--steps", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ppvae refit-prior: error:") and "Traceback" not in err
    assert message in err
    assert sorted(p.name for p in run.iterdir()) == before
    assert problem == "not empty" or not dest.exists()
