"""fit(): the SVI loop, ELBO choice, checkpoints, exact resume, early stopping, faults."""

from __future__ import annotations

import pyro.distributions as dist
import pytest
import torch
from torch import nn

from ppvae.errors import UserInputError
from ppvae.inference import FitConfig, TrainingDiverged, fit, make_elbo
from ppvae.inference.checkpoint import load_checkpoint
from ppvae.inference.svi import FitResult, _TrainState
from ppvae.models import VAE, ModelConfig, build_vae


def _vae(digits, seed=0):
    torch.manual_seed(seed)
    return build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(32,)))


def test_fit_raises_the_elbo(digits):
    result = fit(_vae(digits), digits, epochs=6, batch_size=64, progress=False)
    assert result.epochs == 6 and len(result.losses) == 6 * 20
    elbos = [row["train_elbo"] for row in result.history]
    assert elbos[-1] > elbos[0] + 5  # ~ -37 -> -28 nats on the digits
    assert result.history[-1]["val_elbo"] > result.history[0]["val_elbo"]
    assert result.seconds > 0 and result.elbo == "AnalyticKL_ELBO"


class StudentTPrior(nn.Module):
    """No closed-form KL(Normal || StudentT) is registered, so auto must pick Monte Carlo."""

    def forward(self, context=None):
        return dist.StudentT(3.0, torch.zeros(4), torch.ones(4)).to_event(1)


def test_auto_elbo_uses_analytic_kl_only_where_it_exists(digits):
    vae = _vae(digits)
    args = (digits.x_val[:8], None)
    name = lambda kind, m: type(make_elbo(kind, m.model, m.guide, args)).__name__  # noqa: E731
    assert name("auto", vae) == name("meanfield", vae) == "AnalyticKL_ELBO"
    assert name("trace", vae) == "Trace_ELBO"
    heavy = VAE(vae.encoder, vae.decoder, vae.likelihood, StudentTPrior())
    assert name("auto", heavy) == "Trace_ELBO"
    assert name("meanfield", heavy) == "TraceMeanField_ELBO"  # KL where it exists, MC elsewhere
    result = fit(heavy, digits, epochs=1, progress=False)
    assert result.elbo == "Trace_ELBO"


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"num_particles": 2},
        {"patience": 1, "lr": 0.03},
        {"elbo": "trace"},
        {"beta": 2.0, "anneal": "cyclical", "anneal_steps": 30, "free_bits": 0.5},
        {"lr_schedule": "cosine", "lr_warmup": 15, "lr": 0.003},
        {"elbo": "iwae", "num_particles": 3},
    ],
)
def test_resume_is_bit_identical_to_an_uninterrupted_run(digits, tmp_path, extra):
    config = FitConfig(epochs=4, batch_size=64, progress=False, seed=3, **extra)
    straight = _vae(digits)
    full = fit(straight, digits, config)

    def interrupt(result: FitResult) -> None:
        if result.epochs == 2:
            raise KeyboardInterrupt  # as Ctrl-C after the second epoch's checkpoint

    with pytest.raises(KeyboardInterrupt):
        fit(_vae(digits), digits, config, checkpoint=tmp_path / "c.pt", on_epoch=interrupt)
    resumed = _vae(digits, seed=99)  # different initial weights: all must come from the checkpoint
    result = fit(resumed, digits, config, checkpoint=tmp_path / "c.pt", resume=True)

    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert result.losses == full.losses
    assert [r["val_elbo"] for r in result.history] == [r["val_elbo"] for r in full.history]
    assert result.best_epoch == full.best_epoch and result.stopped_early == full.stopped_early
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == result.epochs


def test_resuming_with_other_settings_is_refused(digits, tmp_path):
    fit(_vae(digits), digits, epochs=1, progress=False, checkpoint=tmp_path / "c.pt")
    with pytest.raises(UserInputError, match=r"lr=0\.001"):
        fit(
            _vae(digits),
            digits,
            epochs=2,
            lr=0.01,
            progress=False,
            checkpoint=tmp_path / "c.pt",
            resume=True,
        )


