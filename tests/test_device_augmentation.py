"""`augment_on="device"`: the pipelines stop before the augmentation and the train step finishes it
(`keras_ssl.data.DeviceAugmentation`). The same seeds give the same views as the host path, for
every method's transform; `fit` trains the same model; the saved model does not change. Under a
2-replica MirroredStrategy: tests/test_distributed_device_augmentation.py."""

import contextlib
import json
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import augment, distribute
from keras_ssl.cli import UsageError, builders
from keras_ssl.cli.config import load_recipe, validate_config
from keras_ssl.cli.train import train
from keras_ssl.cli.workdir import Workdir
from keras_ssl.data import (DeviceAugmentation, load_arrays, pretraining_dataset,
                            streaming_pretraining_dataset)
from keras_ssl.encoders import ResNet18
from keras_ssl.methods import SimCLR, registry

# Measured on this CPU: at most 6.6e-7 on [0, 1] pixels (see _no_constant_folding).
GRAPH_TOLERANCE = 2e-6


@contextlib.contextmanager
def _no_constant_folding():
    """Grappler's constant folding rewrites some float32 products with constants in a
    `tf.function` (the train step) but not in tf.data's map functions, which changes the last bits
    of the colour ops; without it both paths compute the same float32 operations, bit for bit."""
    before = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"constant_folding": False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {"constant_folding": before.get("constant_folding", True)})


def _datasets(pipeline, transform, source, size, **kwargs):
    """(host, device) datasets of the same run: 2 replicas, global batch 4, one epoch."""
    args = dict(seed=7, epochs=1, input_context=tf.distribute.InputContext(1, 0, 2), **kwargs)
    if pipeline == "memory":
        images, labels, _ = load_arrays(source, "train", size)
        make = lambda on: pretraining_dataset(  # noqa: E731
            None, 4, transform, arrays=(images[:16], labels[:16]), augment_on=on, **args)
    else:
        make = lambda on: streaming_pretraining_dataset(  # noqa: E731
            source, 4, transform, image_size=size, augment_on=on, **args)
    return make("host"), make("device")


def _flat(structure):
    return [np.asarray(x) for x in tf.nest.flatten(structure)]


# Methods whose views are SimCLR's pair of SimCLRTransforms (with other settings) or BYOL's pair
# (byol_views) run on demand: SimCLR and BYOL stand for them in CI.
SAME_VIEWS_AS_ANOTHER = {"mocov2", "simsiam", "mocov3", "nnclr", "barlow_twins", "vicreg"}


@pytest.mark.parametrize("pipeline", ["memory", "streaming"])
@pytest.mark.parametrize("method", [
    pytest.param(name, marks=pytest.mark.slow) if name in SAME_VIEWS_AS_ANOTHER else name
    for name in registry.names()])
def test_device_stage_gives_the_host_views_of_every_method(method, pipeline, tiny_cifar10):
    """Each method's quickstart transform: the 2 replica batches of a step (each with its
    own seed) finished by the device stage equal the host pipeline's, bit for bit."""
    config = load_recipe(f"quickstart_{method}")
    transform = builders.build_transform(config)
    if pipeline == "streaming" and not hasattr(transform, "augment_crops"):
        pytest.skip(f"{type(transform).__name__} has no crop stage: it does not stream")
    host, device = _datasets(pipeline, transform, f"folder:{tiny_cifar10}",
                             config.data.image_size)
    elements = list(device.take(2))
    # Static shapes (as a TPU needs) and only the stage's inputs: uint8 pixels and the seed.
    assert all(s.shape.is_fully_defined() for s in tf.nest.flatten(device.element_spec))
    pixels = device.element_spec["crops" if pipeline == "streaming" else "images"]
    assert {s.dtype for s in tf.nest.flatten(pixels)} == {tf.uint8}
    stage = DeviceAugmentation(transform)
    with _no_constant_folding():
        finished = tf.function(stage)
        for expected, element in zip(host.take(2), elements):
            for a, b in zip(_flat(expected), _flat(finished(element))):
                np.testing.assert_array_equal(b, a)


def test_with_graph_optimisations_the_views_agree_within_the_stated_tolerance(tiny_cifar10):
    views = augment.MultiViewTransform([augment.SimCLRTransform(32, blur_probability=0.5),
                                        augment.SimCLRTransform(32, solarize_probability=0.5)])
    host, device = _datasets("streaming", views, f"folder:{tiny_cifar10}", 32)
    finished = tf.function(DeviceAugmentation(views))
    differences = [np.abs(a - b).max() for expected, element in zip(host.take(4), device.take(4))
                   for a, b in zip(_flat(expected), _flat(finished(element)))]
    assert max(differences) < GRAPH_TOLERANCE


def test_streamed_crops_are_rounded_to_uint8_before_the_augmentation(tiny_cifar10):
    """The host path augments the uint8 crops the device path is sent: a transform that only
    converts them ([0, 1] floats) gives multiples of 1/255."""
    identity = augment.PaddedCropFlipTransform(padding=0, flip_probability=0.0)
    host, device = _datasets("streaming", identity, f"folder:{tiny_cifar10}", 24)
    view, element = next(iter(host)), next(iter(device))
    np.testing.assert_array_equal(view.numpy() * 255.0, element["crops"][0].numpy())
    assert len(np.unique(element["crops"][0].numpy())) > 100  # resized, not just the JPEG pixels


def _simclr(seed=0):
    keras.utils.set_random_seed(seed)
    encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=(32, 32, 3))
    model = SimCLR(encoder, projection_hidden_dims=(16,), projection_dim=8)
    model.build((None, 32, 32, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False)
    return model


def _fit(model, dataset, steps=3):
    losses = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[record])
    return np.array(losses)


