"""The ``ppvae`` command end to end: run folders, evaluation, and clear errors (exit 2)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from ppvae.cli import build_parser, main
from ppvae.help_format import DefaultsHelpFormatter
from ppvae.inference import FitConfig
from tests.user_prior import USER_PRIOR

FAST = [
    "--latent-dim",
    "3",
    "--hidden",
    "16",
    "--batch-size",
    "64",
    "--num-samples",
    "8",
    "--no-progress",
]
REQUIRED = {
    "test_elbo",
    "test_log_likelihood",
    "test_log_likelihood_se",
    "num_samples",
    "kl",
    "reconstruction",
    "active_units",
    "train_seconds",
    "epochs",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["fit", "--data", "digits", "--epochs", "2", "--out", str(out), *FAST]) == 0
    return out


def test_fit_writes_the_run_folder(run):
    names = {
        "config.json",
        "checkpoint.pt",
        "history.csv",
        "metrics.json",
        "samples.png",
        "reconstructions.png",
    }
    assert names <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= REQUIRED
    assert metrics["epochs"] == 2 and metrics["num_samples"] == 8
    assert metrics["test_log_likelihood"] >= metrics["test_elbo"] - 1.0
    config = json.loads((run / "config.json").read_text())
    assert config["fit"]["seed"] == 0 and config["data"]["binarize"] == "dynamic"
    assert {"torch", "pyro", "ppvae", "python"} <= set(config["versions"])
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["epoch", "train_elbo"]
    assert {"val_elbo", "val_rate", "val_distortion", "kl_weight", "free_bits"} <= set(header)


def test_evaluate_updates_metrics(run, capsys):
    assert main(["evaluate", str(run), "--num-samples", "20", "--no-progress"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_samples"] == 20 and metrics["epochs"] == 2
    assert "test log p(x), K=20" in capsys.readouterr().out


def test_resume_extends_a_run(tmp_path):
    out = tmp_path / "r"
    assert main(["fit", "--epochs", "1", "--out", str(out), *FAST]) == 0
    assert (
        main(
            [
                "fit",
                "--epochs",
                "3",
                "--out",
                str(out),
                "--resume",
                "--no-progress",
                "--num-samples",
                "8",
            ]
        )
        == 0
    )
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 3
    assert len((out / "history.csv").read_text().splitlines()) == 4


def _error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, capsys, run):
    np.save(tmp_path / "nan.npy", np.full((30, 4), np.nan))
    np.save(tmp_path / "flat.npy", np.zeros(30))
    (tmp_path / "text.csv").write_text("1,2\nfoo,bar\n")
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    cases = {
        "missing dataset": ["fit", "--data", "fashion-mnist", "--data-dir", str(tmp_path / "none")],
        "missing file": ["fit", "--data", str(tmp_path / "missing.npy")],
        "NaN in data": ["fit", "--data", str(tmp_path / "nan.npy")],
        "wrong shape": ["fit", "--data", str(tmp_path / "flat.npy")],
        "non-numeric": ["fit", "--data", str(tmp_path / "text.csv")],
        "not a run": ["evaluate", str(tmp_path)],
    }
    for what, argv in cases.items():
        out = ["--out", str(tmp_path / "out" / what.replace(" ", "_"))] if argv[0] == "fit" else []
        line = _error(capsys, [*argv, *out])
        assert line.startswith("ppvae "), (what, line)


def test_corrupt_and_foreign_checkpoints_are_refused(tmp_path, capsys, run):
    import shutil

    for name, content in {"corrupt": b"\x00garbage", "foreign": None}.items():
        copy = tmp_path / name
        shutil.copytree(run, copy)
        if content is None:
            torch.save({"weights": torch.ones(2)}, copy / "checkpoint.pt")
        else:
            (copy / "checkpoint.pt").write_bytes(content)
        assert "checkpoint" in _error(capsys, ["evaluate", str(copy)])
    edited = tmp_path / "edited"
    shutil.copytree(run, edited)
    (edited / "config.json").write_text('{"data": {"name": "digits"}}')
    assert "configuration" in _error(capsys, ["evaluate", str(edited)])


def test_more_user_mistakes_exit_2(tmp_path, capsys, run):
    import shutil

    assert "device" in _error(capsys, ["fit", "--device", "gpu", "--out", str(tmp_path / "d")])
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _error(capsys, ["fit", *FAST, "--epochs", "1", "--out", str(blocker / "run")])
    typed = tmp_path / "typed"
    shutil.copytree(run, typed)
    config = json.loads((typed / "config.json").read_text())
    config["model"]["hidden"] = ["a"]
    (typed / "config.json").write_text(json.dumps(config))
    assert "hidden" in _error(capsys, ["evaluate", str(typed)])
    config["model"]["hidden"] = [16]
    config["eval"]["batch_size"] = 0
    (typed / "config.json").write_text(json.dumps(config))
    assert "batch_size" in _error(capsys, ["evaluate", str(typed)])
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    shutil.copy(run / "checkpoint.pt", orphan / "checkpoint.pt")
    assert "config.json" in _error(capsys, ["fit", "--resume", "--out", str(orphan)])


def test_overwrite_keeps_the_old_run_when_the_new_input_is_bad(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "kept"
    shutil.copytree(run, copy)
    before = sorted(p.name for p in copy.iterdir())
    argv = ["fit", "--overwrite", "--data", str(tmp_path / "typo.npy"), "--out", str(copy)]
    assert "does not exist" in _error(capsys, argv)
    assert sorted(p.name for p in copy.iterdir()) == before


def test_seed_fixes_the_initial_weights(tmp_path):
    from ppvae.runs import RunConfig, prepare

    a = prepare(RunConfig(fit=FitConfig(seed=1)))[2].state_dict()
    b = prepare(RunConfig(fit=FitConfig(seed=1)))[2].state_dict()
    c = prepare(RunConfig(fit=FitConfig(seed=2)))[2].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["encoder.head.weight"], c["encoder.head.weight"])


@pytest.mark.parametrize("likelihood", ["continuous-bernoulli", "gaussian"])
def test_grey_level_likelihoods_from_the_cli(tmp_path, likelihood):
    out = tmp_path / likelihood
    assert main(["fit", "--likelihood", likelihood, "--epochs", "1", "--out", str(out), *FAST]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["binarize"] == "none" and metrics["bits_per_dim"] is None
    assert metrics["test_binarization_seed"] is None


def test_logistic_likelihood_on_8_bit_images(tmp_path):
    from tests.idx_files import write_mnist_like

    write_mnist_like(tmp_path / "mnist", n_train=60, n_test=20)
    out = tmp_path / "logistic"
    argv = [
        "fit",
        "--data",
        "mnist",
        "--data-dir",
        str(tmp_path / "mnist"),
        "--val-size",
        "10",
        "--likelihood",
        "logistic",
        "--epochs",
        "2",
        "--out",
        str(out),
        *FAST,
    ]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bits_per_dim"] is not None and metrics["bits_per_dim"] > 0
    assert np.isfinite(metrics["test_log_likelihood"])


def test_existing_runs_are_not_overwritten_and_resume_keeps_settings(run, capsys):
    assert "--overwrite" in _error(capsys, ["fit", "--epochs", "1", "--out", str(run)])
    line = _error(capsys, ["fit", "--resume", "--latent-dim", "9", "--out", str(run)])
    assert "--latent-dim" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--likelihood", "poisson"],
        ["fit", "--epochs", "ten"],
        ["fit", "--lr", "0"],
        ["fit", "--binarize", "maybe"],
        ["evaluate"],
        [],
    ],
)
def test_argument_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_help_for_every_command(capsys):
    for command in (["--help"], ["fit", "--help"], ["evaluate", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(command)
        assert exc.value.code == 0
    assert "--num-samples" in capsys.readouterr().out


def test_every_command_refuses_abbreviated_options(capsys):
    commands = build_parser()._actions[-1].choices
    assert len(commands) >= 15
    for name, parser in commands.items():
        assert parser.allow_abbrev is False, name
        assert parser.formatter_class is DefaultsHelpFormatter, name
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--epoch", "3"])  # not taken as --epochs
    assert exc.value.code == 2
    assert "--epoch" in capsys.readouterr().err


def test_the_installed_command_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ppvae.cli",
            "fit",
            "--data",
            str(tmp_path / "none.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "does not exist" in proc.stderr


def test_a_prior_from_the_users_own_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_prior.py").write_text(USER_PRIOR)
    monkeypatch.chdir(tmp_path)
    argv = [
        "fit",
        "--prior",
        "my_prior.py:ShiftedNormal",
        "--prior-arg",
        "shift=0.2",
        "--epochs",
        "1",
        "--out",
        "run",
        *FAST,
    ]
    assert main(argv) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["prior"] == f"{tmp_path / 'my_prior.py'}:ShiftedNormal"
    assert config["model"]["prior_args"] == {"shift": "0.2"}
    weights = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"]
    assert "prior.shift" in weights
    monkeypatch.chdir(tmp_path.parent)  # evaluate finds the file from anywhere
    assert main(["evaluate", str(tmp_path / "run"), "--num-samples", "5", "--no-progress"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prior", "hierarchical"], "unknown prior"),
        (["--prior", "nowhere.py:Prior"], "does not exist"),
        (["--prior", "FILE:Missing"], "defines no"),
        (["--prior", "FILE:forgetful"], "batch shape"),
        (["--prior", "mixture", "--prior-arg", "components"], "key=value"),
        (["--prior", "mixture", "--prior-arg", "components=lots"], "expected int"),
        (["--prior", "mixture", "--prior-arg", "colour=red"], "no argument colour"),
        (["--prior", "markov", "--prior-arg", "steps=-1"], "steps must be at least 1"),
    ],
)
def test_bad_prior_specifications_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "my_prior.py").write_text(USER_PRIOR)
    args = [a.replace("FILE", str(tmp_path / "my_prior.py")) for a in args]
    line = _error(capsys, ["fit", *args, "--out", str(tmp_path / "out"), *FAST])
    assert re.search(message, line), line


def test_resume_accepts_the_original_command_repeated(tmp_path, capsys):
    out = str(tmp_path / "again")
    argv = ["fit", *FAST, "--epochs", "1", "--latent-dim", "3", "--out", out]
    assert main(argv) == 0
    assert main([*argv[:-2], "--epochs", "2", "--out", out, "--resume"]) == 0
    assert main(["fit", *FAST, "--epochs", "2", "--latent-dim", "4", "--out", out, "--resume"]) == 2
    assert "--latent-dim cannot change" in capsys.readouterr().err
