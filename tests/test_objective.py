"""beta-VAE, KL annealing and free bits: the objective changes, the program does not."""

from __future__ import annotations

import math

import pyro.poutine as poutine
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from pyro.infer import Trace_ELBO
from torch.distributions import kl_divergence

from ppvae.cli import main
from ppvae.errors import UserInputError
from ppvae.inference import FitConfig, fit
from ppvae.inference.elbo import AnalyticKL_ELBO
from ppvae.inference.free_bits import FreeBitsELBO
from ppvae.inference.kl_weight import KLSchedule, LatentScale, scaled
from ppvae.models import ModelConfig, build_vae


def _vae(digits, seed=0, prior="normal"):
    torch.manual_seed(seed)
    config = ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(32,), prior=prior)
    return build_vae(config)


def _loss(elbo, vae, x, beta, seed=0):
    scale = LatentScale(beta)
    torch.manual_seed(seed)
    with torch.no_grad():
        return elbo.loss(scaled(vae.model, scale), scaled(vae.guide, scale), x)


def test_beta_scales_exactly_the_kl_term(digits):
    vae, x = _vae(digits), digits.x_val[:32]
    distortion = _loss(AnalyticKL_ELBO(), vae, x, 0.0)
    with torch.no_grad():
        kl = kl_divergence(vae.encoder(x, None), vae.prior(None)).sum().item()
    assert distortion > 0
    for beta in (0.5, 1.0, 4.0):
        expected = distortion + beta * kl
        assert _loss(AnalyticKL_ELBO(), vae, x, beta) == pytest.approx(expected, rel=1e-5)


def test_beta_scales_the_latent_site_in_model_and_guide_for_monte_carlo_too(digits):
    vae, x = _vae(digits), digits.x_val[:32]
    losses = [_loss(Trace_ELBO(), vae, x, beta) for beta in (0.0, 1.0, 3.0)]
    # same draws, so the Monte-Carlo loss is exactly distortion + beta * (log q - log p)
    assert losses[0] > 0
    assert losses[2] - losses[0] == pytest.approx(3 * (losses[1] - losses[0]), rel=1e-4)
    scale = LatentScale(0.25)
    for program in (vae.model, vae.guide):
        trace = poutine.trace(scaled(program, scale)).get_trace(x, None)
        assert trace.nodes["z"]["scale"] == 0.25
    assert poutine.trace(scaled(vae.model, scale)).get_trace(x, None).nodes["x"]["scale"] == 1.0


@given(
    beta=st.floats(0, 10),
    anneal=st.sampled_from(["none", "linear", "cyclical"]),
    steps=st.integers(2, 500),
    step=st.integers(0, 10_000),
)
def test_schedule_stays_between_zero_and_beta_and_reaches_beta(beta, anneal, steps, step):
    schedule = KLSchedule(beta, anneal, steps)
    assert 0 <= schedule.weight(step) <= beta
    assert schedule.weight(steps * 3) == (0.0 if anneal == "cyclical" else beta)
    done = steps if anneal == "linear" else steps - 1  # warm-up over, or second half-cycle
    assert schedule.weight(done) == pytest.approx(beta)


def test_free_bits_floor_the_batch_mean_kl_of_every_dimension(digits):
    vae, x = _vae(digits), digits.x_val[:32]
    plain = _loss(AnalyticKL_ELBO(), vae, x, 1.0)
    assert _loss(FreeBitsELBO(0.0), vae, x, 1.0) == pytest.approx(plain, rel=1e-6)
    distortion = _loss(AnalyticKL_ELBO(), vae, x, 0.0)
    with torch.no_grad():
        per_dim = kl_divergence(vae.encoder(x, None).base_dist, vae.prior(None).base_dist)
    floor = per_dim.mean(0).max().item() + 1.0  # above every dimension's mean KL
    floored = _loss(FreeBitsELBO(floor), vae, x, 2.0)
    assert floored == pytest.approx(distortion + 2.0 * 32 * 4 * floor, rel=1e-5)
    # below the floor the KL term has no gradient: only the distortion's is left
    grads = []
    for elbo, beta in ((FreeBitsELBO(floor), 1.0), (AnalyticKL_ELBO(), 0.0)):
        vae.zero_grad()
        scale = LatentScale(beta)
        torch.manual_seed(0)
        elbo.differentiable_loss(scaled(vae.model, scale), scaled(vae.guide, scale), x).backward()
        grads.append([p.grad.clone() for p in vae.parameters()])
    for with_floor, distortion_only in zip(*grads, strict=True):
        assert torch.allclose(with_floor, distortion_only, atol=1e-6)


def test_fit_records_the_schedule_and_the_plain_elbo(digits):
    config = FitConfig(epochs=3, batch_size=64, progress=False, beta=2.0)
    result = fit(_vae(digits), digits, config, anneal="linear", anneal_steps=40)
    rows = result.history
    assert all(math.isnan(r["train_elbo"]) for r in rows)
    steps = [20 * (i + 1) - 1 for i in range(3)]  # 20 steps per epoch on the digits
    assert [r["kl_weight"] for r in rows] == [2.0 * min(1, s / 40) for s in steps]
    for r in rows:  # the validation columns are the ELBO and its two terms
        assert r["val_elbo"] == pytest.approx(-(r["val_rate"] + r["val_distortion"]))
    plain = fit(_vae(digits), digits, epochs=1, batch_size=64, progress=False).history[0]
    assert plain["train_elbo"] == plain["train_objective"] and plain["kl_weight"] == 1.0


