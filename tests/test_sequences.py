"""Sequence models: moving digits, per-frame networks, Markov vs i.i.d. prior, continuations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppvae.cli import main
from ppvae.data import DataConfig, load_data
from ppvae.inference import fit, log_likelihood, mean_and_se
from ppvae.models import ModelConfig, build_vae
from ppvae.moving_digits import moving_digits
from ppvae.sequences import continue_sequences


def test_moving_digits_keep_their_digit_and_move_at_most_two_pixels_a_step():
    x, y = moving_digits(num=50, steps=12, seed=3)
    mass = x.sum(axis=(2, 3, 4))  # the whole digit is on the canvas in every frame
    assert np.allclose(mass, mass[:, :1], atol=1e-4) and (mass > 0).all()
    rows = np.arange(16)
    centre = (x.sum(axis=(2, 4)) * rows).sum(-1) / x.sum(axis=(2, 3, 4))  # (N, T)
    assert np.abs(np.diff(centre, axis=1)).max() <= 2 + 1e-4
    assert len(set(y.tolist())) > 5


TINY = ["--latent-dim", "2", "--hidden", "16", "--epochs", "1", "--num-samples", "5"]
TINY += ["--no-progress"]


def _data(steps=4, n=600):
    data = load_data(DataConfig(name="moving-digits", val_size=200))
    for split in ("train", "val", "test"):
        setattr(data, f"x_{split}", getattr(data, f"x_{split}")[:n, :steps])
    return data


def _fitted(prior, data, epochs=6):
    torch.manual_seed(0)
    config = ModelConfig(x_shape=data.x_shape, latent_dim=4, hidden=(64,), prior=prior)
    vae = build_vae(config)
    fit(vae, data, epochs=epochs, batch_size=64, lr=3e-3, progress=False)
    return vae


def test_the_markov_prior_beats_the_iid_prior_with_the_same_guide():
    data = _data()
    vaes = {prior: _fitted(prior, data) for prior in ("iid", "markov")}
    assert type(vaes["iid"].encoder) is type(vaes["markov"].encoder)  # only the prior differs
    ll = {p: log_likelihood(v, data.x_test[:200], num_samples=50) for p, v in vaes.items()}
    gain, se = mean_and_se(ll["markov"] - ll["iid"])  # paired: the same test sequences
    assert gain > 3 * se and gain > 0, (gain, se)


def test_continuations_decode_the_given_frames_and_follow_the_prior():
    data = _data()
    vae = _fitted("markov", data, epochs=1)
    x = data.x_test[:5]
    out = continue_sequences(vae, x, given=2, mean=True)
    assert out.shape == x.shape
    torch.testing.assert_close(out[:, :2], vae.reconstruct(x)[:, :2])
    z = vae.encode(x).mean
    torch.testing.assert_close(vae.prior.continuation(z[:, :2], mean=True)[:, :2], z[:, :2])
    with pytest.raises(Exception, match="between 1 and 3"):
        continue_sequences(vae, x, given=4)


def test_sequence_runs_from_the_cli_and_user_npy_sequences(tmp_path, capsys):
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(300, 6, 1)), axis=1) + rng.normal(size=(300, 6, 5)) * 0.1
    np.save(tmp_path / "seq.npy", walk.astype(np.float32))
    flags = ["--likelihood", "gaussian", "--latent-dim", "2", "--hidden", "16", "--epochs", "2"]
    out = tmp_path / "run"
    code = main(
        [
            "fit",
            "--data",
            str(tmp_path / "seq.npy"),
            "--prior",
            "markov",
            *flags,
            "--num-samples",
            "10",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert (out / "continuations.png").exists()
    code = main(
        [
            "fit",
            "--data",
            "moving-digits",
            "--prior",
            "markov",
            *TINY,
            "--out",
            str(tmp_path / "md"),
        ]
    )
    assert code == 0 and (tmp_path / "md" / "continuations.png").stat().st_size > 1000


@pytest.mark.parametrize("prior", ["markov", "iid"])
def test_sequence_priors_on_non_sequence_data_exit_2(tmp_path, capsys, prior):
    out = tmp_path / "run"
    code = main(["fit", "--data", "digits", "--prior", prior, "--out", str(out)])
    assert code == 2 and "not sequences" in capsys.readouterr().err
    assert not out.exists()


def test_sequence_priors_with_the_wrong_number_of_steps_exit_2(tmp_path, capsys):
    code = main(
        [
            "fit",
            "--data",
            "moving-digits",
            "--prior",
            "markov",
            "--prior-arg",
            "steps=4",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2 and "sequence prior over 4 steps" in capsys.readouterr().err


def test_a_user_sequence_prior_without_continuation_still_gets_its_pictures(tmp_path, capsys):
    (tmp_path / "myseq.py").write_text(
        "import pyro.distributions as dist, torch\n"
        "class Seq(torch.nn.Module):\n"
        "    def __init__(self, latent_dim: int, x_shape=None):\n"
        "        super().__init__()\n"
        "        self.latent_shape = (x_shape[0], latent_dim)\n"
        "    def forward(self, context=None):\n"
        "        return dist.Normal(torch.zeros(self.latent_shape), 1.0).to_event(2)\n"
    )
    out = tmp_path / "run"
    code = main(
        [
            "fit",
            "--data",
            "moving-digits",
            "--prior",
            f"{tmp_path / 'myseq.py'}:Seq",
            *TINY,
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert (out / "samples.png").exists() and not (out / "continuations.png").exists()
    assert "active units" in capsys.readouterr().out
    assert '"latent_size": 20' in (out / "metrics.json").read_text()
    assert main(["generate", str(out), "--rows", "2"]) == 0
