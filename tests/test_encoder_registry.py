"""Encoders by name (`keras_ssl.encoders.registry`): the config section each one gets, the refusal
of a kind the section was not made for, and runs of earlier versions (an `encoder.amdim`
subsection beside the ResNet's keys) building the same encoder as before."""

import json

import pytest

from keras_ssl import encoders
from keras_ssl.cli import builders
from keras_ssl.cli.config import base_config, load_recipe, validate_config
from keras_ssl.cli.workdir import Workdir


def test_the_encoders_are_registered_with_their_own_keys():
    assert encoders.registry.names() == ["amdim", "resnet"]
    assert set(base_config("simclr").encoder) == {
        "kind", "synchronized_bn", "depth", "stem", "stem_stride", "width_multiplier"}
    assert set(base_config("amdim", encoder="amdim").encoder) == {
        "kind", "synchronized_bn", "ndf", "n_rkhs", "n_depth", "use_bn"}
    with pytest.raises(ValueError, match=r"encoder.kind='vgg' is invalid: expected one of "
                                         r"\['amdim', 'resnet'\]"):
        base_config("simclr", encoder="vgg")


@pytest.mark.parametrize("method, encoder, other", [("simclr", "resnet", "amdim"),
                                                    ("amdim", "amdim", "resnet")])
def test_another_kind_than_the_sections_is_refused_pointing_at_the_recipe(method, encoder, other):
    config = base_config(method, encoder=encoder)
    config.encoder.kind = other  # as --config.encoder.kind=<other> does
    with pytest.raises(ValueError) as error:
        validate_config(config)
    message = str(error.value)
    assert message.startswith(f"config key encoder.kind={other!r} does not match the encoder "
                              "section")
    assert f"choose the encoder in the recipe, base_config(method, encoder={other!r})" in message


def _old_layout(config):
    """`config` as a run of an earlier version wrote it to config.json: the ResNet's keys with
    their defaults beside an `amdim` subsection, whatever the kind."""
    resnet, amdim = (encoders.registry.get(k).default_config() for k in ("resnet", "amdim"))
    resnet["stem_stride"] = None
    section = config.encoder.to_dict()
    own = {key: section.pop(key) for key in list(section) if key in amdim}
    old = json.loads(config.to_json_best_effort())
    old["encoder"] = {**resnet, **section, "amdim": {**amdim, **own}}
    return old


@pytest.mark.parametrize("recipe", ["quickstart_amdim", "quickstart_simclr", "exemplar_stl10"])
def test_a_run_of_an_earlier_version_loads_and_builds_the_same_encoder(recipe, tmp_path):
    config = load_recipe(recipe)
    old = _old_layout(config)
    assert "amdim" in old["encoder"] and "depth" in old["encoder"]
    (tmp_path / "config.json").write_text(json.dumps(old, indent=2, sort_keys=True))
    workdir = Workdir(str(tmp_path))
    loaded = workdir.load_config()
    assert loaded.encoder.to_dict() == config.encoder.to_dict()
    built, expected = builders.build_encoder(loaded), builders.build_encoder(config)
    assert type(built) is type(expected)
    assert built.get_config() == expected.get_config()
    assert built.count_params() == expected.count_params()
    workdir.save_config(config)  # resuming the old run with its recipe is not a config change
    assert json.loads((tmp_path / "config.json").read_text())["encoder"] == json.loads(
        config.to_json_best_effort())["encoder"]
