"""``ppvae paired --partial``: a run whose test evaluation is still going on is compared on
the test points it has finished, and the figures are exactly those the finished
evaluation gives on the same points."""

from __future__ import annotations

import csv
import importlib
import shutil
from pathlib import Path

import pytest
import torch

from ppvae.cli import main
from ppvae.errors import UserInputError
from ppvae.inference.paired import paired_difference
from ppvae.inference.resumable import PATTERN
from ppvae.io import read_json, write_json
from ppvae.paired_runs import format_paired, paired_runs

ev = importlib.import_module("ppvae.inference.evaluate")
K = 8
FAST = ["--data", "digits", "--latent-dim", "3", "--hidden", "16", "--batch-size", "64"]
FAST = [*FAST, "--num-samples", str(K), "--no-progress"]


def _interrupt_test_batch(monkeypatch, call: int) -> None:
    """Ctrl-C at the ``call``-th batch of the test evaluation (K = 8; validation passes
    use other sample counts and are not counted)."""
    real, calls = ev._batch_estimates, []

    def flaky(model, guide, xb, yb, num, *rest):
        if num == K:
            calls.append(1)
            if len(calls) == call:
                raise KeyboardInterrupt
        return real(model, guide, xb, yb, num, *rest)

    monkeypatch.setattr(ev, "_batch_estimates", flaky)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """A finished 1-epoch digits run, and a 4-epoch one whose test evaluation was
    interrupted after two batches of 64 test points (of 359)."""
    root = tmp_path_factory.mktemp("in-progress")
    base, other = root / "short", root / "long"
    assert main(["fit", *FAST, "--epochs", "1", "--out", str(base)]) == 0
    with pytest.MonkeyPatch.context() as m:
        _interrupt_test_batch(m, 3)
        assert main(["fit", *FAST, "--epochs", "4", "--out", str(other)]) == 130
    assert len(list(other.glob(PATTERN))) == 1 and not (other / "pointwise.pt").exists()
    return base, other


def test_in_progress_rows_equal_the_finished_evaluation_on_the_same_points(runs, tmp_path):
    base, other = runs
    rows = paired_runs(runs, partial=True)
    assert [(r.points, r.of) for r in rows] == [(128, 359), (128, 359)]
    finished = tmp_path / "finished"
    shutil.copytree(other, finished)
    for f in finished.glob(PATTERN):  # an independent evaluation from the first point
        f.unlink()
    assert main(["evaluate", str(finished), "--no-progress"]) == 0
    new, old = (torch.load(f / "pointwise.pt") for f in (finished, base))
    for field, delta, se in (
        ("log_likelihood", rows[1].delta_log_likelihood, rows[1].delta_log_likelihood_se),
        ("elbo", rows[1].delta_elbo, rows[1].delta_elbo_se),
    ):
        expected = paired_difference(new[field][:128], old[field][:128])
        assert (delta, se) == pytest.approx(expected, rel=1e-12)
    assert rows[1].log_likelihood == pytest.approx(new["log_likelihood"][:128].double().mean())
    assert rows[0].log_likelihood == pytest.approx(old["log_likelihood"][:128].double().mean())
    full = paired_runs([base, finished], partial=True)  # all scored: as without --partial
    assert [(r.points, r.of) for r in full] == [(359, 359)] * 2
    assert full == paired_runs([base, finished])


def test_the_table_says_how_many_points_were_compared(runs):
    text = format_paired(paired_runs(runs, partial=True))
    assert text.splitlines()[-1] == (
        "On the first 128 of 359 test points (in file order, not a random sample): "
        "an evaluation is still in progress."
    )
    assert "in progress" not in format_paired(paired_runs([runs[0], runs[0]]))


