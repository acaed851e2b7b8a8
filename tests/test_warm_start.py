"""Warm starts (``--init-from``): a fit begins at another run's reported weights, with a
fresh optimiser, schedule and history; the source is checked before any folder is
written, and a resumed warm-started run continues from its own checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from ppvae.cli import main
from ppvae.errors import UserInputError
from ppvae.inference import FitConfig, fit, warm_start
from ppvae.inference.checkpoint import load_checkpoint, save_checkpoint
from ppvae.models import ModelConfig, build_vae

FAST = ["--data", "digits", "--latent-dim", "3", "--hidden", "16", "--batch-size", "64"]
FAST = [*FAST, "--num-samples", "8", "--no-progress"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("warm") / "source"
    assert main(["fit", *FAST, "--epochs", "3", "--out", str(out)]) == 0
    return out


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoint.pt")["model"]


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_zero_epochs_keep_the_source_weights(source, digits):
    vae = build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=3, hidden=(16,)))
    fresh = {k: v.clone() for k, v in vae.state_dict().items()}
    result = fit(vae, digits, FitConfig(epochs=0, progress=False, init_from=str(source)))
    assert result.epochs == 0
    assert _same(vae.state_dict(), _weights(source))
    assert not _same(fresh, _weights(source))


def test_warm_start_begins_where_the_source_ended(source, tmp_path):
    out = tmp_path / "warm"
    argv = ["fit", *FAST, "--epochs", "1", "--lr", "1e-5", "--init-from", str(source)]
    assert main([*argv, "--out", str(out)]) == 0
    fresh = tmp_path / "fresh"
    assert main(["fit", *FAST, "--epochs", "1", "--lr", "1e-5", "--out", str(fresh)]) == 0
    end = float(_history(source)[-1]["val_elbo"])
    warm, cold = (float(_history(r)[0]["val_elbo"]) for r in (out, fresh))
    # a tiny learning rate barely moves the weights: the warm run's first epoch scores
    # about what the source's last did, far above a fresh network's
    assert abs(warm - end) < 0.5 < end - cold
    assert len(_history(out)) == 1  # its own history, not the source's


def test_the_source_is_the_early_stopping_best(tmp_path, digits):
    weights = {
        k: v.clone() for k, v in build_vae(ModelConfig(x_shape=(1, 8, 8))).state_dict().items()
    }
    best = {k: v + 1 for k, v in weights.items()}
    ckpt = {"model": weights, "best_model": best, "fit_config": {"patience": 3}}
    save_checkpoint(tmp_path / "checkpoint.pt", ckpt)
    vae = build_vae(ModelConfig(x_shape=(1, 8, 8)))
    assert warm_start(vae, tmp_path) == tmp_path / "checkpoint.pt"
    assert _same(vae.state_dict(), best)


def test_resuming_a_warm_start_continues_its_own_checkpoint(source, tmp_path):
    argv = ["fit", *FAST, "--init-from", str(source)]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main([*argv, "--epochs", "2", "--out", str(straight)]) == 0
    assert main([*argv, "--epochs", "1", "--out", str(split)]) == 0
    assert main([*argv, "--epochs", "2", "--out", str(split), "--resume"]) == 0
    assert _same(_weights(split), _weights(straight))
    assert len(_history(split)) == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--init-from", "no/such/run"], "no such run folder or checkpoint"),
        (["--latent-dim", "5"], "another architecture: latent_dim=3 (now 5)"),
        (["--hidden", "16", "16"], "another architecture: hidden=[16] (now [16, 16])"),
    ],
)
def test_bad_sources_are_one_line_errors(source, tmp_path, capsys, extra, message):
    out = tmp_path / "new"
    code = main(
        ["fit", *FAST, "--epochs", "1", "--init-from", str(source), *extra, "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not out.exists()  # nothing written before the check


def test_a_folder_without_checkpoint_and_the_run_being_overwritten(source, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserInputError, match=r"has no checkpoint\.pt"):
        warm_start(torch.nn.Linear(1, 1), empty)
    argv = ["fit", *FAST, "--epochs", "1", "--init-from", str(source), "--out", str(source)]
    assert main([*argv, "--overwrite"]) == 2
    assert "lies in the run folder" in capsys.readouterr().err
    assert (source / "checkpoint.pt").is_file()  # the source is untouched
