"""Latent-space tools: interpolation endpoints are the endpoints' reconstructions for
every path kind, arithmetic with a zero vector is the identity, and every command writes
its picture or refuses a mistake with exit code 2."""

from __future__ import annotations

import pytest
import torch

from ppvae.cli import main
from ppvae.data import DataConfig, load_data
from ppvae.errors import UserInputError
from ppvae.inference import FitConfig
from ppvae.models import ModelConfig, build_vae
from ppvae.runs import EvalConfig, RunConfig, fit_run
from ppvae.tasks.arithmetic import apply_attribute, attribute_vector
from ppvae.tasks.interpolation import interpolate, interpolate_codes, slerp
from ppvae.tasks.latent_map import latent_grid, latent_map


@pytest.mark.parametrize(
    ("prior", "kind"),
    [
        ("normal", "spherical"),
        ("learned", "spherical"),
        ("flow", "base"),
        ("vamp", "linear"),
        ("mixture", "linear"),
        ("laplace", "linear"),
    ],
)
def test_interpolation_ends_at_the_endpoints_reconstructions(prior, kind, digits):
    torch.manual_seed(0)
    vae = build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(16,), prior=prior))
    if prior == "learned":  # a Gaussian prior away from N(0, I)
        with torch.no_grad():
            vae.prior.loc.add_(0.7)
    x = digits.x_test[:2]
    images, used = interpolate(vae, x[0], x[1], steps=7)
    assert used == kind and images.shape == (7, *digits.x_shape)
    torch.testing.assert_close(images[[0, -1]], vae.reconstruct(x), atol=1e-5, rtol=0)


def test_the_spherical_path_keeps_a_gaussian_codes_norm():
    a, b = torch.randn(64), torch.randn(64)
    a, b = a / a.norm() * 8, b / b.norm() * 8  # typical N(0, I_64) norms
    path = slerp(a, b, torch.linspace(0, 1, 11))
    assert (path.norm(dim=1) - 8).abs().max() < 1e-4  # a straight line dips to ~ 8/sqrt(2)
    line = torch.stack([(1 - t) * a + t * b for t in torch.linspace(0, 1, 11)])
    assert line.norm(dim=1).min() < 7


def test_a_flow_path_is_spherical_in_the_base_space(digits):
    torch.manual_seed(0)
    vae = build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(16,), prior="flow"))
    codes, _ = interpolate_codes(vae, digits.x_test[0], digits.x_test[1], steps=5)
    transform = torch.distributions.transforms.ComposeTransform(vae.prior().transforms)
    with torch.no_grad():
        base = transform.inv(codes)
    expected = slerp(base[0], base[-1], torch.linspace(0, 1, 5))
    torch.testing.assert_close(base, expected, atol=1e-4, rtol=0)


def test_arithmetic_with_a_zero_vector_is_the_identity(digits):
    vae = build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(16,)))
    x = digits.x_test[:5]
    zero = attribute_vector(vae, x, x)
    assert torch.equal(zero, torch.zeros(4))
    moved = apply_attribute(vae, x, zero, strengths=[0.0, 1.0, 3.0])
    for s in range(3):
        torch.testing.assert_close(moved[:, s], vae.reconstruct(x), atol=1e-6, rtol=0)
    with pytest.raises(UserInputError, match="shape"):
        apply_attribute(vae, x, torch.zeros(3))


def test_the_attribute_vector_moves_a_code_onto_the_target_mean(digits):
    vae = build_vae(ModelConfig(x_shape=digits.x_shape, latent_dim=4, hidden=(16,)))
    ones, sevens = digits.x_test[digits.y_test == 1], digits.x_test[digits.y_test == 7]
    v = attribute_vector(vae, ones, sevens)
    moved = vae.encode(ones).mean + v
    torch.testing.assert_close(moved.mean(0), vae.encode(sevens).mean.mean(0), atol=1e-5, rtol=0)