def test_train_elbo_is_recorded_once_a_warm_up_to_one_has_finished(digits):
    config = FitConfig(epochs=3, batch_size=64, progress=False)
    rows = fit(_vae(digits), digits, config, anneal="linear", anneal_steps=20).history
    assert math.isnan(rows[0]["train_elbo"])  # 20 steps per epoch: warm-up over epoch 1
    for r in rows[1:]:
        assert r["kl_weight"] == 1.0 and r["train_elbo"] == r["train_objective"]


def test_larger_beta_trades_rate_for_distortion(digits):
    rows = {
        beta: fit(_vae(digits), digits, epochs=8, batch_size=64, progress=False, beta=beta).history[
            -1
        ]
        for beta in (0.2, 5.0)
    }
    assert rows[5.0]["val_rate"] < rows[0.2]["val_rate"] / 3
    assert rows[5.0]["val_distortion"] > rows[0.2]["val_distortion"] + 1  # 29.8 vs 27.4


def test_bad_objective_settings_are_refused():
    with pytest.raises(UserInputError, match="beta must be"):
        FitConfig(beta=-0.5)
    with pytest.raises(UserInputError, match="anneal-steps"):
        FitConfig(anneal="linear")
    with pytest.raises(UserInputError, match="free_bits"):
        FitConfig(free_bits=-1.0)
    with pytest.raises(UserInputError, match="elbo='trace'"):
        FitConfig(free_bits=1.0, elbo="trace")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--beta", "-1"], "beta must be a finite number >= 0"),
        (["--anneal", "cyclical"], "needs --anneal-steps"),
        (["--free-bits", "0.5", "--prior", "student-t"], "closed-form KL per latent dimension"),
    ],
)
def test_cli_refuses_bad_objectives_with_exit_2_before_writing(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    code = main(["fit", "--data", "digits", "--out", str(out), "--no-progress", *flags])
    assert code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def _sweep(tmp_path, *extra):
    flags = ["--data", "digits", "--latent-dim", "4", "--hidden", "32", "--epochs", "2"]
    flags += ["--num-samples", "20", "--no-progress", "--out", str(tmp_path / "sweep")]
    return main(["sweep", *flags, *extra])


def test_sweep_writes_the_curve_and_reuses_finished_runs(tmp_path, capsys):
    assert _sweep(tmp_path, "--betas", "4", "0.5", "1") == 0
    rows = (tmp_path / "sweep" / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("beta,rate,distortion,elbo,log_likelihood,log_likelihood_se")
    assert [float(r.split(",")[0]) for r in rows[1:]] == [0.5, 1.0, 4.0]
    rates = [float(r.split(",")[1]) for r in rows[1:]]
    assert rates[0] > rates[2]  # a larger beta buys a smaller rate
    assert (tmp_path / "sweep" / "rate_distortion.png").stat().st_size > 1000
    history = (tmp_path / "sweep" / "beta-4" / "history.csv").read_text().splitlines()
    assert history[1].split(",")[history[0].split(",").index("kl_weight")] == "4.0"
    # an interrupted sweep: one run lost its metrics (it is resumed), the others are reused
    (tmp_path / "sweep" / "beta-1" / "metrics.json").unlink()
    stamp = (tmp_path / "sweep" / "beta-4" / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    assert _sweep(tmp_path, "--betas", "4", "0.5", "1") == 0
    assert (tmp_path / "sweep" / "beta-1" / "metrics.json").exists()
    assert (tmp_path / "sweep" / "beta-4" / "metrics.json").stat().st_mtime_ns == stamp
    # other settings in the same folder are refused, before anything new is fitted
    for flags in (["--lr", "0.01"], ["--prior", "learned"], ["--binarize", "static"]):
        assert _sweep(tmp_path, "--betas", "0.25", "1", *flags) == 2
        assert "other settings" in capsys.readouterr().err
        assert not (tmp_path / "sweep" / "beta-0.25").exists()


@pytest.mark.parametrize(
    "betas, message", [(["-1", "1"], "beta must be"), (["1", "1.0"], "repeat a value")]
)
def test_sweep_refuses_bad_betas(tmp_path, capsys, betas, message):
    assert _sweep(tmp_path, "--betas", *betas) == 2
    assert message in capsys.readouterr().err


def test_traversals_sweep_the_most_active_coordinates(digits):
    from ppvae.traversals import latent_traversals

    vae = _vae(digits)
    images, chosen = latent_traversals(vae, digits.x_val, dims=3, steps=5)
    assert images.shape == (15, *digits.x_shape) and len(set(chosen)) == 3
    means = vae.encode(digits.x_val).mean
    assert chosen == torch.argsort(means.std(0), descending=True)[:3].tolist()
    rows = images.reshape(3, 5, -1)
    assert (rows[:, 0] - rows[:, -1]).abs().sum() > 0  # the sweep changes the picture


def test_free_bits_at_zero_equal_the_analytic_elbo_under_a_mask():
    import pyro
    import pyro.distributions as dist
    from pyro.infer import TraceMeanField_ELBO

    x = torch.randn(4, 3)
    mask = torch.tensor([True, False, True, False])
    loc = torch.randn(4, 2)

    def model(x):
        with pyro.plate("data", 4), poutine.mask(mask=mask):
            z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z.sum(-1, keepdim=True), 1.0).to_event(1), obs=x)

    def guide(x):
        with pyro.plate("data", 4), poutine.mask(mask=mask):
            pyro.sample("z", dist.Normal(loc, 0.5).to_event(1))

    losses = []
    for elbo in (TraceMeanField_ELBO(), FreeBitsELBO(0.0)):
        torch.manual_seed(0)
        losses.append(elbo.loss(model, guide, x))
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
