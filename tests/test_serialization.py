"""The Keras layers and encoders the library registers for `.keras` files, through one round
trip (`helpers.run_serialization_test`): its config reproduces it, and a saved model reloads it
with the same outputs; every registered transform, through its config, draws the same views.
Elsewhere (`ELSEWHERE`, checked to be all the rest): FeatureQueue and MomentumNetwork (their
calls update state), the methods and the optimiser. And `.keras` files saved before the input
layers and MomentumNetwork moved into `keras_ssl.layers` still load."""

import io
import json
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import run_serialization_test
from keras_ssl import augment, layers
from keras_ssl.cli.config import load_recipe, recipe_names
from keras_ssl.encoders import AMDIMEncoder, ResNet
from keras_ssl.encoders.amdim import ChannelPad, ReflectPad2D
from keras_ssl.heads.amdim import MixtureHeads, ResidualEmbedding
from keras_ssl.heads.channelwise import ChannelwiseFullyConnected
from keras_ssl.heads.decoder import DecoderHead
from keras_ssl.heads.discriminator import PatchDiscriminator
from keras_ssl.heads.mlp import MLPHead
from keras_ssl.methods import registry

IMAGES = (2, 32, 32, 3)
MAPS = (2, 4, 4, 8)
CASES = {
    "LightnessInput": (lambda: layers.LightnessInput(), IMAGES),
    "StandardizedInput": (lambda: layers.StandardizedInput(), IMAGES),
    "ChannelwiseFullyConnected": (lambda: ChannelwiseFullyConnected(dropout=0.1), MAPS),
    "DecoderHead": (lambda: DecoderHead(filters=(8, 4), output_channels=3), MAPS),
    "MLPHead": (lambda: MLPHead(hidden_dims=(16,), output_dim=8), (2, 12)),
    "PatchDiscriminator": (lambda: PatchDiscriminator(filters=(4, 8)), (2, 16, 16, 3)),
    "ResidualEmbedding": (lambda: ResidualEmbedding(8), MAPS),
    "MixtureHeads": (lambda: MixtureHeads(3, hidden_dim=8), (2, 12)),
    "BatchNormalization": (lambda: layers.BatchNormalization(momentum=0.9, epsilon=1e-5), MAPS),
    "ChannelPad": (lambda: ChannelPad(12), MAPS),
    "ReflectPad2D": (lambda: ReflectPad2D(2), MAPS),
    "ResNet": (lambda: ResNet(depth=18, width_multiplier=0.125, input_shape=(32, 32, 3)), IMAGES),
    "AMDIMEncoder": (lambda: AMDIMEncoder(ndf=8, n_rkhs=32, n_depth=1), IMAGES),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_and_keras_file_round_trip(name, tmp_path):
    make, shape = CASES[name]
    keras.utils.set_random_seed(0)
    inputs = np.random.default_rng(0).uniform(0, 1, shape).astype("float32")
    run_serialization_test(make(), inputs, tmp_path)


def _transforms(transform):
    """`transform` and the transforms inside it (a multi-view transform's, a rotation's base)."""
    yield transform
    inner = list(getattr(transform, "transforms", ())) + [getattr(transform, "base", None)]
    for t in filter(None, inner):
        yield from _transforms(t)


# Every registered transform, as some packaged recipe builds its views (those whose views read
# their data set, not here, are left out; the completeness test says if that loses a class).
TRANSFORMS = {}
for _recipe in recipe_names():
    _config = load_recipe(_recipe)
    try:
        _views = registry.get(_config.method).views(_config)
    except ValueError:
        continue
    for _t in _transforms(_views):
        TRANSFORMS.setdefault(type(_t).__name__, (_t, _config.data.image_size))
# Colorization's bins come from its data set's colours (absent at collection in CI): 6 here.
TRANSFORMS.setdefault("ColorizationTransform", (augment.ColorizationTransform(
    [[0.0, 0.0], [20.0, -10.0], [-30.0, 40.0], [10.0, 10.0], [-10.0, -20.0], [40.0, 0.0]]), 32))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_config_round_trip_draws_the_same_views(name):
    transform, size = TRANSFORMS[name]
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(transform))))
    assert type(restored) is type(transform)
    assert restored.get_config() == transform.get_config()
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (2, size, size, 3)), tf.uint8)
    seed = tf.constant([1, 2])
    for a, b in zip(tf.nest.flatten(transform(images, seed)),
                    tf.nest.flatten(restored(images, seed)), strict=True):
        np.testing.assert_array_equal(a, b)


