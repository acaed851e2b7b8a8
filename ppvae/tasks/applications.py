"""The applications on trained run folders: denoising PSNR, linear probes and embeddings,
and the linear autoencoder against PCA.  Each loads the runs, checks that they were
trained on the same data, and writes its table (CSV and JSON) and pictures into ``out``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ppvae.data import Data
from ppvae.errors import UserInputError
from ppvae.io import write_csv, write_json
from ppvae.models.family import family_of
from ppvae.runs import load_run
from ppvae.tasks.denoise import denoising_table, save_denoising_figure
from ppvae.tasks.pca_angles import decoder_basis, explained_variance_gap, principal_angles
from ppvae.tasks.probe import probe_table, save_embedding


def load_runs(runs: Sequence[str | Path]) -> tuple[dict[str, nn.Module], Data]:
    """The trained models of ``runs`` by folder name, and the data of the first one.

    Runs must share the dataset, the data shape and the binarisation, so that every model
    is scored on the same test images.

    Example:
        >>> load_runs([])
        Traceback (most recent call last):
        ...
        ppvae.errors.UserInputError: give at least one run folder
    """
    if not runs:
        raise UserInputError("give at least one run folder")
    models: dict[str, nn.Module] = {}
    data = None
    for run in runs:
        config, run_data, vae, _ = load_run(run)
        if config.model.condition_networks or run_data.context != "none":
            raise UserInputError(
                f"{run} is a conditional model (it needs a context y); denoise, probe and pca "
                "take unconditional runs"
            )
        name = Path(run).resolve().name
        if name in models:
            raise UserInputError(f"two runs are named {name!r}; give folders of distinct names")
        if data is not None and _data_key(run_data) != _data_key(data):
            raise UserInputError(
                f"{run} was trained on other data ({_data_key(run_data)}) than the first run "
                f"({_data_key(data)}); compare runs of one dataset"
            )
        models[name], data = vae.cpu().eval(), data or run_data
    return models, data


def _data_key(data: Data) -> tuple:
    return (data.name, data.x_shape, data.binarize, len(data.x_test))


def denoise_runs(
    runs: Sequence[str | Path],
    out: str | Path,
    kind: str = "mask",
    levels: Sequence[float] = (0.1, 0.25, 0.5),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """PSNR of each run's reconstructions of corrupted test images (and of the corrupted
    images themselves), per level; writes ``out/denoising.csv``, ``.json`` and ``.png``.

    Example:
        >>> import tempfile
        >>> from ppvae.runs import RunConfig, fit_run, EvalConfig
        >>> from ppvae.models import family_config
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.data import DataConfig
        >>> run = tempfile.mkdtemp()
        >>> _ = fit_run(RunConfig(DataConfig(binarize="none"),
        ...     family_config("denoising", likelihood="mse", latent_dim=4, hidden=(16,)),
        ...     FitConfig(epochs=1, progress=False), EvalConfig(num_samples=2)), run)
        >>> rows = denoise_runs([run], tempfile.mkdtemp(), levels=[0.5])
        >>> len(rows)
        2
    """
    models, data = load_runs(runs)
    if data.binarize != "none":
        raise UserInputError(
            f"the runs were trained on binarised images ({data.binarize}): PSNR against a "
            "random binarisation means nothing; denoise runs fitted with --binarize none"
        )
    x = data.x_test
    rows = denoising_table(models, x, kind, levels, seed)
    out = Path(out)
    write_csv(out / "denoising.csv", rows)
    write_json(out / "denoising.json", rows)
    level = max(levels)
    save_denoising_figure(models, x, data.x_shape, out / "denoising.png", kind, level, seed=seed)
    return rows


def probe_runs(
    runs: Sequence[str | Path], out: str | Path, pca: bool = True, max_train: int = 10000
) -> list[dict[str, Any]]:
    """Linear-probe accuracy of each run's codes (and of PCA of each code size), and a 2-D
    embedding picture per run; writes ``out/probe.csv``, ``.json`` and
    ``out/embedding-<run>.png``.

    Example:
        >>> import tempfile
        >>> from ppvae.runs import RunConfig, fit_run, EvalConfig
        >>> from ppvae.models import ModelConfig
        >>> from ppvae.inference import FitConfig
        >>> run = tempfile.mkdtemp()
        >>> _ = fit_run(RunConfig(model=ModelConfig(latent_dim=2, hidden=(16,)),
        ...     fit=FitConfig(epochs=1, progress=False), eval=EvalConfig(num_samples=2)), run)
        >>> [r["code_size"] for r in probe_runs([run], tempfile.mkdtemp())]
        [2, 2]
    """
    models, data = load_runs(runs)
    train = (data.x_train, data.y_train)
    test = (data.x_test, data.y_test)
    rows = probe_table(models, train, test, pca, max_train)
    out = Path(out)
    write_csv(out / "probe.csv", rows)
    write_json(out / "probe.json", rows)
    for name, vae in models.items():
        save_embedding(vae, data.x_test, data.y_test, out / f"embedding-{name}.png", name)
    return rows


def pca_run(run: str | Path) -> dict[str, Any]:
    """Principal angles (degrees) between a run's decoder subspace and the top-k principal
    components of its training data, and the variance fraction the gap costs; written to
    ``run/pca_angles.json``.  For a nonlinear decoder the "subspace" is the span of its
    Jacobian at z = 0 (``linear`` is then False).

    Example:
        >>> import tempfile
        >>> from ppvae.runs import RunConfig, fit_run, EvalConfig
        >>> from ppvae.models import family_config
        >>> from ppvae.inference import FitConfig
        >>> from ppvae.data import DataConfig
        >>> run = tempfile.mkdtemp()
        >>> _ = fit_run(RunConfig(DataConfig(binarize="none"),
        ...     family_config("linear", latent_dim=3), FitConfig(epochs=1, progress=False),
        ...     EvalConfig(num_samples=2)), run)
        >>> len(pca_run(run)["angles"])
        3
    """
    config, data, vae, _ = load_run(run)
    vae.cpu()
    basis = decoder_basis(vae)
    with torch.no_grad():
        angles = principal_angles(basis, data.x_train)
        gap = explained_variance_gap(basis, data.x_train)
    result = {
        "run": str(run),
        "family": family_of(config.model),
        "linear": not config.model.hidden
        and config.model.net == "mlp"
        and config.model.likelihood in ("mse", "gaussian"),  # an identity mean
        "latent_size": basis.shape[1],
        "angles": [float(a) for a in angles],
        "max_angle": float(angles.max()),
        "variance_gap": gap,
    }
    write_json(Path(run) / "pca_angles.json", result)
    return result
