"""Comparison entries: a prior spec with optional settings that make a variant."""

from __future__ import annotations

import pytest

from ppvae.errors import UserInputError
from ppvae.models import ModelConfig
from ppvae.runs import RunConfig
from ppvae.variants import parse_entry, variant_config


def test_settings_take_their_fields_types():
    v = variant_config(RunConfig(), "mixture@clip-norm=5,anneal=linear,anneal-steps=10,k=7", 2)
    assert v.fit.clip_norm == 5.0 and v.fit.anneal == "linear" and v.fit.anneal_steps == 10
    assert v.model.prior == "mixture" and v.model.prior_args == {"k": "7"} and v.fit.seed == 2
    assert variant_config(v, "normal@clip-norm=none", 0).fit.clip_norm is None


def test_the_networks_stay_shared_and_arg_reaches_the_prior():
    base = RunConfig()
    flow = variant_config(base, "flow@arg.hidden=64,arg.latent-dim=3", seed=0)
    assert flow.model.hidden == base.model.hidden
    assert flow.model.prior_args == {"hidden": "64", "latent_dim": "3"}
    with pytest.raises(UserInputError, match=r"held equal.*arg\.hidden="):
        variant_config(base, "flow@hidden=64", seed=0)


def test_a_family_member_replaces_the_base_preset():
    own = RunConfig(model=ModelConfig(hidden=(16,), likelihood="gaussian"))
    base = variant_config(own, "normal@family=denoising-vae", seed=0)
    assert (base.model.corruption, base.model.noise_level) == ("mask", 0.25)
    assert base.model.hidden == (16,) and base.model.likelihood == "gaussian"
    back = variant_config(base, "normal@family=vae", seed=0)
    assert (back.model.corruption, back.model.noise_level) == ("none", 0.0)
    assert back.model.guide == "normal"


def test_a_file_prior_with_an_at_sign_in_its_folder_is_one_spec():
    assert parse_entry("/home/me@work/p.py:Prior") == ("/home/me@work/p.py:Prior", {})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("normal@batch-size=64", "held equal"),
        ("normal@prior=vamp", "held equal"),
        ("normal@beta=2,beta=3", "twice"),
        ("normal@beta", "key=value"),
        ("@beta=2", "names no prior"),
        ("normal@", "nothing after"),
        ("normal@likelihood=gaussian", "held equal"),
        ("normal@num-particles=5", "held equal"),
        ("normal@anneal-steps=ten", "not a valid int"),
        ("normal@family=ae", "no log p"),
        ("normal@family=sparse", "no log p"),
        ("normal@family=nonsense", "unknown family member"),
    ],
)
def test_bad_entries_are_refused(entry, message):
    with pytest.raises(UserInputError, match=message):
        variant_config(RunConfig(), entry, seed=0)
