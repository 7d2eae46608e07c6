"""`keras-ssl` on data that is streamed: the pipeline choice, unlabeled folders, the ImageNet
recipes on images of assorted sizes, and a whole train -> resume -> export cycle on `ram://`."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from helpers import run_cli
from keras_ssl.cli import builders
from keras_ssl.cli.config import load_recipe, recipe_names, validate_config
from keras_ssl.cli.export import export
from keras_ssl.cli.train import train



keras_ssl = run_cli


def tiny_quickstart(source, **data):
    config = load_recipe("quickstart_simclr")
    config.data.source = source
    for key, value in data.items():
        config.data[key] = value
    config.train.batch_size = 32
    config.train.epochs = 2
    return config


@pytest.fixture(scope="module")
def assorted_imagenet(cifar10_dir, tmp_path_factory):
    """An ImageNet-layout folder (train/<wnid>/*.JPEG) of 16 real images upsampled to assorted
    sizes, none of them the recipes' 224 x 224."""
    root = tmp_path_factory.mktemp("imagenet_tiny")
    rng = np.random.default_rng(0)
    for c, (wnid, cls) in enumerate((("n01440764", "airplane"), ("n02102040", "dog"))):
        os.makedirs(root / "train" / wnid)
        names = sorted(os.listdir(os.path.join(cifar10_dir, "train", cls)))[:8]
        for name in names:
            image = Image.open(os.path.join(cifar10_dir, "train", cls, name))
            size = (int(rng.integers(160, 400)), int(rng.integers(160, 400)))
            image.resize(size, Image.BICUBIC).save(root / "train" / wnid / f"{name[:-4]}.JPEG")
    return root


@pytest.fixture(scope="module")
def flat_folder(cifar10_dir, tmp_path_factory):
    """40 real CIFAR-10 images in one folder, no split or class folders: unlabeled."""
    root = tmp_path_factory.mktemp("flat")
    for cls in sorted(os.listdir(os.path.join(cifar10_dir, "train")))[:4]:
        for name in sorted(os.listdir(os.path.join(cifar10_dir, "train", cls)))[:10]:
            tf.io.gfile.copy(os.path.join(cifar10_dir, "train", cls, name),
                             str(root / f"{cls}_{name}"))
    return root


def test_auto_keeps_cifar_sized_labelled_data_in_memory_and_streams_the_rest(
        tiny_cifar10, assorted_imagenet, flat_folder):
    choose = lambda **kw: builders.choose_pipeline(validate_config(tiny_quickstart(**kw)))  # noqa
    assert choose(source=f"folder:{tiny_cifar10}") == "memory"
    # Images of another size than data.image_size: resizing them before the crop would upsample.
    assert choose(source=f"folder:{assorted_imagenet}") == "streaming"
    assert choose(source=f"folder:{flat_folder}") == "streaming"  # no labels to load
    # 80 images of 32x32 are 0.23 MB decoded.
    assert choose(source=f"folder:{tiny_cifar10}", memory_limit_mb=0.1) == "streaming"
    assert choose(source=f"folder:{tiny_cifar10}", pipeline="streaming") == "streaming"
    assert choose(source=f"folder:{tiny_cifar10}", service="grpc://localhost:5050") == "streaming"
    with pytest.raises(ValueError, match="data.service"):
        validate_config(tiny_quickstart(f"folder:{tiny_cifar10}", service="localhost:5050"))


def test_pretraining_on_an_unlabeled_flat_folder(flat_folder, tmp_path):
    workdir = tmp_path / "run"
    result = keras_ssl("train", "--config=quickstart_simclr", f"--workdir={workdir}",
                       f"--config.data.source=folder:{flat_folder}", "--config.train.epochs=2",
                       "--config.train.batch_size=16")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "40 training images (streaming pipeline), 2 steps per epoch" in result.stderr
    history = (workdir / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "bad_images" in history[0]
    assert (workdir / "encoder.keras").exists()


def test_preview_of_an_unlabeled_folder(flat_folder, tmp_path):
    png = tmp_path / "views.png"
    result = keras_ssl("preview", "--config=quickstart_simclr", f"--output={png}",
                       f"--config.data.source=folder:{flat_folder}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(png).size[0] > 100


def test_streaming_refuses_what_it_does_not_do(tiny_cifar10, tmp_path):
    result = keras_ssl("train", "--config=quickstart_simclr",
                       f"--workdir={tmp_path / 'run'}", f"--config.data.source=folder:{tiny_cifar10}",
                       "--config.data.pipeline=streaming", "--config.data.max_train_examples=40")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "data.max_train_examples" in result.stderr and "data.pipeline=memory" in result.stderr


def test_a_missing_data_folder_is_one_clean_message(tmp_path):
    result = keras_ssl("train", "--config=quickstart_simclr",
                       f"--workdir={tmp_path / 'run'}", f"--config.data.source=folder:{tmp_path}/no")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{tmp_path}/no" in result.stderr


# MoCo v2's recipe takes ~3 min here (ResNet-50, queue 65,536): BYOL's stands for both in CI, and
# Colorization's for the pretext tasks and AMDIM (second cases of a family run on demand).
IN_CI = ("byol_imagenet", "colorization_imagenet")


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[] if name in IN_CI else [pytest.mark.slow])
    for name in recipe_names() if name.endswith("_imagenet")])
def test_imagenet_recipes_train_two_steps_on_images_of_assorted_sizes(name, assorted_imagenet):
    """The recipe as it is, but for its data path and a batch of 8 (its 256-4096 would need a
    machine of its own): its encoder at its paper's size (ResNet-50 at 224 for the contrastive
    methods), views cropped from each image's original size."""
    config = load_recipe(name)
    config.data.source = f"folder:{assorted_imagenet}"
    config.train.batch_size = 8
    config = validate_config(config)
    assert config.data.image_size >= 128
    assert builders.choose_pipeline(config) == "streaming"
    keras.utils.set_random_seed(0)
    model = builders.build_method(config, builders.build_encoder(config), steps_per_epoch=2)
    model.compile(optimizer=builders.build_optimizer(config, steps_per_epoch=2))
    dataset = builders.streaming_dataset(config, builders.build_transform(config), None)
    history = model.fit(dataset, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == 2
    assert np.isfinite(history.history["loss"][0])


def test_train_resume_export_with_workdir_and_data_on_ram_filesystem(tiny_cifar10):
    """TensorFlow's in-memory filesystem stands in for gs://: every path goes through tf.io.gfile.
    A time budget stops each run after its first batch; every re-run resumes one batch further."""
    for root, _, names in os.walk(tiny_cifar10):
        for name in names:
            target = "ram://data/" + os.path.relpath(os.path.join(root, name), tiny_cifar10)
            tf.io.gfile.makedirs(os.path.dirname(target))
            tf.io.gfile.copy(os.path.join(root, name), target, overwrite=True)
    config = tiny_quickstart("folder:ram://data", pipeline="streaming")
    config.train.epochs = 1  # 2 steps, so 2 runs (each builds and traces): one resumes mid-epoch
    config.train.max_minutes = 1e-6
    config = validate_config(config)
    steps = 80 // 32
    for run in range(1, steps + 1):
        model = train(config, "ram://run")
        assert int(model.optimizer.iterations) == run
    assert int(train(config, "ram://run").optimizer.iterations) == steps  # done: nothing to train
    assert not os.path.exists("ram:")  # no local folder named after the URL
    assert {"config.json", "checkpoints", "logs", "history.csv", "encoder.keras"} <= set(
        tf.io.gfile.listdir("ram://run"))
    with tf.io.gfile.GFile("ram://run/history.csv") as f:
        rows = f.read().strip().splitlines()
    # One row per epoch: the resumed epoch's row replaced the one its first, partial run wrote.
    assert rows[0].startswith("epoch,") and len(rows) == 1 + config.train.epochs

    assert export("ram://run") == "ram://run/export"
    loaded = tf.saved_model.load("ram://run/export")
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("uint8")
    served = loaded.signatures["serving_default"](images=tf.constant(images))["embeddings"]
    encoder = keras.models.load_model("ram://run/encoder.keras")
    np.testing.assert_allclose(served, encoder(images / 255.0, training=False), atol=1e-5)