@pytest.mark.parametrize("pipeline", ["memory", "streaming"])
def test_fit_on_device_equals_fit_on_host(pipeline, tiny_cifar10, tmp_path):
    views = augment.MultiViewTransform([augment.SimCLRTransform(32, blur_probability=0.5)] * 2)
    source = f"folder:{tiny_cifar10}"
    runs = {}
    with _no_constant_folding():
        for on in ("host", "device"):
            model = _simclr()
            if on == "device":
                model.device_augmentation = DeviceAugmentation(views)
            args = dict(seed=3, epochs=1)
            if pipeline == "memory":
                dataset = pretraining_dataset(None, 8, views, arrays=load_arrays(source)[:2],
                                              augment_on=on, **args)
            else:
                dataset = streaming_pretraining_dataset(source, 8, views, augment_on=on, **args)
            runs[on] = model, _fit(model, dataset)
    (host, host_losses), (device, device_losses) = runs["host"], runs["device"]
    np.testing.assert_array_equal(device_losses, host_losses)
    assert abs(host_losses[-1] - host_losses[0]) > 1e-4  # it trained
    for a, b in zip(host.weights, device.weights):
        np.testing.assert_array_equal(b.numpy(), a.numpy())

    # model(images), predict and the saved model are those of a model without the stage.
    images = load_arrays(source, "test")[0][:4] / 255.0
    np.testing.assert_array_equal(device.predict(images, verbose=0),
                                  host.predict(images, verbose=0))
    path = str(tmp_path / "device.keras")
    device.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.device_augmentation is None
    np.testing.assert_allclose(loaded(images), device(images), atol=1e-6)


def test_a_host_batch_given_to_the_device_stage_is_refused(tiny_cifar10):
    model = _simclr()
    views = augment.MultiViewTransform([augment.SimCLRTransform(32)] * 2)
    model.device_augmentation = DeviceAugmentation(views)
    dataset = streaming_pretraining_dataset(f"folder:{tiny_cifar10}", 8, views, epochs=1)
    with pytest.raises(ValueError, match="not from a pipeline built with augment_on='device'"):
        model.fit(dataset, steps_per_epoch=1, verbose=0)


@pytest.mark.parametrize("case, message", [
    (dict(augment_on="gpu"), "augment_on must be one of ('host', 'device'), got 'gpu'"),
    (dict(augment_on="device", transform=None), "augment_on='device' needs a transform"),
    (dict(augment_on="device", with_labels=True), "use augment_on='host' with with_labels=True"),
])
@pytest.mark.parametrize("pipeline", ["memory", "streaming"])
def test_bad_augment_on_is_refused_by_both_pipelines(case, message, pipeline, tiny_cifar10):
    args = dict(dict(transform=augment.SimCLRTransform(32)), **case)
    with pytest.raises(ValueError) as error:
        if pipeline == "memory":
            images = np.zeros((8, 32, 32, 3), np.uint8)
            pretraining_dataset(None, 4, arrays=(images, np.zeros(8, np.int32)), **args)
        else:
            streaming_pretraining_dataset(f"folder:{tiny_cifar10}", 4, **args)
    assert message in str(error.value)


def test_config_key_is_checked_and_runs_from_before_it_resume(tmp_path):
    config = load_recipe("quickstart_simclr")
    assert config.data.augment_on == "host"
    config.data.augment_on = "tpu"
    with pytest.raises(ValueError, match="data.augment_on"):
        validate_config(config)
    config.data.augment_on = "host"
    old = json.loads(config.to_json_best_effort())
    del old["data"]["augment_on"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    Workdir(str(tmp_path)).save_config(config)  # not a changed config: no ConfigMismatchError
    config.data.augment_on = "device"
    validate_config(config)
    model = builders.build_method(config, builders.build_encoder(config))
    builders.set_device_augmentation(config, model, builders.build_transform(config))
    assert isinstance(model.device_augmentation, DeviceAugmentation)


@pytest.mark.xfail(strict=True, raises=tf.errors.InvalidArgumentError,
                   reason="XLA does not compile colour jitter's DynamicPartition (nor, in memory, "
                   "CropAndResize): the command line refuses TPUs with augment_on='device'")
def test_device_stage_compiles_with_xla(tiny_cifar10):
    views = augment.MultiViewTransform([augment.SimCLRTransform(32)] * 2)
    _, device = _datasets("streaming", views, f"folder:{tiny_cifar10}", 32)
    tf.function(DeviceAugmentation(views), jit_compile=True)(next(iter(device)))


def test_tpus_are_refused_with_device_augmentation(tmp_path):
    config = load_recipe("quickstart_simclr")
    config.data.augment_on = "device"
    tpu = mock.MagicMock(spec=tf.distribute.TPUStrategy)
    with mock.patch.object(distribute, "create_strategy", return_value=tpu):
        with pytest.raises(UsageError, match="data.augment_on='device' does not run on TPUs"):
            train(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_setting_the_stage_after_a_fit_takes_effect(tiny_cifar10):
    views = augment.MultiViewTransform([augment.SimCLRTransform(32)] * 2)
    source = f"folder:{tiny_cifar10}"
    model = _simclr()
    _fit(model, streaming_pretraining_dataset(source, 8, views, epochs=1), steps=1)
    model.device_augmentation = DeviceAugmentation(views)
    _fit(model, streaming_pretraining_dataset(source, 8, views, epochs=1, augment_on="device"),
         steps=1)
    model.device_augmentation = None  # and back: a device batch is no longer augmented
    with pytest.raises(ValueError, match="the model has no device_augmentation"):
        _fit(model, streaming_pretraining_dataset(source, 8, views, epochs=1, augment_on="device"),
             steps=1)
