"""The prior contract, checked for every registered prior and for one a user writes in a file.

Shapes inside plates, finite log-densities, gradients reaching every parameter, a Monte-Carlo
check that the density integrates to one (in 2-D), a save/load round trip, and a short
SVI run that raises the ELBO.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from ppvae.data import DataConfig, load_data
from ppvae.errors import UserInputError
from ppvae.inference import fit, mean_and_se
from ppvae.models import PRIORS, VAE, ModelConfig, build_vae, make_prior
from ppvae.models.priors import latent_shape_of
from tests.user_prior import USER_PRIOR

# Per prior: arguments for a small model, and for a 2-D latent space (the normalisation check).
ARGS = {
    "normal": {},
    "learned": {},
    "mixture": {"components": "3"},
    "vamp": {"components": "4"},
    "flow": {"layers": "2", "hidden": "8"},
    "resampled": {"hidden": "8", "truncation": "20"},
    "laplace": {},
    "student-t": {},
    "conditional": {},
    "markov": {"steps": "3"},
    "iid": {"steps": "3"},
    "user": {"shift": "0.3"},
}
# (latent_dim, args) where a 2-D latent needs other settings
TWO_D = {"markov": (1, {"steps": "2"}), "iid": (1, {"steps": "2"})}
SEQUENCE = ("markov", "iid")  # priors over (steps, latent_dim): data are (steps, frame)


@pytest.fixture(scope="module")
def user_spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "my_prior.py"
    path.write_text(USER_PRIOR)
    return str(path)


def _spec(name: str, user_spec: str) -> str:
    return f"{user_spec}:ShiftedNormal" if name == "user" else name


def _vae(name, user_spec, latent_dim=2, args=None, x_shape=None, seed=0, classes=3):
    torch.manual_seed(seed)
    args = ARGS[name] if args is None else args
    if x_shape is None:
        x_shape = (int(args["steps"]), 4) if name in SEQUENCE else (4,)
    config = ModelConfig(
        x_shape=x_shape,
        latent_dim=latent_dim,
        hidden=(8,),
        prior=_spec(name, user_spec),
        prior_args=args,
        context_dim=classes if name == "conditional" else 0,
    )
    return build_vae(config)


def _context(name: str, n: int) -> torch.Tensor | None:
    return torch.eye(3)[torch.arange(n) % 3] if name == "conditional" else None


NAMES = [*PRIORS, "user"]


def test_every_registered_prior_is_in_the_contract():
    assert set(PRIORS) | {"user"} == set(ARGS)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_inside_plates_and_finite_log_prob(name, user_spec):
    vae = _vae(name, user_spec)
    event = latent_shape_of(vae.prior, 2, _context(name, 2))

    def model():
        with pyro.plate("particles", 7, dim=-2), pyro.plate("data", 5, dim=-1):
            return pyro.sample("z", vae.prior(_context(name, 5)))

    trace = pyro.poutine.trace(model).get_trace()
    trace.compute_log_prob()
    z, log_p = trace.nodes["z"]["value"], trace.nodes["z"]["log_prob"]
    assert z.shape == (7, 5, *event) and log_p.shape == (7, 5)
    assert torch.isfinite(log_p).all()
    far = 3 * torch.randn(5, *event)
    assert torch.isfinite(vae.prior(_context(name, 5)).log_prob(far)).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name, user_spec):
    vae = _vae(name, user_spec)
    event = latent_shape_of(vae.prior, 2, _context(name, 2))
    torch.manual_seed(1)
    z = torch.randn(20, *event)
    loss = -vae.prior(_context(name, 20)).log_prob(z).mean()
    params = dict(vae.prior.named_parameters())
    if name == "vamp":  # the pseudo-inputs reach z through the shared encoder
        params.update({f"encoder.{k}": v for k, v in vae.encoder.named_parameters()})
    if not params:  # a fixed prior (standard normal, Laplace, Student-t): nothing to reach
        assert name in ("normal", "laplace", "student-t", "iid") and not loss.requires_grad
        return
    loss.backward()
    for key, param in params.items():
        assert param.grad is not None and param.grad.abs().sum() > 0, key


@pytest.mark.parametrize("name", NAMES)
def test_density_integrates_to_one_in_two_dimensions(name, user_spec):
    latent_dim, args = TWO_D.get(name, (2, None))
    vae = _vae(name, user_spec, latent_dim=latent_dim, args=args)
    context = _context(name, 1)
    event = latent_shape_of(vae.prior, latent_dim, context)
    assert math.prod(event) == 2
    # Importance sampling from a product of Cauchy distributions, whose tails are heavier
    # than any prior's here, so the weights have finite variance.
    proposal = dist.StudentT(1.0, torch.zeros(event), 2.0 * torch.ones(event)).to_event(len(event))
    torch.manual_seed(2)
    with torch.no_grad():
        z = proposal.sample((200_000,))
        prior = vae.prior(None if context is None else context.expand(len(z), 3))
        weights = (prior.log_prob(z) - proposal.log_prob(z)).exp()
    mass, se = mean_and_se(weights)
    assert abs(mass - 1.0) < 5 * se + 0.01, (mass, se)


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_round_trip(name, user_spec, tmp_path):
    trained, fresh = _vae(name, user_spec, seed=0), _vae(name, user_spec, seed=1)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.1 * torch.randn_like(p))
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    # evaluation mode: a prior may re-estimate a normaliser at every training call (resampled);
    # scoring the fresh prior first checks that a load replaces anything it cached
    trained.eval(), fresh.eval()
    fresh.prior(_context(name, 6))
    fresh.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    event = latent_shape_of(trained.prior, 2, _context(name, 2))
    z = torch.randn(6, *event)
    a = trained.prior(_context(name, 6)).log_prob(z)
    b = fresh.prior(_context(name, 6)).log_prob(z)
    torch.testing.assert_close(a, b)


@pytest.fixture(scope="module")
def digits_with_labels():
    return load_data(DataConfig(name="digits", binarize="dynamic", context="labels"))


def _short_sequences():
    """Moving digits cut to 3 frames, the steps the sequence priors are built with here."""
    data = load_data(DataConfig(name="moving-digits", binarize="dynamic", val_size=200))
    for split in ("train", "val", "test"):
        setattr(data, f"x_{split}", getattr(data, f"x_{split}")[:600, :3])
    return data


@pytest.mark.parametrize("name", NAMES)
def test_a_few_svi_steps_raise_the_elbo(name, user_spec, digits_with_labels):
    data = digits_with_labels
    if name in SEQUENCE:
        data = _short_sequences()
    elif name != "conditional":
        data = load_data(DataConfig(name="digits", binarize="dynamic"))
    vae = _vae(name, user_spec, latent_dim=2, x_shape=data.x_shape, classes=data.context_dim)
    result = fit(vae, data, epochs=4, batch_size=64, lr=3e-3, progress=False)
    first, last = result.history[0]["train_elbo"], result.history[-1]["train_elbo"]
    assert last > first + 1.0, (first, last)
    analytic = name in ("normal", "learned", "laplace", "conditional", "user", "iid")
    assert (result.elbo == "AnalyticKL_ELBO") == analytic, result.elbo


def test_user_prior_object_and_plain_callable_work_in_python(user_spec):
    from ppvae.models.priors import resolve_prior

    base = _vae("normal", user_spec)
    user_cls = resolve_prior(f"{user_spec}:ShiftedNormal")
    as_module = VAE(base.encoder, base.decoder, base.likelihood, user_cls(2, shift=0.2))

    def as_function(context=None):
        return dist.Normal(torch.zeros(2), torch.ones(2)).to_event(1)

    as_callable = VAE(base.encoder, base.decoder, base.likelihood, as_function)
    x = torch.bernoulli(torch.full((8, 4), 0.5))
    for vae in (as_module, as_callable):
        loss = pyro.infer.Trace_ELBO().differentiable_loss(vae.model, vae.guide, x)
        assert torch.isfinite(loss)
        assert vae.generate(3).shape == (3, 4)


@pytest.mark.parametrize(
    ("spec", "args", "message"),
    [
        ("gaussian-mixture", {}, "unknown prior"),
        ("missing_file.py:Prior", {}, "does not exist"),
        ("USER:NoSuchClass", {}, "defines no"),
        ("no_such_module_xyz:Prior", {}, "cannot import"),
        ("USER:Forgetful", {}, "batch shape"),
        ("mixture", {"components": "many"}, "expected int"),
        ("mixture", {"colour": "red"}, "no argument colour"),
        ("flow", {"flow": "magic"}, "unknown flow"),
        ("markov", {"transition": "quadratic"}, "unknown transition"),
    ],
)
def test_bad_prior_specifications_are_refused(spec, args, message, user_spec):
    spec = spec.replace("USER", user_spec)
    with pytest.raises(UserInputError, match=message):
        build_vae(ModelConfig(x_shape=(4,), latent_dim=2, hidden=(8,), prior=spec, prior_args=args))


def test_wrong_event_size_is_refused(user_spec):
    with pytest.raises(UserInputError, match="event shape"):
        latent_shape_of(make_prior("normal", latent_dim=3), 2, None)


def test_markov_prior_log_prob_matches_the_chain_rule():
    torch.manual_seed(3)
    prior = make_prior("markov", {"steps": "3", "transition": "linear"}, latent_dim=2)
    z = torch.randn(4, 3, 2)
    d = prior()
    expected = dist.Normal(d.init_loc, d.init_scale).log_prob(z[:, 0]).sum(-1)
    for t in range(1, 3):
        loc, scale = prior.transition(z[:, t - 1])
        expected = expected + dist.Normal(loc, scale).log_prob(z[:, t]).sum(-1)
    torch.testing.assert_close(d.log_prob(z), expected)
