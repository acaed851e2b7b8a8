"""NaN rollback: a fault restores the epoch's start and redoes it at half the learning
rate, exactly as a run resumed from that epoch with the rate halved would."""

from __future__ import annotations

import pytest
import torch

from ppvae.inference import FitConfig, TrainingDiverged, fit
from ppvae.inference.checkpoint import load_checkpoint, save_checkpoint
from ppvae.models import ModelConfig, build_vae

CONFIG = FitConfig(epochs=3, batch_size=64, progress=False, seed=1, on_nan="rollback")


def _vae(digits, seed=0):
    torch.manual_seed(seed)
    return build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(32,)))


def _poison(vae, bad_calls):
    """The decoder's output turns NaN on the given training calls (counted from 1)."""
    calls = {"n": 0}

    def hook(module, inputs, output):
        if not torch.is_grad_enabled():
            return output  # probes and validation
        calls["n"] += 1
        return output * float("nan") if bad_calls(calls["n"]) else output

    vae.decoder.register_forward_hook(hook)
    return vae


def test_a_rollback_redoes_the_epoch_at_half_the_rate(digits, tmp_path):
    steps = 20  # 1258 training digits in batches of 64
    faulty = _poison(_vae(digits), lambda n: n == steps + 5)  # batch 4 of epoch 2
    result = fit(faulty, digits, CONFIG)
    assert result.rollbacks == 1 and result.epochs == 3
    assert [row["lr"] for row in result.history] == [1e-3, 5e-4, 5e-4]
    assert len(result.losses) == 3 * steps  # the failed part of epoch 2 is not kept

    # by hand: one epoch, the checkpoint marked with one rollback (half the rate), resumed
    reference = _vae(digits)
    fit(reference, digits, CONFIG, epochs=1, checkpoint=tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt")
    ckpt["rollbacks"] = 1  # what halves the rate from here on
    save_checkpoint(tmp_path / "c.pt", ckpt)
    resumed = _vae(digits, seed=7)
    again = fit(resumed, digits, CONFIG, checkpoint=tmp_path / "c.pt", resume=True)
    for key, value in resumed.state_dict().items():
        assert torch.equal(value, faulty.state_dict()[key]), key
    assert again.losses == result.losses


def test_a_persistent_fault_stops_after_the_last_rollback(digits):
    faulty = _poison(_vae(digits), lambda n: n > 3)
    # batch 3 fails, then every rolled-back epoch at its first batch, the rate halving each time
    with pytest.raises(TrainingDiverged, match=r"batch 0 .*now 1\.5625e-05.*after 6 rollbacks"):
        fit(faulty, digits, CONFIG)


def test_without_rollback_the_first_fault_stops_the_run(digits):
    faulty = _poison(_vae(digits), lambda n: n == 25)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, batch 4 .*learning rate"):
        fit(faulty, digits, CONFIG, on_nan="stop")


def _poison_gradient(vae, bad_calls):
    """A finite loss whose gradient turns NaN on the given backward passes (from 1)."""
    calls = {"n": 0}

    def hook(grad):
        calls["n"] += 1
        return grad * float("nan") if bad_calls(calls["n"]) else grad

    next(vae.decoder.parameters()).register_hook(hook)
    return vae


def test_a_nan_gradient_on_an_epochs_last_batch_is_caught_before_the_step(digits, tmp_path):
    steps = 20
    faulty = _poison_gradient(_vae(digits), lambda n: n == steps)  # the last batch of epoch 1
    with pytest.raises(TrainingDiverged, match=r"gradient is not finite at epoch 1, batch 19"):
        fit(faulty, digits, CONFIG, on_nan="stop", checkpoint=tmp_path / "c.pt")
    assert all(torch.isfinite(p).all() for p in faulty.parameters())  # the step never ran
    rolled = _poison_gradient(_vae(digits), lambda n: n == steps)
    result = fit(rolled, digits, CONFIG)
    assert result.rollbacks == 1 and all(torch.isfinite(p).all() for p in rolled.parameters())


def test_the_checkpoint_keeps_the_last_good_epoch_when_a_run_stops(digits, tmp_path):
    faulty = _poison(_vae(digits), lambda n: n == 20 + 5)  # in epoch 2
    with pytest.raises(TrainingDiverged):
        fit(faulty, digits, CONFIG, on_nan="stop", checkpoint=tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
