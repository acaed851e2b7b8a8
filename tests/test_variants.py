"""Comparison entries: a prior spec with optional settings that make a variant."""

from __future__ import annotations

import pytest

from ppvae.errors import UserInputError
from ppvae.runs import RunConfig
from ppvae.variants import parse_entry, variant_config


def test_settings_take_their_fields_types():
    v = variant_config(RunConfig(), "mixture@clip-norm=5,patience=none,components=7", seed=2)
    assert v.fit.clip_norm == 5.0 and v.fit.patience is None and v.fit.seed == 2
    assert v.model.prior == "mixture" and v.model.prior_args == {"components": "7"}
    v = variant_config(RunConfig(), "normal@condition_networks=yes,hidden=()", seed=0)
    assert v.model.condition_networks is True and v.model.hidden == ()


def test_a_family_member_replaces_the_base_preset():
    base = variant_config(RunConfig(), "normal@family=denoising-vae", seed=0)
    assert (base.model.corruption, base.model.noise_level) == ("mask", 0.25)
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
        ("normal@hidden=a+b", "widths joined by"),
        ("normal@condition-networks=maybe", "not a valid bool"),
    ],
)
def test_bad_entries_are_refused(entry, message):
    with pytest.raises(UserInputError, match=message):
        variant_config(RunConfig(), entry, seed=0)