# Registered classes whose round trip is another test's: (file, test).
ELSEWHERE = {
    "FeatureQueue": ("test_momentum_methods.py",
                     "test_methods_survive_keras_save_and_load_with_their_state"),
    "MomentumNetwork": ("test_momentum_methods.py",
                        "test_methods_survive_keras_save_and_load_with_their_state"),
    "LARS": ("test_optim.py", "test_lars_state_survives_model_save_and_load"),
    "WarmupCosineDecay": ("test_optim.py", "test_warmup_cosine_decay_config_and_validation"),
    **{cls.__name__: ("test_registry.py",
                      "test_after_fit_the_model_is_its_encoder_and_saves_loads_and_exports")
       for cls in (registry.get(m).method_class for m in registry.names())},
}


def test_every_registered_class_has_a_round_trip():
    """A class registered for `.keras` files (`register_keras_serializable(package="keras_ssl")`)
    has one: here, or in the test named in ELSEWHERE."""
    registered = {key.split(">", 1)[1] for key in keras.saving.get_custom_objects()
                  if key.startswith("keras_ssl>")}
    covered = set(CASES) | set(TRANSFORMS) | set(ELSEWHERE)
    assert registered - covered == set(), "registered, with no round trip"
    assert covered - registered == set(), "not registered"
    tests = Path(__file__).parent
    for name, (file, test) in ELSEWHERE.items():
        assert f"def {test}(" in (tests / file).read_text(), (name, file, test)


ENCODERS = {
    "ResNet": lambda dtype: ResNet(depth=18, width_multiplier=0.125, input_shape=(32, 32, 3),
                                   dtype=dtype),
    "AMDIMEncoder": lambda dtype: AMDIMEncoder(ndf=8, n_rkhs=32, n_depth=1, dtype=dtype),
}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoders_carry_their_dtype_policy_through_config_and_keras_file(name, tmp_path):
    """An encoder built with `dtype` computes in it whatever the global policy, and its config
    (and so a `.keras` file) gives the same policy back."""
    keras.utils.set_random_seed(0)
    encoder = ENCODERS[name]("mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"
    copy = type(encoder).from_config(encoder.get_config())
    for model in (encoder, copy):
        assert model.dtype_policy.name == "mixed_bfloat16"
        assert {layer.dtype_policy.name for layer in model.layers[1:]} == {"mixed_bfloat16"}
    inputs = np.random.default_rng(0).uniform(0, 1, IMAGES).astype("float32")
    assert encoder(inputs).dtype == "bfloat16"
    run_serialization_test(encoder, inputs, tmp_path)


# Where these layers lived when `.keras` files were first saved with them (issue 23 moved them to
# keras_ssl.layers); Keras finds a class by its registered name before its module.
MOVED = {
    "LightnessInput": ("keras_ssl.augment.lab", lambda: layers.LightnessInput()),
    "StandardizedInput": ("keras_ssl.augment.tiles", lambda: layers.StandardizedInput()),
    "MomentumNetwork": ("keras_ssl.momentum",
                        lambda: layers.MomentumNetwork([keras.layers.Dense(4, name="dense")])),
}


@pytest.mark.parametrize("name", sorted(MOVED))
def test_keras_file_saved_before_the_move_loads(name, tmp_path):
    old_module, make = MOVED[name]
    inputs = np.random.default_rng(0).uniform(0, 1, IMAGES).astype("float32")
    x = keras.Input(IMAGES[1:])
    model = keras.Model(x, make()(x))
    expected = keras.ops.convert_to_numpy(model(inputs))
    new, old = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(new)
    with zipfile.ZipFile(new) as source, zipfile.ZipFile(old, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                layer = next(l for l in config["config"]["layers"] if l["class_name"] == name)
                assert layer["module"].startswith("keras_ssl.layers.")
                assert layer["registered_name"] == f"keras_ssl>{name}"
                layer["module"] = old_module
                data = json.dumps(config)
            target.writestr(item, data)
    loaded = keras.models.load_model(old)
    assert type(loaded.layers[-1]) is type(model.layers[-1])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs)), expected, atol=1e-6)


