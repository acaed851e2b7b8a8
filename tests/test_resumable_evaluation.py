"""An interrupted evaluation goes on from its last saved batch and ends with exactly the
estimates of an evaluation that was never interrupted: after Ctrl-C (saved on the way
out), after a kill (saved every SAVE_EVERY_SECONDS), through `ppvae evaluate` and
`ppvae fit --resume`; another evaluation's file is left alone."""

from __future__ import annotations

import importlib
import json
import math
import shutil

import pytest
import torch

from ppvae.cli import main
from ppvae.inference import resumable
from ppvae.inference.svi import FitConfig
from ppvae.models import ModelConfig, build_vae
from ppvae.runs import EvalConfig, RunConfig, fit_run

# the module (ppvae.inference.evaluate is also the name of a function there)
ev = importlib.import_module("ppvae.inference.evaluate")
FIELDS = ("log_likelihood", "elbo", "kl", "reconstruction", "posterior_mean")
KW = {"num_samples": 40, "batch_size": 10, "seed": 3}


def _vae(prior: str = "normal", **kw):
    torch.manual_seed(0)
    return build_vae(ModelConfig(x_shape=(10,), latent_dim=3, hidden=(16,), prior=prior, **kw))


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.bernoulli(torch.full((50, 10), 0.4))


def _interrupt_at(monkeypatch, call: int, before=lambda: None, k: int | None = None) -> list:
    """Make the ``call``-th data batch (counting those with K = ``k`` when given) raise
    KeyboardInterrupt, after running ``before``; returns the list of counted calls."""
    real, calls = ev._batch_estimates, []

    def flaky(model, guide, xb, yb, num, *rest):
        if k is None or num == k:
            calls.append(1)
            if len(calls) == call:
                before()
                raise KeyboardInterrupt
        return real(model, guide, xb, yb, num, *rest)

    monkeypatch.setattr(ev, "_batch_estimates", flaky)
    return calls


def _counting(monkeypatch) -> list:
    real, calls = ev._batch_estimates, []
    monkeypatch.setattr(ev, "_batch_estimates", lambda *a: calls.append(1) or real(*a))
    return calls


def _interrupted(vae, x, folder, call: int, **kw) -> None:
    with pytest.MonkeyPatch.context() as m:
        _interrupt_at(m, call)
        with pytest.raises(KeyboardInterrupt):
            ev.pointwise(vae, x, partial_dir=folder, **{**KW, **kw})


def _files(folder) -> list:
    return sorted(folder.glob(resumable.PATTERN))


def _same(a, b) -> None:
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def test_ctrl_c_keeps_the_finished_batches_and_the_rerun_matches(x, monkeypatch, tmp_path):
    vae = _vae()
    straight = ev.pointwise(vae, x, **KW)
    _interrupted(vae, x, tmp_path, 4)
    [file] = _files(tmp_path)
    assert len(torch.load(file)["parts"]) == 3
    calls = _counting(monkeypatch)
    _same(ev.pointwise(vae, x, partial_dir=tmp_path, **KW), straight)
    assert len(calls) == 2  # only the two batches not finished before
    assert _files(tmp_path) == []


def test_a_kill_loses_only_the_batches_since_the_last_periodic_save(x, monkeypatch, tmp_path):
    vae = _vae()
    straight = ev.pointwise(vae, x, **KW)
    keep = tmp_path / "as-killed"
    monkeypatch.setattr(resumable, "SAVE_EVERY_SECONDS", 0.0)  # save after every batch
    # what a kill -9 during the third batch leaves: the periodic save after the second
    with monkeypatch.context() as m:
        _interrupt_at(m, 3, before=lambda: shutil.copy(_files(tmp_path)[0], keep))
        with pytest.raises(KeyboardInterrupt):
            ev.pointwise(vae, x, partial_dir=tmp_path, **KW)
    shutil.copy(keep, _files(tmp_path)[0])
    calls = _counting(monkeypatch)
    _same(ev.pointwise(vae, x, partial_dir=tmp_path, **KW), straight)
    assert len(calls) == 3


def test_an_interrupt_between_a_batch_and_its_random_state_loses_that_batch_only(
    x, monkeypatch, tmp_path
):
    vae = _vae()
    straight = ev.pointwise(vae, x, **KW)
    real, calls = ev.rng_state, []

    def late():
        calls.append(1)
        if len(calls) == 3:  # the third batch's estimates are done, its state not yet taken
            raise KeyboardInterrupt
        return real()

    with monkeypatch.context() as m:
        m.setattr(ev, "rng_state", late)
        with pytest.raises(KeyboardInterrupt):
            ev.pointwise(vae, x, partial_dir=tmp_path, **KW)
    assert len(torch.load(_files(tmp_path)[0])["parts"]) == 2
    _same(ev.pointwise(vae, x, partial_dir=tmp_path, **KW), straight)


@pytest.mark.parametrize(
    "change",
    ["seed", "num_samples", "batch_size", "max_elements", "weights", "data", "context", "prior"],
)
def test_another_evaluation_leaves_the_partial_file_alone(x, tmp_path, change):
    vae = _vae()
    y = torch.zeros(len(x), 2)
    _interrupted(vae, x, tmp_path, 3)
    [file] = _files(tmp_path)
    before = file.read_bytes()
    kw = dict(KW)
    other = {"seed": 4, "num_samples": 41, "batch_size": 9, "max_elements": 2**20}
    if change in other:
        kw[change] = other[change]
    elif change == "weights":
        with torch.no_grad():
            next(iter(vae.parameters())).add_(1e-3)
    elif change == "data":
        x = x.flip(0)
    elif change == "prior":  # same weights (a Laplace prior has none), another model
        vae = _vae("laplace")
    if change == "context":
        vae = _vae(context_dim=2, condition_networks=True)
        _interrupted(vae, x, tmp_path, 3, y=y)
        [file] = [f for f in _files(tmp_path) if f != file]
        before = file.read_bytes()
        y = torch.ones(len(x), 2)
        kw["y"] = y
    _same(ev.pointwise(vae, x, partial_dir=tmp_path, **kw), ev.pointwise(vae, x, **kw))
    assert file.read_bytes() == before


