"""What failures do to a `keras-ssl` run: a bad image under on_bad_image=error (train and eval),
the bad-image counts of a resumed run, a NaN loss."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from keras_ssl.cli import builders
from keras_ssl.cli.config import base_config
from keras_ssl.cli.workdir import Workdir

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = [
    f"--config={ROOT / 'configs' / 'simclr_cifar10.py'}",
    "--config.encoder.width_multiplier=0.125",
    "--config.model.projection_hidden_dims=(32,)",
    "--config.train.warmup_epochs=0.0",
]


@pytest.fixture(scope="module")
def with_bad_images(tiny_cifar10, tmp_path_factory):
    """tiny_cifar10 with one undecodable file in each split."""
    root = tmp_path_factory.mktemp("bad") / "cifar"
    shutil.copytree(tiny_cifar10, root)
    for split in ("train", "test"):
        (root / split / "airplane" / "zz_bad.jpg").write_bytes(b"not a JPEG")
    return root


def _keras_ssl(*args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "keras_ssl.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def _one_line_error(result):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("keras-ssl:")]
    assert len(lines) == 1
    return lines[0]


def test_train_with_on_bad_image_error_is_one_line(with_bad_images, tmp_path):
    result = _keras_ssl("train", *TINY_RUN, f"--workdir={tmp_path / 'run'}",
                        f"--config.data.source=folder:{with_bad_images}",
                        "--config.data.pipeline=streaming", "--config.data.on_bad_image=error",
                        "--config.train.batch_size=27", "--config.train.epochs=1")
    message = _one_line_error(result)
    assert f"{with_bad_images}/train/airplane/zz_bad.jpg" in message
    assert "on_bad_image='skip'" in message


def test_eval_with_on_bad_image_error_is_one_line(with_bad_images, tmp_path):
    config = base_config("simclr")
    config.data.source = f"folder:{with_bad_images}"
    config.data.pipeline = "streaming"
    config.data.on_bad_image = "error"
    config.encoder.width_multiplier = 0.125
    wd = Workdir(tmp_path / "run")  # a finished run's workdir, its encoder untrained
    wd.save_config(config)
    keras.utils.set_random_seed(0)
    builders.build_encoder(config).save(wd.encoder_path)
    message = _one_line_error(_keras_ssl("eval", f"--workdir={wd.path}", "--protocol=knn",
                                         "--random_init=none"))
    assert f"{with_bad_images}/train/airplane/zz_bad.jpg" in message