def test_cli_partial_prints_the_table_and_without_it_says_how(runs, capsys, tmp_path):
    base, other = runs
    table = tmp_path / "paired.csv"
    assert main(["paired", str(base), str(other), "--partial", "--csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert f"| {other} | {K} |" in out and "first 128 of 359" in out
    with open(table) as f:
        assert [(r["points"], r["of"]) for r in csv.DictReader(f)] == [("128", "359")] * 2
    assert main(["paired", str(base), str(other)]) == 2
    err = capsys.readouterr().err
    assert "no per-point test scores" in err and "--partial" in err and "Traceback" not in err


def test_stale_scores_give_way_to_the_evaluation_of_the_current_weights(runs, tmp_path):
    """Scores of epoch 4 and an interrupted evaluation of epoch 5 (the run resumed since):
    without --partial the old scores are refused, with it the new evaluation is read."""
    run = tmp_path / "resumed"
    assert main(["fit", *FAST, "--epochs", "4", "--out", str(run)]) == 0
    with pytest.MonkeyPatch.context() as m:
        _interrupt_test_batch(m, 2)
        args = ["fit", *FAST, "--epochs", "5", "--out", str(run), "--resume"]
        assert main(args) == 130
    with pytest.raises(UserInputError, match=r"scores are of epoch 4.*--partial compares"):
        paired_runs([runs[0], run])
    rows = paired_runs([runs[0], run], partial=True)
    assert rows[1].points == 64 and rows[1].of == 359


def test_an_evaluate_with_another_k_is_found_by_its_recorded_settings(runs, tmp_path):
    run = tmp_path / "more-samples"
    shutil.copytree(runs[0], run)
    (run / "pointwise.pt").unlink()
    with pytest.MonkeyPatch.context() as m:
        real, calls = ev._batch_estimates, []

        def flaky(model, guide, xb, yb, num, *rest):
            calls.append(1)
            if len(calls) == 4:
                raise KeyboardInterrupt
            return real(model, guide, xb, yb, num, *rest)

        m.setattr(ev, "_batch_estimates", flaky)
        assert main(["evaluate", str(run), "--num-samples", "12", "--no-progress"]) == 130
    rows = paired_runs([runs[0], run], partial=True)
    assert rows[1].num_samples == 12 and rows[1].points == 3 * 64


def test_an_evaluation_of_older_weights_is_not_taken(runs, tmp_path):
    """The run trained on after its evaluation was interrupted: the file left holds
    scores of the old weights, which must not be read as the new ones'."""
    run = tmp_path / "trained-on"
    shutil.copytree(runs[1], run)
    with pytest.MonkeyPatch.context() as m:
        _interrupt_test_batch(m, 1)  # the new evaluation finishes nothing
        args = ["fit", *FAST, "--epochs", "5", "--out", str(run), "--resume"]
        assert main(args) == 130
    assert len(list(run.glob(PATTERN))) == 1
    with pytest.raises(UserInputError, match="other weights, data or settings"):
        paired_runs([runs[0], run], partial=True)


def test_an_evaluation_of_other_settings_is_found_only_by_its_recorded_settings(runs, tmp_path):
    """The configuration asks for another K than the evaluation in progress used: the
    file's recorded settings still find it; a file without them (written before they were
    recorded) is not taken for the configured evaluation."""
    moved = tmp_path / "moved"
    shutil.copytree(runs[1], moved)
    config = read_json(moved / "config.json")
    config["eval"]["num_samples"] = K + 1
    write_json(moved / "config.json", config)
    assert paired_runs([runs[0], moved], partial=True)[1].num_samples == K
    (file,) = moved.glob(PATTERN)
    saved = torch.load(file)
    del saved["settings"]
    torch.save(saved, file)
    with pytest.raises(UserInputError, match="other weights, data or settings"):
        paired_runs([runs[0], moved], partial=True)
    file.unlink()
    with pytest.raises(UserInputError, match="neither current test scores"):
        paired_runs([runs[0], moved], partial=True)


def test_a_conditional_run_in_progress_is_read_with_its_labels(tmp_path):
    """With --context labels the test labels are part of what was scored (and of the
    key): the in-progress run pairs with a finished conditional run, not an unconditional
    one."""
    labels = [*FAST, "--context", "labels", "--condition-networks", "--epochs", "1"]
    base, other = tmp_path / "cvae-a", tmp_path / "cvae-b"
    assert main(["fit", *labels, "--out", str(base)]) == 0
    with pytest.MonkeyPatch.context() as m:
        _interrupt_test_batch(m, 2)
        assert main(["fit", *labels, "--seed", "1", "--out", str(other)]) == 130
    rows = paired_runs([base, other], partial=True)
    assert (rows[1].points, rows[1].of) == (64, 359)
    whole = torch.load(base / "pointwise.pt")["log_likelihood"][:64].double().mean()
    assert rows[0].log_likelihood == pytest.approx(float(whole))
