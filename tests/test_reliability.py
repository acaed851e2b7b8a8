"""The rest of docs/reliability.md's table: determinism, settings and versions in every
config, configs from other versions, and files that are not data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from ppvae.cli import main
from ppvae.data import DataConfig
from ppvae.inference import FitConfig
from ppvae.io import load_torch, read_json
from ppvae.models import ModelConfig
from ppvae.runs import EvalConfig, RunConfig, fit_run

CONFIG = RunConfig(
    DataConfig(name="digits"),
    ModelConfig(latent_dim=2, hidden=(16,)),
    FitConfig(epochs=2, progress=False, seed=5),
    EvalConfig(num_samples=20),
)
TIMING = {"train_seconds", "eval_seconds"}


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    root = tmp_path_factory.mktemp("twice")
    return [(root / name, fit_run(CONFIG, root / name)) for name in ("a", "b")]


def test_the_same_seed_gives_the_same_run_on_cpu(twice):
    (a, ma), (b, mb) = twice
    assert {k: v for k, v in ma.items() if k not in TIMING} == {
        k: v for k, v in mb.items() if k not in TIMING
    }
    wa, wb = load_torch(a / "checkpoint.pt")["model"], load_torch(b / "checkpoint.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    other = fit_run(
        RunConfig(
            CONFIG.data, CONFIG.model, FitConfig(epochs=2, progress=False, seed=6), CONFIG.eval
        ),
        a.parent / "c",
    )
    assert other["test_elbo"] != ma["test_elbo"]


def test_every_config_holds_its_seeds_and_versions(twice):
    saved = read_json(twice[0][0] / "config.json")
    assert saved["fit"]["seed"] == 5 and saved["eval"]["seed"] == 0
    assert saved["data"]["split_seed"] == 0 and saved["data"]["binarization_seed"] == 0
    assert {"python", "ppvae", "torch", "pyro", "numpy"} <= set(saved["versions"])


def test_an_older_config_loads_and_a_newer_one_is_refused(twice, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(twice[0][0], old)
    config = read_json(old / "config.json")
    del config["data"]["exclude_classes"], config["fit"]["on_nan"]  # settings added later
    (old / "config.json").write_text(json.dumps(config))
    assert main(["evaluate", str(old), "--num-samples", "5", "--no-progress"]) == 0
    config["model"]["flux_capacitor"] = 1.21  # a setting this version does not know
    (old / "config.json").write_text(json.dumps(config))
    assert main(["evaluate", str(old), "--no-progress"]) == 2
    assert "flux_capacitor" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("picture.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("notes.txt", b"hello"),
        ("model.pt", b"PK\x03\x04"),
        ("folder", None),
    ],
)
def test_files_that_are_not_data_are_refused(name, content, tmp_path, capsys):
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    argv = ["fit", "--data", str(path), "--epochs", "1", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown dataset" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_pickled_arrays_are_refused_not_loaded(tmp_path, capsys):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 20, dtype=object), allow_pickle=True)
    argv = ["fit", "--data", str(tmp_path / "objects.npy"), "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "objects.npy" in capsys.readouterr().err


def test_divergence_exits_1_and_interrupts_exit_130_with_how_to_go_on(
    monkeypatch, tmp_path, capsys
):
    import ppvae.cli as cli
    from ppvae.inference import TrainingDiverged

    def diverge(*args, **kwargs):
        raise TrainingDiverged("the loss is not finite at epoch 2, batch 4 (loss nan); try ...")

    monkeypatch.setattr(cli, "fit_run", diverge)
    assert main(["fit", "--epochs", "1", "--out", str(tmp_path / "r")]) == 1
    assert (
        "training diverged: the loss is not finite at epoch 2, batch 4" in capsys.readouterr().err
    )

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    for command, module, name in (
        ("compare", "ppvae.compare", "compare"),
        ("sweep", "ppvae.cli", "beta_sweep"),
    ):
        import importlib

        monkeypatch.setattr(importlib.import_module(module), name, interrupt)
        argv = {
            "compare": ["compare", "--priors", "normal", "laplace"],
            "sweep": ["sweep", "--betas", "1", "2"],
        }[command]
        assert main([*argv, "--out", str(tmp_path / command)]) == 130
        assert f"run the same ppvae {command} command again" in capsys.readouterr().err


def test_history_csv_records_the_learning_rate(twice):
    header = (twice[0][0] / "history.csv").read_text().splitlines()[0].split(",")
    assert "lr" in header


def test_resume_accepts_the_original_command_with_auto_and_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("rows.npy", np.random.default_rng(0).normal(size=(60, 3)).astype("float32"))
    argv = [
        "fit",
        "--data",
        "rows.npy",
        "--likelihood",
        "gaussian",
        "--binarize",
        "auto",
        "--latent-dim",
        "2",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--num-samples",
        "3",
        "--no-progress",
        "--out",
        "run",
    ]
    assert main(argv) == 0
    assert read_json(tmp_path / "run" / "config.json")["data"]["name"] == str(tmp_path / "rows.npy")
    assert main([*argv, "--resume", "--epochs", "2"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # another rows.npy here would be another dataset
    np.save("rows.npy", np.zeros((60, 3), dtype="float32"))
    assert main([*argv[:-2], "--out", str(tmp_path / "run"), "--resume", "--epochs", "3"]) == 2


@pytest.mark.parametrize("option", [["--hidden", "100000000000"], ["--num-particles", "100000000"]])
def test_sizes_that_do_not_fit_in_memory_are_refused(option, tmp_path, capsys):
    argv = [
        "fit",
        "--epochs",
        "1",
        "--num-samples",
        "2",
        "--no-progress",
        *option,
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "not enough memory" in err and len(err.splitlines()) == 1
    assert (
        main(
            [
                "fit",
                "--epochs",
                "1",
                "--hidden",
                "8",
                "--latent-dim",
                "2",
                "--num-samples",
                "2",
                "--no-progress",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
