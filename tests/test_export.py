"""Exported runs (``ppvae export``): the reported weights alone, read like the run they
came from by evaluate and --init-from, refused by --resume, never clobbering a folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ppvae.cli import main
from ppvae.export import export_run
from ppvae.inference.checkpoint import load_checkpoint
from ppvae.inference.warm_start import final_weights
from ppvae.io import read_json
from ppvae.runs import evaluate_run

FAST = ["--data", "digits", "--latent-dim", "3", "--hidden", "16", "--batch-size", "64"]
FAST = [*FAST, "--num-samples", "8", "--no-progress"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """Early stopping with patience, so the reported weights (the best epoch's) differ
    from the last epoch's and the export must pick the right ones."""
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["fit", *FAST, "--epochs", "4", "--patience", "3", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def exported(run: Path) -> Path:
    dest = run.parent / "kept"
    assert main(["export", str(run), str(dest)]) == 0
    return dest


def test_export_keeps_the_reported_weights_and_history_only(run, exported):
    full, slim = load_checkpoint(run / "checkpoint.pt"), load_checkpoint(exported / "checkpoint.pt")
    assert _same(slim["model"], final_weights(full))
    assert slim["history"] == full["history"] and slim["epoch"] == full["epoch"]
    assert not {"optimizer", "rng", "best_model", "losses"} & slim.keys()
    assert (exported / "checkpoint.pt").stat().st_size < (run / "checkpoint.pt").stat().st_size
    for name in ("config.json", "history.csv", "metrics.json", "pointwise.pt"):
        assert (exported / name).read_bytes() == (run / name).read_bytes()


def test_an_export_scores_exactly_as_its_source(run, exported, tmp_path):
    copy = tmp_path / "copy"  # evaluate rewrites metrics.json: score copies, not the fixtures
    export_run(run, copy)
    again = tmp_path / "again"
    export_run(exported, again)  # an export of an export is the same run
    theirs = evaluate_run(copy, num_samples=16, seed=3)
    ours = evaluate_run(again, num_samples=16, seed=3)
    assert ours["test_log_likelihood"] == theirs["test_log_likelihood"]
    assert ours["test_elbo"] == theirs["test_elbo"]


def test_a_fit_starts_from_an_export(exported, tmp_path):
    out = tmp_path / "warm"
    warm = ["--epochs", "1", "--init-from", str(exported), "--out", str(out)]
    assert main(["fit", *FAST, *warm]) == 0
    assert read_json(out / "config.json")["fit"]["init_from"] == str(exported)


def test_an_export_cannot_be_resumed(exported, tmp_path, capsys):
    copy = tmp_path / "copy"
    export_run(exported, copy)
    code = main(["fit", *FAST, "--epochs", "6", "--patience", "3", "--out", str(copy), "--resume"])
    assert code == 2
    assert "exported run" in capsys.readouterr().err
    assert _same(load_checkpoint(copy / "checkpoint.pt")["model"],
                 load_checkpoint(exported / "checkpoint.pt")["model"])  # fmt: skip


@pytest.mark.parametrize("problem", ["not a run", "no checkpoint", "onto itself", "not empty"])
def test_bad_exports_are_refused_with_exit_code_2(run, tmp_path, capsys, problem):
    source, dest = run, tmp_path / "dest"
    if problem == "not a run":
        source = tmp_path / "nothing"
    elif problem == "no checkpoint":
        source = tmp_path / "half"
        source.mkdir()
        (source / "config.json").write_bytes((run / "config.json").read_bytes())
    elif problem == "onto itself":
        dest = run
    else:
        dest.mkdir()
        (dest / "notes.txt").write_text("mine")
    before = sorted(p.name for p in dest.iterdir()) if dest.is_dir() else None
    assert main(["export", str(source), str(dest)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ppvae export: error:") and "Traceback" not in err
    assert (sorted(p.name for p in dest.iterdir()) if dest.is_dir() else None) == before


def test_overwrite_replaces_an_earlier_export(run, tmp_path):
    dest = tmp_path / "dest"
    export_run(run, dest)
    (dest / "metrics.json").write_text("{}")
    export_run(run, dest, overwrite=True)
    assert (dest / "metrics.json").read_bytes() == (run / "metrics.json").read_bytes()
