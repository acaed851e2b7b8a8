"""Reusing run folders: a multi-run job (a β sweep, a prior comparison) is a set of
ordinary run folders, so an interrupted job loses nothing — finished runs are reused, a
run with a checkpoint and no metrics is resumed, the rest are fitted — and a folder that
holds a run made with other settings is refused before anything is trained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ppvae.data import DataConfig
from ppvae.errors import UserInputError
from ppvae.inference.svi import FitConfig
from ppvae.io import read_json, remove_stale_temporaries
from ppvae.models.build import ModelConfig
from ppvae.runs import RUN_FILES, EvalConfig, RunConfig, fit_run, prepare

# Settings a finished run may differ in and still be reused.
MAY_DIFFER = ("progress", "device", "download", "data_dir")
DEFAULTS = {
    "data": asdict(DataConfig()),
    "model": asdict(ModelConfig()),
    "fit": FitConfig().to_dict(),
    "eval": asdict(EvalConfig()),
}


def run_or_reuse(config: RunConfig, folder: Path, overwrite: bool = False) -> dict[str, Any]:
    """The metrics of the run ``config`` in ``folder``: read when it finished, resumed
    when it was interrupted, fitted otherwise (or always, with ``overwrite``).

    Example:
        >>> import tempfile, pathlib
        >>> from ppvae.models import ModelConfig
        >>> from ppvae.inference import FitConfig
        >>> config = RunConfig(model=ModelConfig(latent_dim=2, hidden=(8,)),
        ...                    fit=FitConfig(epochs=1, progress=False), eval=EvalConfig(5))
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> run_or_reuse(config, folder) == run_or_reuse(config, folder)  # read back
        True
    """
    remove_stale_temporaries(folder)  # an interrupted write's leftovers
    if overwrite or not (folder / "config.json").is_file():
        return fit_run(config, folder, overwrite=overwrite)
    if (folder / "metrics.json").is_file():
        return read_json(folder / "metrics.json")
    return fit_run(config, folder, resume=True)  # interrupted: continue from the checkpoint


def check_existing(runs: Sequence[tuple[RunConfig, Path]]) -> None:
    """Refuse, before anything is fitted, any folder that holds part of a run without its
    configuration or a run made with other settings than its ``RunConfig`` (any resolved
    data, model, training or evaluation setting except progress, device and data source).

    Example:
        >>> import tempfile, pathlib
        >>> check_existing([(RunConfig(), pathlib.Path(tempfile.mkdtemp()) / "new")])
    """
    for config, folder in runs:
        if not (folder / "config.json").is_file():
            if any((folder / name).exists() for name in RUN_FILES):
                raise UserInputError(
                    f"{folder} holds part of a run but no config.json; pass --overwrite"
                )
            continue
        resolved = prepare(config)[0].to_dict()
        saved = read_json(folder / "config.json")
        differs = []
        for section in ("data", "model", "fit", "eval"):
            differs += _differences(saved.get(section, {}), resolved[section], section)
        if differs:
            raise UserInputError(
                f"{folder} holds a run with other settings ({', '.join(differs)}); "
                "pass --overwrite or choose another --out"
            )


def _differences(saved: dict, now: dict, section: str) -> list[str]:
    # a setting added after a run was saved had its default value then
    defaults = DEFAULTS.get(section, {})
    old = {key: saved.get(key, defaults.get(key)) for key in now}
    return [
        f"{section}.{key}={old[key]!r} (now {value!r})"
        for key, value in now.items()
        if key not in MAY_DIFFER and _plain(old[key]) != _plain(value)
    ]


def _plain(value: Any) -> Any:
    """JSON's view of a value (tuples become lists), for comparing with a saved config."""
    return json.loads(json.dumps(value))
