"""The package as a user installs it (issue 23): the wheel built from this tree, installed into a
fresh virtual environment, run from a folder outside the source tree with no PYTHONPATH. Its
recipes must be inside the wheel: `keras-ssl recipes` lists them and one trains by name.

The venv sees the system site-packages (TensorFlow is too big to install again) and installs the
wheel alone (`--no-deps`); the system's editable install of keras_ssl is visible there too, so the
test checks that the venv's own copy is the one imported.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

from helpers import ROOT

# The source tree without what is not the package's: a build must not write into the tree.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".cache", "runs", "build", "dist", "*.egg-info",
                                     "__pycache__", ".pytest_cache")


def _run(*command, cwd, env=None):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
    return result


def test_wheel_installs_its_recipes_and_trains_one_by_name(tiny_cifar10, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    # The build backend installed here (setuptools, wheel): no download.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source), cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("keras_ssl-*.whl")
    contents = set(zipfile.ZipFile(wheel).namelist())
    recipes = sorted(f for f in os.listdir(ROOT / "keras_ssl" / "configs") if f.endswith(".py"))
    assert {f"keras_ssl/configs/{f}" for f in recipes} <= contents
    assert "keras_ssl/augment/data/jigsaw_permutations_seed0.txt" in contents  # package data

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--system-site-packages", str(venv), cwd=tmp_path)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel),
         cwd=tmp_path)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CONFIG")}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    where = _run(python, "-c", "import keras_ssl.cli.config as c, keras_ssl; "
                 "print(keras_ssl.__file__); print(c.recipe_file('simclr_cifar10'))",
                 cwd=outside, env=env).stdout.split()
    site = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    for path in where:  # the package and its recipes from the venv, not the editable install
        assert os.path.commonpath([path, site]) == site, (path, site)

    listing = _run(bin_dir / "keras-ssl", "recipes", cwd=outside, env=env).stdout
    assert [line.split()[0] for line in listing.strip().splitlines()] == [
        f[:-3] for f in recipes if f not in ("__init__.py", "common.py")]

    # Two steps: 80 images, batch 40, one epoch, a 1/8-width encoder.
    train = _run(bin_dir / "keras-ssl", "train", "--config=quickstart_simclr",
                 "--workdir=run", f"--config.data.source=folder:{tiny_cifar10}",
                 "--config.encoder.width_multiplier=0.125", "--config.train.batch_size=40",
                 "--config.train.epochs=1", "--config.train.warmup_epochs=0.0",
                 cwd=outside, env=env)
    assert "2 steps per epoch" in train.stderr, train.stderr[-3000:]
    assert (outside / "run" / "encoder.keras").exists()
    assert len((outside / "run" / "history.csv").read_text().strip().splitlines()) == 2