def test_the_point_mass_path_resumes_too(x, monkeypatch, tmp_path):
    vae = _vae(guide="delta", prior="flat")
    straight = ev.pointwise(vae, x, **KW)
    _interrupted(vae, x, tmp_path, 3)
    calls = _counting(monkeypatch)
    resumed = ev.pointwise(vae, x, partial_dir=tmp_path, **KW)
    assert len(calls) == 3 and torch.equal(resumed.elbo, straight.elbo)


def test_an_unreadable_file_is_replaced_and_a_failed_save_only_warns(
    x, monkeypatch, tmp_path, capsys
):
    vae = _vae()
    straight = ev.pointwise(vae, x, **KW)
    _interrupted(vae, x, tmp_path, 3)
    [file] = _files(tmp_path)
    file.write_bytes(b"half a file")
    _same(ev.pointwise(vae, x, partial_dir=tmp_path, **KW), straight)
    assert _files(tmp_path) == []

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(resumable, "SAVE_EVERY_SECONDS", 0.0)
    monkeypatch.setattr(resumable, "save_torch", full)
    _same(ev.pointwise(vae, x, partial_dir=tmp_path, **KW), straight)
    err = capsys.readouterr().err
    assert err.count("No space left on device") == 1 and "going on" in err


def _small_run(tmp_path):
    config = RunConfig(
        model=ModelConfig(latent_dim=2, hidden=(16,)),
        fit=FitConfig(epochs=1, progress=False),
        eval=EvalConfig(num_samples=30),
    )
    return config, tmp_path / "run", tmp_path / "copy"


def _same_scores(a, b) -> None:
    metrics = [json.loads((f / "metrics.json").read_text()) for f in (a, b)]
    for m in metrics:
        m.pop("eval_seconds", None), m.pop("train_seconds", None)
    assert metrics[0] == metrics[1]
    points = [torch.load(f / "pointwise.pt") for f in (a, b)]
    assert torch.equal(points[0]["log_likelihood"], points[1]["log_likelihood"])
    assert torch.equal(points[0]["elbo"], points[1]["elbo"])


def test_ppvae_evaluate_interrupted_says_how_to_go_on_and_resumes(monkeypatch, tmp_path, capsys):
    config, run, copy = _small_run(tmp_path)
    fit_run(config, run)
    shutil.copytree(run, copy)
    args = ["--num-samples", "31", "--no-progress"]
    with monkeypatch.context() as m:
        _interrupt_at(m, 3)
        assert main(["evaluate", str(run), *args]) == 130
    err = capsys.readouterr().err
    assert "run the same ppvae evaluate command again" in err and "Traceback" not in err
    assert len(_files(run)) == 1
    calls = _counting(monkeypatch)
    assert main(["evaluate", str(run), *args]) == 0
    resumed = len(calls)
    assert main(["evaluate", str(copy), *args]) == 0
    assert resumed == len(calls) - resumed - 2  # the two batches saved are not redone
    assert _files(run) == []
    _same_scores(run, copy)


def test_fit_resume_goes_on_with_an_interrupted_test_evaluation(monkeypatch, tmp_path):
    config, run, straight = _small_run(tmp_path)
    fit_run(config, straight)
    with monkeypatch.context() as m:
        _interrupt_at(m, 3, k=30)  # K = 30: the test evaluation, not a validation pass
        with pytest.raises(KeyboardInterrupt):
            fit_run(config, run)
    assert len(_files(run)) == 1 and not (run / "metrics.json").exists()
    calls = _interrupt_at(monkeypatch, 0, k=30)  # counts the test batches, interrupts none
    fit_run(config, run, resume=True)
    _same_scores(run, straight)
    batches = math.ceil(len(torch.load(straight / "pointwise.pt")["elbo"]) / 100)
    assert batches >= 3 and len(calls) == batches - 2  # the two saved are not redone


def test_overwrite_removes_an_interrupted_evaluation(monkeypatch, tmp_path):
    config, run, _ = _small_run(tmp_path)
    with monkeypatch.context() as m:
        _interrupt_at(m, 3, k=30)
        with pytest.raises(KeyboardInterrupt):
            fit_run(config, run)
    assert len(_files(run)) == 1
    fit_run(config, run, overwrite=True)
    assert _files(run) == []


def test_an_export_carries_an_interrupted_evaluation_on(monkeypatch, tmp_path):
    """`ppvae export` of a run whose test evaluation was interrupted keeps the finished
    batches: `ppvae evaluate EXPORT` (in another session, from a copy kept in git) redoes
    only the rest and ends with the uninterrupted scores."""
    config, run, straight = _small_run(tmp_path)
    fit_run(config, straight)
    with monkeypatch.context() as m:
        _interrupt_at(m, 3, k=30)
        with pytest.raises(KeyboardInterrupt):
            fit_run(config, run)
    export = tmp_path / "export"
    assert main(["export", str(run), str(export)]) == 0
    assert [f.name for f in _files(export)] == [f.name for f in _files(run)]
    calls = _interrupt_at(monkeypatch, 0, k=30)
    assert main(["evaluate", str(export), "--no-progress"]) == 0
    batches = math.ceil(len(torch.load(straight / "pointwise.pt")["elbo"]) / 100)
    assert len(calls) == batches - 2 and _files(export) == []
    _same_scores(export, straight)
