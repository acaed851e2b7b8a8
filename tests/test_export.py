"""Exported runs (``ppvae export``): the reported weights alone, read like the run they
came from by evaluate and --init-from, refused by --resume before anything is written,
written whole, and never clobbering a training run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from ppvae.cli import main
from ppvae.export import export_run
from ppvae.inference import warm_start
from ppvae.inference.checkpoint import load_checkpoint, save_checkpoint
from ppvae.io import read_json, write_json
from ppvae.runs import evaluate_run, load_run

FAST = ["--data", "digits", "--latent-dim", "3", "--hidden", "16", "--batch-size", "64"]
FAST = [*FAST, "--num-samples", "8", "--no-progress"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run under early stopping whose best epoch's weights differ from its last
    (set by hand: a short fit keeps improving), so the export must pick the best."""
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["fit", *FAST, "--epochs", "3", "--patience", "5", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out / "checkpoint.pt")
    ckpt["best_model"] = {k: v + 0.01 for k, v in ckpt["model"].items()}
    save_checkpoint(out / "checkpoint.pt", ckpt)
    return out


@pytest.fixture(scope="module")
def exported(run: Path) -> Path:
    dest = run.parent / "kept"
    assert main(["export", str(run), str(dest)]) == 0
    return dest


def test_export_keeps_the_best_weights_and_history_only(run, exported):
    full, slim = load_checkpoint(run / "checkpoint.pt"), load_checkpoint(exported / "checkpoint.pt")
    assert _same(slim["model"], full["best_model"])
    assert not _same(slim["model"], full["model"])
    assert slim["history"] == full["history"] and slim["epoch"] == full["epoch"] == 3
    assert not {"optimizer", "rng", "best_model", "losses", "fit_config"} & slim.keys()
    assert slim["exported_from"] == "run"  # the folder's name, not this machine's path
    assert (exported / "checkpoint.pt").stat().st_size < (run / "checkpoint.pt").stat().st_size
    for name in ("config.json", "metrics.json", "pointwise.pt"):
        assert (exported / name).read_bytes() == (run / name).read_bytes()
    assert (exported / "history.csv").read_text() == (run / "history.csv").read_text()


def test_an_export_scores_exactly_as_its_source(run, exported, tmp_path):
    source, kept = tmp_path / "source", tmp_path / "kept"  # evaluate rewrites metrics.json
    shutil.copytree(run, source)
    shutil.copytree(exported, kept)
    theirs = evaluate_run(source, num_samples=16, seed=3)
    ours = evaluate_run(kept, num_samples=16, seed=3)
    assert ours["test_log_likelihood"] == theirs["test_log_likelihood"]
    assert ours["test_elbo"] == theirs["test_elbo"]


def test_an_export_of_an_export_is_the_same_run(exported, tmp_path):
    again = export_run(exported, tmp_path / "again")
    assert _same(load_checkpoint(again / "checkpoint.pt")["model"],
                 load_checkpoint(exported / "checkpoint.pt")["model"])  # fmt: skip
    assert load_checkpoint(again / "checkpoint.pt")["exported_from"] == "run"


def test_a_fit_starts_from_an_export(exported, tmp_path):
    vae = load_run(exported)[2]
    fresh = load_run(exported)[2]
    for p in fresh.parameters():
        torch.nn.init.zeros_(p)
    warm_start(fresh, exported)
    assert _same(fresh.state_dict(), vae.state_dict())
    out = tmp_path / "warm"
    warm = ["--epochs", "1", "--init-from", str(exported), "--out", str(out)]
    assert main(["fit", *FAST, *warm]) == 0
    assert read_json(out / "config.json")["fit"]["init_from"] == str(exported)


def test_an_export_cannot_be_resumed_and_is_left_as_it_was(exported, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    before = _files(copy)
    code = main(["fit", *FAST, "--epochs", "6", "--patience", "5", "--out", str(copy), "--resume"])
    assert code == 2
    assert "exported run" in capsys.readouterr().err
    assert _files(copy) == before


def test_scores_of_other_weights_are_left_out(run, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(run, source)
    metrics = read_json(source / "metrics.json")
    write_json(source / "metrics.json", metrics | {"epochs": 2})
    dest = export_run(source, tmp_path / "dest")
    assert sorted(_files(dest)) == ["checkpoint.pt", "config.json", "history.csv"]


@pytest.mark.parametrize(
    "problem",
    [
        "not a run",
        "no checkpoint",
        "onto itself",
        "inside the run",
        "a file",
        "not empty",
        "over a training run",
    ],
)
def test_bad_exports_are_refused_with_exit_code_2(run, tmp_path, capsys, problem):
    source, dest, flags = run, tmp_path / "dest", ["--overwrite"]
    if problem == "not a run":
        source = tmp_path / "nothing"
    elif problem == "no checkpoint":
        source = tmp_path / "half"
        source.mkdir()
        (source / "config.json").write_bytes((run / "config.json").read_bytes())
    elif problem == "onto itself":
        dest = run
    elif problem == "inside the run":
        dest = run / "kept"
    elif problem == "a file":
        dest.write_text("mine")
    elif problem == "not empty":
        dest.mkdir()
        (dest / "notes.txt").write_text("mine")
        flags = []
    else:
        shutil.copytree(run, dest)
    before = _files(dest), _files(run)
    assert main(["export", str(source), str(dest), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ppvae export: error:") and "Traceback" not in err
    assert (_files(dest), _files(run)) == before
    assert not (run / "kept").exists()


def test_overwrite_replaces_an_earlier_export_as_a_whole(run, tmp_path):
    dest = export_run(run, tmp_path / "dest")
    (dest / "metrics.json").write_text("{}")
    (dest / "stale.png").write_bytes(b"old")
    export_run(run, dest, overwrite=True)
    assert sorted(_files(dest)) == sorted(_files(export_run(run, tmp_path / "fresh")))
    assert (dest / "metrics.json").read_bytes() == (run / "metrics.json").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