def test_checkpoint_holds_model_optimiser_rng_and_progress(digits, tmp_path):
    fit(_vae(digits), digits, epochs=1, progress=False, checkpoint=tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert {"model", "optimizer", "rng", "epoch", "history", "losses"} <= set(ckpt)
    assert ckpt["epoch"] == 1 and set(ckpt["rng"]) >= {"torch", "data"}
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temporary file


def test_early_stopping_state_machine():
    state = _TrainState(result=FitResult())
    model = nn.Linear(1, 1)
    for epoch, val in enumerate([-10.0, -9.0, -9.5, -9.2], start=1):
        state.end_epoch({"epoch": epoch, "val_elbo": val, "seconds": 0.1}, model, patience=2)
    assert state.result.best_epoch == 2 and state.result.stopped_early
    assert state.best_model is not None


def test_early_stopping_restores_the_best_parameters(digits):
    vae = _vae(digits)
    seen: list[dict] = []

    def remember(result: FitResult) -> None:
        seen.append({k: v.clone() for k, v in vae.state_dict().items()})

    result = fit(vae, digits, epochs=12, lr=0.05, patience=2, progress=False, on_epoch=remember)
    assert result.stopped_early or result.epochs == 12
    best = seen[result.best_epoch - 1]
    assert all(torch.equal(best[k], v) for k, v in vae.state_dict().items())


def test_non_finite_loss_is_reported_with_its_batch(digits):
    vae = _vae(digits)
    calls = {"n": 0}

    def poison(module, inputs, output):
        if not torch.is_grad_enabled():
            return output  # set-up probes and validation run without gradients
        calls["n"] += 1
        return output * float("nan") if calls["n"] == 4 else output

    vae.decoder.register_forward_hook(poison)
    with pytest.raises(TrainingDiverged, match=r"batch 3 .*learning rate"):
        fit(vae, digits, epochs=1, batch_size=64, progress=False)


def test_bad_settings_and_data_are_refused(digits):
    with pytest.raises(UserInputError, match="elbo"):
        FitConfig(elbo="renyi")
    with pytest.raises(UserInputError, match="device"):
        FitConfig(device="gpu")
    with pytest.raises(UserInputError, match=r"not available|supported"):
        FitConfig(device="cuda:7")
    with pytest.raises(UserInputError, match="must be int"):
        FitConfig(batch_size=64.0)
    with pytest.raises(UserInputError, match="seed"):
        FitConfig(seed=2**70)
    with pytest.raises(UserInputError, match="lr"):
        FitConfig(lr=-1.0)
    wrong_shape = build_vae(ModelConfig(x_shape=(1, 4, 4), latent_dim=2, hidden=(8,)))
    with pytest.raises(UserInputError, match="shape"):
        fit(wrong_shape, digits, epochs=1, progress=False)
    grey = build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=2, hidden=(8,)))
    from dataclasses import replace

    not_binarised = replace(digits, binarize="none")
    with pytest.raises(UserInputError, match="0/1"):
        fit(grey, not_binarised, epochs=1, progress=False)
    # Support is checked on every split, not only on the first batch.
    bad_test = replace(digits, x_test=digits.x_test * 0.5)
    with pytest.raises(UserInputError, match="0/1"):
        fit(grey, bad_test, epochs=1, progress=False)


def test_fit_does_not_touch_the_global_param_store(digits):
    import pyro

    fit(_vae(digits), digits, epochs=1, progress=False)
    assert len(pyro.get_param_store()) == 0


def test_the_learning_rate_follows_its_schedule(digits):
    config = FitConfig(
        epochs=4, batch_size=64, progress=False, lr=0.002, lr_schedule="cosine", lr_warmup=10
    )
    result = fit(_vae(digits), digits, config)
    lrs = [row["lr"] for row in result.history]  # each epoch's last step, 20 steps an epoch
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 1e-5
    from ppvae.inference.svi import learning_rate

    assert lrs[1] == pytest.approx(learning_rate(config, 39, 80))


def test_a_cosine_run_is_not_stretched_on_resume(digits, tmp_path):
    config = FitConfig(epochs=2, batch_size=64, progress=False, lr_schedule="cosine")
    fit(_vae(digits), digits, config, checkpoint=tmp_path / "c.pt")
    with pytest.raises(UserInputError, match="cosine learning-rate schedule over 2 epochs"):
        fit(_vae(digits), digits, config, epochs=4, checkpoint=tmp_path / "c.pt", resume=True)
