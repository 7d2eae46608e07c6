"""Recipes by name or path: `keras_ssl.cli.config.load_recipe`, `--config` and `keras-ssl recipes`
(every recipe validating is tests/test_registry.py's)."""

import importlib
import os

import pytest

from helpers import ROOT, run_cli
from keras_ssl.cli import UsageError
from keras_ssl.cli.config import load_recipe, recipe_file, recipe_names
from keras_ssl.cli.main import _resolve_config

PACKAGED = ROOT / "keras_ssl" / "configs"
# Every module of the package but the package itself and the blocks the recipes share.
FILES = sorted(f[:-3] for f in os.listdir(PACKAGED)
               if f.endswith(".py") and f not in ("__init__.py", "common.py"))


def test_every_packaged_file_is_a_recipe_name():
    assert recipe_names() == FILES
    assert {"simclr_cifar10", "quickstart_simclr", "byol_cifar10"} <= set(FILES)


def test_a_name_and_its_file_give_the_same_config():
    by_name = load_recipe("mocov2_cifar10")
    assert by_name == load_recipe(str(PACKAGED / "mocov2_cifar10.py"))
    assert by_name.model.queue_size == 4096 and by_name.data.image_size == 32


def test_a_users_own_recipe_file_loads_by_path(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text(
        "from keras_ssl.configs import quickstart_simclr\n\n\n"
        "def get_config():\n    c = quickstart_simclr.get_config()\n"
        "    c.train.epochs = 3\n    return c\n")
    assert load_recipe(str(tmp_path / "mine.py")).train.epochs == 3
    monkeypatch.chdir(tmp_path)  # a bare file name of the working directory is a path too
    assert recipe_file("mine.py") == "mine.py"
    assert load_recipe("mine.py").train.epochs == 3


@pytest.mark.parametrize("value, message", [
    ("simclr", "no recipe is named 'simclr'; pass a recipe name (amdim_cifar10, "),
    ("configs/simclr_cifar10.py", "config file configs/simclr_cifar10.py does not exist; pass"),
])
def test_unknown_name_or_missing_file_lists_the_names(value, message):
    with pytest.raises(UsageError) as error:
        load_recipe(value)
    assert str(error.value).startswith(message)
    assert all(name in str(error.value) for name in FILES)
    assert "`keras-ssl recipes` describes them" in str(error.value)


def test_config_flag_name_becomes_the_packaged_file_keeping_its_argument():
    path = str(PACKAGED / "simclr_cifar10.py")
    argv = ["keras-ssl", "--config=simclr_cifar10:small", "--config.train.epochs=2",
            "--workdir=w"]
    assert _resolve_config(argv) == ["keras-ssl", f"--config={path}:small",
                                     "--config.train.epochs=2", "--workdir=w"]
    assert _resolve_config(["keras-ssl", "--config", "simclr_cifar10"]) == [
        "keras-ssl", "--config", path]
    assert argv[1] == "--config=simclr_cifar10:small"  # the caller's list is left as it was


def test_recipes_command_lists_every_recipe_with_its_first_docstring_line():
    result = run_cli("recipes", check=True)
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == FILES
    for name, line in zip(FILES, lines):
        summary = importlib.import_module(f"keras_ssl.configs.{name}").__doc__.split("\n")[0]
        assert line.split(None, 1)[1] == summary.strip()