def test_the_latent_map_grid_holds_equal_prior_mass():
    vae = build_vae(ModelConfig(x_shape=(6,), latent_dim=2, hidden=(8,)))
    grid = latent_grid(vae, n=4)  # quantiles 1/8, 3/8, 5/8, 7/8 of N(0, 1)
    normal = torch.distributions.Normal(0.0, 1.0)
    cdf = normal.cdf(grid[:4, 0])
    torch.testing.assert_close(cdf, torch.tensor([0.125, 0.375, 0.625, 0.875]), atol=1e-5, rtol=0)
    assert (grid[:4, 1] == grid[0, 1]).all() and grid[0, 1] > grid[-1, 1]  # top row first
    assert latent_map(vae, n=4).shape == (16, 6)
    wide = build_vae(ModelConfig(x_shape=(6,), latent_dim=3, hidden=(8,)))
    with pytest.raises(UserInputError, match="2-dimensional"):
        latent_map(wide, n=4)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folders = {}
    for name, latent, extra in (("r2", 2, {}), ("r8", 8, {}), ("cvae", 2, {"context": "labels"})):
        folder = tmp_path_factory.mktemp(name)
        config = RunConfig(
            DataConfig(name="digits", **extra),
            ModelConfig(latent_dim=latent, hidden=(16,), condition_networks=name == "cvae"),
            FitConfig(epochs=1, progress=False),
            EvalConfig(num_samples=5),
        )
        fit_run(config, folder)
        folders[name] = folder
    return folders


@pytest.mark.parametrize(
    ("command", "run", "written"),
    [
        (["reconstruct", "--num", "10"], "r8", "reconstruct.png"),
        (["interpolate", "--pairs", "2", "--steps", "5"], "r8", "interpolate.png"),
        (["traverse", "--dims", "3", "--steps", "5"], "r8", "traverse.png"),
        (["arithmetic", "--source", "1", "--target", "7", "--num", "3"], "r8", "arithmetic.png"),
        (["latent-map", "--n", "6"], "r2", "latent_map.png"),
        (["embed", "--num", "100"], "r8", "embed-pca.png"),
        (["embed", "--method", "tsne", "--num", "60"], "r8", "embed-tsne.png"),
        (["sample"], "r8", "generated.png"),
    ],
)
def test_every_tool_writes_its_picture(command, run, written, runs):
    assert main([command[0], str(runs[run]), *command[1:]]) == 0
    assert (runs[run] / written).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("command", "run", "message"),
    [
        (["latent-map"], "r8", "2-dimensional latent"),
        (["arithmetic", "--source", "shirt", "--target", "1"], "r8", "no class 'shirt'"),
        (["interpolate"], "cvae", "conditional model"),
        (["interpolate", "--kind", "base"], "r8", "needs a flow prior"),
        (["traverse"], "missing", "not a ppvae run folder"),
    ],
)
def test_tool_mistakes_exit_2(command, run, message, runs, tmp_path, capsys):
    folder = runs.get(run, tmp_path / "missing")
    assert main([command[0], str(folder), *command[1:]]) == 2
    assert message in capsys.readouterr().err


def test_arithmetic_names_fashion_classes():
    from ppvae.labels import class_index, class_names

    assert class_names("fashion-mnist", 10)[class_index("fashion-mnist", "Pullover", 10)] == (
        "Pullover"
    )
    assert load_data(DataConfig(name="digits")).num_classes == 10


def test_opposite_codes_get_a_straight_path_not_a_blow_up():
    line = slerp(torch.tensor([-0.5]), torch.tensor([1.2]), torch.linspace(0, 1, 5))
    torch.testing.assert_close(line[:, 0], torch.linspace(-0.5, 1.2, 5))
    a = torch.tensor([1.0, 2.0])
    opposite = slerp(a, -3 * a, torch.linspace(0, 1, 5))
    assert opposite.abs().max() <= 6.0 + 1e-6


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["interpolate", "--pairs", "1000"], "pairs must be between"),
        (["embed", "--num", "3"], "at least 5"),
        (["arithmetic", "--source", "-1", "--target", "1"], "no class '-1'"),
    ],
)
def test_more_tool_mistakes_exit_2(command, message, runs, capsys):
    assert main([command[0], str(runs["r8"]), *command[1:]]) == 2
    assert message in capsys.readouterr().err
