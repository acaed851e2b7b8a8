"""An interrupted evaluation goes on from its last finished batch and ends with exactly
the estimates of an evaluation that was never interrupted: after Ctrl-C (saved on the
way out), after a kill (saved every SAVE_EVERY_SECONDS), and through `ppvae evaluate`."""

from __future__ import annotations

import importlib
import json
import shutil

import pytest
import torch

from ppvae.cli import main
from ppvae.inference import resumable
from ppvae.inference.svi import FitConfig
from ppvae.models import ModelConfig, build_vae
from ppvae.runs import PARTIAL_FILE, EvalConfig, RunConfig, fit_run

# the module (ppvae.inference.evaluate is also the name of a function there)
ev = importlib.import_module("ppvae.inference.evaluate")
FIELDS = ("log_likelihood", "elbo", "kl", "reconstruction", "posterior_mean")


@pytest.fixture
def vae_and_x():
    torch.manual_seed(0)
    vae = build_vae(ModelConfig(x_shape=(10,), latent_dim=3, hidden=(16,)))
    return vae, torch.bernoulli(torch.full((50, 10), 0.4))


def _interrupt_at(monkeypatch, call: int, before=lambda: None) -> None:
    """Make the ``call``-th data batch raise KeyboardInterrupt (after running ``before``)."""
    real, calls = ev._batch_estimates, []

    def flaky(*args):
        calls.append(1)
        if len(calls) == call:
            before()
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(ev, "_batch_estimates", flaky)


def _same(a: ev.Pointwise, b: ev.Pointwise) -> None:
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def test_ctrl_c_keeps_the_finished_batches_and_the_rerun_matches(vae_and_x, monkeypatch, tmp_path):
    vae, x = vae_and_x
    straight = ev.pointwise(vae, x, num_samples=40, batch_size=10, seed=3)
    partial = tmp_path / "p.pt"
    with monkeypatch.context() as m:
        _interrupt_at(m, 4)
        with pytest.raises(KeyboardInterrupt):
            ev.pointwise(vae, x, num_samples=40, batch_size=10, seed=3, partial=partial)
    assert len(resumable.Partial.open(partial, _key(vae, x, 40, 10, 3)).parts) == 3
    calls = []
    real = ev._batch_estimates
    monkeypatch.setattr(ev, "_batch_estimates", lambda *a: calls.append(1) or real(*a))
    resumed = ev.pointwise(vae, x, num_samples=40, batch_size=10, seed=3, partial=partial)
    assert len(calls) == 2  # only the two batches not finished before
    _same(resumed, straight)
    assert not partial.exists()


def test_a_kill_loses_only_the_batches_since_the_last_periodic_save(
    vae_and_x, monkeypatch, tmp_path
):
    vae, x = vae_and_x
    straight = ev.pointwise(vae, x, num_samples=40, batch_size=10, seed=3)
    partial, killed = tmp_path / "p.pt", tmp_path / "as-killed.pt"
    monkeypatch.setattr(resumable, "SAVE_EVERY_SECONDS", 0.0)  # save after every batch
    with monkeypatch.context() as m:
        # what a kill -9 during the third batch leaves: the periodic save after the second
        _interrupt_at(m, 3, before=lambda: shutil.copy(partial, killed))
        with pytest.raises(KeyboardInterrupt):
            ev.pointwise(vae, x, num_samples=40, batch_size=10, seed=3, partial=partial)
    shutil.copy(killed, partial)
    assert len(resumable.Partial.open(partial, _key(vae, x, 40, 10, 3)).parts) == 2
    _same(ev.pointwise(vae, x, num_samples=40, batch_size=10, seed=3, partial=partial), straight)


@pytest.mark.parametrize("change", ["seed", "num_samples", "weights", "data"])
def test_a_partial_of_another_evaluation_is_ignored(vae_and_x, monkeypatch, tmp_path, change):
    vae, x = vae_and_x
    partial = tmp_path / "p.pt"
    with monkeypatch.context() as m:
        _interrupt_at(m, 3)
        with pytest.raises(KeyboardInterrupt):
            ev.pointwise(vae, x, num_samples=40, batch_size=10, seed=3, partial=partial)
    kw = {"num_samples": 40, "batch_size": 10, "seed": 3}
    if change == "seed":
        kw["seed"] = 4
    elif change == "num_samples":
        kw["num_samples"] = 41
    elif change == "weights":
        with torch.no_grad():
            next(iter(vae.parameters())).add_(1e-3)
    else:
        x = x.flip(0)
    _same(ev.pointwise(vae, x, partial=partial, **kw), ev.pointwise(vae, x, **kw))


def test_an_unreadable_partial_is_ignored(vae_and_x, tmp_path):
    vae, x = vae_and_x
    partial = tmp_path / "p.pt"
    partial.write_bytes(b"half a file")
    kw = {"num_samples": 20, "batch_size": 25}
    _same(ev.pointwise(vae, x, partial=partial, **kw), ev.pointwise(vae, x, **kw))
    assert not partial.exists()


def test_ppvae_evaluate_interrupted_says_how_to_go_on_and_resumes(monkeypatch, tmp_path, capsys):
    config = RunConfig(
        model=ModelConfig(latent_dim=2, hidden=(16,)),
        fit=FitConfig(epochs=1, progress=False),
        eval=EvalConfig(num_samples=5),
    )
    run, copy = tmp_path / "run", tmp_path / "copy"
    fit_run(config, run)
    shutil.copytree(run, copy)
    with monkeypatch.context() as m:
        _interrupt_at(m, 3)
        assert main(["evaluate", str(run), "--num-samples", "30", "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "run the same ppvae evaluate command again" in err and "Traceback" not in err
    assert (run / PARTIAL_FILE).exists()
    assert main(["evaluate", str(run), "--num-samples", "30", "--no-progress"]) == 0
    assert main(["evaluate", str(copy), "--num-samples", "30", "--no-progress"]) == 0
    assert not (run / PARTIAL_FILE).exists()
    metrics = [json.loads((f / "metrics.json").read_text()) for f in (run, copy)]
    for m in metrics:
        m.pop("eval_seconds", None)
    assert metrics[0] == metrics[1]
    points = [torch.load(f / "pointwise.pt") for f in (run, copy)]
    assert torch.equal(points[0]["log_likelihood"], points[1]["log_likelihood"])


def _key(vae, x, k, b, seed) -> str:
    settings = {"k": k, "b": b, "seed": seed, "max_elements": 2**24}
    return resumable.fingerprint(vae, [x, None], **settings)
