"""The docs are executed and checked against the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ppvae.cli import build_parser

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _python_blocks(DOCS / "quickstart.md"):
        exec(compile(block, "quickstart.md", "exec"), namespace)
    assert namespace["metrics"].log_likelihood > namespace["metrics"].elbo


def test_custom_prior_tutorial_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _python_blocks(DOCS / "tutorial-custom-prior.md"):
        exec(compile(block, "tutorial-custom-prior.md", "exec"), namespace)
    assert (tmp_path / "runs" / "fullcov" / "checkpoint.pt").exists()


def _run_example(name: str, *args: str, cwd=None) -> str:
    """Run ``examples/NAME`` with ``args`` in a subprocess; return its standard output."""
    import subprocess
    import sys

    script = DOCS.parent / "examples" / name
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_custom_prior_example_runs():
    out = _run_example("custom_prior.py", "--epochs", "2", "--num-samples", "20")
    assert "log p(x)" in out and "Trace_ELBO" in out


def test_beta_vae_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _python_blocks(DOCS / "beta-vae.md"):
        exec(compile(block, "beta-vae.md", "exec"), namespace)
    assert namespace["weights"] == [0.45, 0.95, 1.45]


def test_cvae_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _python_blocks(DOCS / "cvae.md"):
        exec(compile(block, "cvae.md", "exec"), namespace)
    assert namespace["sevens"].shape == (8, 1, 8, 8)
    assert namespace["metrics"].log_likelihood > namespace["metrics"].elbo


def test_cvae_example_runs(tmp_path):
    out = _run_example("cvae.py", "--epochs", "2", "--num-samples", "20", cwd=tmp_path)
    assert "log p(x|y)" in out and (tmp_path / "cvae_samples.png").exists()


def test_sequence_example_runs():
    out = _run_example("sequence_vae.py", "--epochs", "1", "--num-samples", "5")
    assert "Markov gain in log p(x) per step" in out


def test_beta_vae_example_runs():
    lines = _run_example("beta_vae.py", "--epochs", "2", "--num-samples", "20").splitlines()
    assert lines[0].split()[:3] == ["objective", "rate", "distortion"] and len(lines) == 6


def test_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (block,) = _python_blocks(DOCS.parent / "README.md")
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["m"].log_likelihood > namespace["m"].elbo
    assert namespace["samples"].shape == (16, 1, 8, 8)


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_cli_option_is_documented(command):
    text = (DOCS / "cli.md").read_text()
    assert f"## `ppvae {command}`" in text
    for action in _subcommands()[command]._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}" in text, f"{option} of ppvae {command} is not in docs/cli.md"


def test_every_public_function_has_a_docstring_with_an_example():
    """House style: public functions carry a runnable ``Example:`` (run by --doctest-modules);
    public classes at least a docstring."""
    import importlib
    import inspect
    import pkgutil

    import ppvae

    modules = [ppvae] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(ppvae.__path__, "ppvae.")
    ]
    missing = []
    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", "").split(".")[0] != "ppvae":
                continue
            doc = inspect.getdoc(obj) or ""
            if inspect.isfunction(obj) and "Example:" not in doc:
                missing.append(f"{obj.__module__}.{name}: no Example")
            elif inspect.isclass(obj) and not doc:
                missing.append(f"{obj.__module__}.{name}: no docstring")
    assert not missing, missing


def test_every_exported_name_is_on_the_api_page():
    import ppvae
    import ppvae.inference
    import ppvae.models

    text = (DOCS / "api.md").read_text()
    missing = [
        f"{module.__name__}.{name}"
        for module in (ppvae, ppvae.models, ppvae.inference)
        for name in module.__all__
        if name != "__version__" and f"`{name}" not in text and f" {name}" not in text
    ]
    assert not missing, missing


def test_autoencoders_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _python_blocks(DOCS / "autoencoders.md"):
        exec(compile(block, "autoencoders.md", "exec"), namespace)
    assert namespace["clean"].shape == (8, 1, 8, 8)


def test_autoencoder_family_example_runs():
    out = _run_example("autoencoder_family.py", "--epochs", "2", "--latent-dim", "4")
    assert "PSNR (dB)" in out and "PCA-4" in out and "denoising-vae" in out


def test_compare_example_runs(tmp_path):
    out = _run_example(
        "compare_priors.py", "--epochs", "1", "--num-samples", "10", "--out", str(tmp_path / "c")
    )
    assert "LogisticPrior (this file)" in out and "normal@beta=2" in out
    assert (tmp_path / "c" / "report.html").exists()
    assert (tmp_path / "c" / "compare_priors.py-LogisticPrior" / "inference_data.nc").exists()


def test_compare_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _python_blocks(DOCS / "compare.md"):
        exec(compile(block, "compare.md", "exec"), namespace)
    per_image, rows = namespace["per_image"], namespace["rows"]
    assert float(per_image.mean()) == pytest.approx(rows[1]["diff"], abs=1e-9)
    assert dict(namespace["normal"].posterior.z.sizes)["chain"] == 2


def test_every_test_the_reliability_table_names_exists():
    """Each row of docs/reliability.md names tests; each must be a test in that file."""
    text = (DOCS / "reliability.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`tests/" in line]
    assert len(rows) >= 20
    for row in rows:
        current = None
        for ref in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?[^`]*`", row):
            path, name = ref
            current = path or current
            if path:
                assert (DOCS.parent / path).is_file(), f"{path} (docs/reliability.md)"
            if name:
                source = (DOCS.parent / current).read_text()
                assert f"def {name}(" in source, f"{current}::{name} (docs/reliability.md)"


def test_anomaly_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in _python_blocks(DOCS / "anomaly.md"):
        exec(compile(block, "anomaly.md", "exec"), namespace)
    area, se = namespace["summary"]["auroc_nll"]
    assert namespace["summary"]["rows"] == 100 and area > 0.75 and se < 0.06


def test_every_relative_link_and_image_in_the_docs_exists():
    pages = [DOCS.parent / "README.md", *DOCS.rglob("*.md")]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            path = target.split("#")[0]
            if path and "://" not in path and not (page.parent / path).exists():
                missing.append(f"{page.relative_to(DOCS.parent)}: {target}")
    assert not missing, missing
