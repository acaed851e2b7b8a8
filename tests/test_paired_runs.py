"""``ppvae paired``: paired differences between finished runs, refused across test sets."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch

from ppvae.cli import main
from ppvae.errors import UserInputError
from ppvae.inference.paired import paired_difference
from ppvae.io import read_json, write_json
from ppvae.paired_runs import paired_runs

FAST = ["--data", "digits", "--latent-dim", "3", "--hidden", "16", "--batch-size", "64"]
FAST = [*FAST, "--num-samples", "8", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """Two short digits runs (1 and 4 epochs) scored on the same test points."""
    root = tmp_path_factory.mktemp("paired")
    folders = [root / "short", root / "long"]
    for folder, epochs in zip(folders, ("1", "4"), strict=True):
        assert main(["fit", *FAST, "--epochs", epochs, "--out", str(folder)]) == 0
    return folders


def _points(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "pointwise.pt")


def test_rows_are_the_paired_differences_of_the_per_point_scores(runs):
    base, other = (_points(r) for r in runs)
    rows = paired_runs(runs)
    assert [r.run for r in rows] == [str(r) for r in runs]
    assert rows[0].delta_log_likelihood == 0.0 and rows[0].delta_elbo_se == 0.0
    d, se = paired_difference(other["log_likelihood"], base["log_likelihood"])
    assert rows[1].delta_log_likelihood == pytest.approx(d)
    assert rows[1].delta_log_likelihood_se == pytest.approx(se)
    d, se = paired_difference(other["elbo"], base["elbo"])
    assert rows[1].delta_elbo == pytest.approx(d) and rows[1].delta_elbo_se == pytest.approx(se)
    assert rows[1].log_likelihood == pytest.approx(other["log_likelihood"].double().mean().item())
    assert rows[1].num_samples == 8
    # three more epochs of training help, by more than the paired noise
    assert rows[1].delta_log_likelihood > 3 * rows[1].delta_log_likelihood_se > 0


def test_cli_prints_the_table_and_writes_csv(runs, tmp_path, capsys):
    out = tmp_path / "paired.csv"
    assert main(["paired", *map(str, runs), "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"| {runs[0]} (baseline) | 8 |" in text and f"| {runs[1]} | 8 |" in text
    with open(out) as f:
        table = list(csv.DictReader(f))
    assert float(table[1]["delta_log_likelihood"]) == pytest.approx(
        paired_runs(runs)[1].delta_log_likelihood
    )


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def test_runs_scored_on_another_test_binarisation_are_refused(runs, tmp_path, capsys):
    other = _copy(runs[1], tmp_path / "other-seed")
    config = read_json(other / "config.json")
    config["data"]["binarization_seed"] = 7
    write_json(other / "config.json", config)
    assert main(["paired", str(runs[0]), str(other)]) == 2
    err = capsys.readouterr().err
    assert "different test sets: binarization_seed 7 against 0" in err
    assert "Traceback" not in err


def _edited(run: Path, dest: Path, section: str, key: str, value) -> Path:
    """A copy of ``run`` whose ``config.json`` says ``section.key = value``."""
    other = _copy(run, dest)
    config = read_json(other / "config.json")
    config[section][key] = value
    write_json(other / "config.json", config)
    return other


def test_static_binarisation_scores_the_same_points_as_dynamic(runs, tmp_path):
    static = _edited(runs[1], tmp_path / "static", "data", "binarize", "static")
    (row,) = paired_runs([runs[0], static])[1:]
    assert row.delta_log_likelihood == paired_runs(runs)[1].delta_log_likelihood


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("model", "likelihood", "gaussian", "not in the same units"),
        ("model", "guide", "delta", "point estimate"),
        ("data", "context", "labels", "different quantities"),
        ("data", "name", "mnist", "different test sets: dataset 'mnist'"),
    ],
)
def test_scores_of_other_quantities_are_refused(
    runs, tmp_path, capsys, section, key, value, message
):
    other = _edited(runs[1], tmp_path / "other", section, key, value)
    assert main(["paired", str(runs[0]), str(other)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_scores_of_earlier_weights_are_refused(runs, tmp_path):
    stale = _copy(runs[1], tmp_path / "stale")
    metrics = read_json(stale / "metrics.json")
    write_json(stale / "metrics.json", {**metrics, "epochs": 2})
    with pytest.raises(UserInputError, match="scores are of epoch 2, its checkpoint of epoch 4"):
        paired_runs([runs[0], stale])


@pytest.mark.parametrize("config", ["[]", '{"data": "x"}'])
def test_a_foreign_config_exits_2(runs, tmp_path, capsys, config):
    other = _copy(runs[1], tmp_path / "foreign")
    (other / "config.json").write_text(config)
    assert main(["paired", str(runs[0]), str(other)]) == 2
    assert "is not a ppvae run configuration" in capsys.readouterr().err


def test_a_different_number_of_scored_points_is_refused(runs, tmp_path):
    other = _copy(runs[1], tmp_path / "fewer")
    points = _points(other)
    points = {**points, **{key: points[key][:-1] for key in ("log_likelihood", "elbo")}}
    torch.save(points, other / "pointwise.pt")
    with pytest.raises(UserInputError, match="scored test points"):
        paired_runs([runs[0], other])


def test_a_run_without_scores_says_how_to_score_it(runs, tmp_path, capsys):
    other = _copy(runs[1], tmp_path / "unscored")
    (other / "pointwise.pt").unlink()
    assert main(["paired", str(runs[0]), str(other)]) == 2
    assert f"score it with `ppvae evaluate {other}`" in capsys.readouterr().err


def test_one_run_or_missing_runs_exit_2(runs, capsys):
    assert main(["paired", str(runs[0])]) == 2
    assert "give at least two run folders" in capsys.readouterr().err
    assert main(["paired", "/no/such/run", "/no/such/other"]) == 2
    assert "/no/such/run is not a ppvae run folder" in capsys.readouterr().err


def test_a_csv_path_that_is_a_folder_is_refused_before_reading(runs, tmp_path, capsys):
    assert main(["paired", *map(str, runs), "--csv", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "give a file path in an existing folder" in captured.err and not captured.out
