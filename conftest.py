"""Doctest namespace: small trained run folders for the examples of the run-folder tools.

``RUN`` is a digits VAE with an 8-d latent, ``RUN2D`` one with a 2-d latent; both are
fitted once per test session (a few seconds).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _example_runs(tmp_path_factory):
    from ppvae.data import DataConfig
    from ppvae.inference import FitConfig
    from ppvae.models import ModelConfig
    from ppvae.runs import EvalConfig, RunConfig, fit_run

    runs = {}
    for name, latent in (("RUN", 8), ("RUN2D", 2)):
        folder = tmp_path_factory.mktemp(name.lower())
        config = RunConfig(
            DataConfig(name="digits"),
            ModelConfig(latent_dim=latent, hidden=(32,)),
            FitConfig(epochs=2, progress=False),
            EvalConfig(num_samples=5),
        )
        fit_run(config, folder)
        runs[name] = folder
    return runs


@pytest.fixture(autouse=True)
def _doctest_runs(request, doctest_namespace):
    if "latent_tools" in request.node.nodeid:  # only the examples that use them pay
        doctest_namespace.update(request.getfixturevalue("_example_runs"))