# The sequential heads' variables as they were before they shared `heads.SequentialHead` (issue
# 23): path and shape in order (what TrainingCheckpoint relies on, it saves a list of variables)
# and the weights file inside `.keras` (Keras stores them by attribute path), for CASES' configs.
HEAD_LAYOUTS = {
    "MLPHead": (
        [("dense0/kernel", (12, 16)), ("bn0/gamma", (16,)), ("bn0/beta", (16,)),
         ("bn0/moving_mean", (16,)), ("bn0/moving_variance", (16,)),
         ("output/kernel", (16, 8)), ("output/bias", (8,))],
        [("mlp_head/hidden/batch_normalization", 4), ("mlp_head/hidden/dense", 1),
         ("mlp_head/out", 2)]),
    "DecoderHead": (
        [("upconv0/kernel", (4, 4, 8, 8)), ("bn0/gamma", (8,)), ("bn0/beta", (8,)),
         ("bn0/moving_mean", (8,)), ("bn0/moving_variance", (8,)),
         ("upconv1/kernel", (4, 4, 4, 8)), ("bn1/gamma", (4,)), ("bn1/beta", (4,)),
         ("bn1/moving_mean", (4,)), ("bn1/moving_variance", (4,)),
         ("output/kernel", (3, 3, 4, 3)), ("output/bias", (3,))],
        [("decoder_head/blocks/batch_normalization", 4),
         ("decoder_head/blocks/batch_normalization_1", 4),
         ("decoder_head/blocks/conv2d_transpose", 1),
         ("decoder_head/blocks/conv2d_transpose_1", 1), ("decoder_head/out", 2)]),
    "PatchDiscriminator": (
        [("conv0/kernel", (4, 4, 3, 4)), ("conv0/bias", (4,)), ("conv1/kernel", (4, 4, 4, 8)),
         ("bn1/gamma", (8,)), ("bn1/beta", (8,)), ("bn1/moving_mean", (8,)),
         ("bn1/moving_variance", (8,)), ("output/kernel", (128, 1)), ("output/bias", (1,))],
        [("patch_discriminator/blocks/batch_normalization", 4),
         ("patch_discriminator/blocks/conv2d", 2), ("patch_discriminator/blocks/conv2d_1", 1),
         ("patch_discriminator/out", 2)]),
}


@pytest.mark.parametrize("name", sorted(HEAD_LAYOUTS))
def test_sequential_heads_keep_their_variables_and_saved_layout(name, tmp_path):
    make, shape = CASES[name]
    head = make()
    head.build(shape)
    variables, saved = HEAD_LAYOUTS[name]
    prefix = head.name + "/"
    assert [(w.path.removeprefix(prefix), tuple(w.shape)) for w in head.weights] == variables
    x = keras.Input(shape[1:])
    keras.Model(x, head(x)).save(tmp_path / "head.keras")
    with zipfile.ZipFile(tmp_path / "head.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    found = []  # (group, number of variables) of every layer that has variables
    weights["layers"].visititems(lambda path, item: found.append(
        (path.removesuffix("/vars"), len(item))) if path.endswith("/vars") and len(item) else None)
    assert found == saved
