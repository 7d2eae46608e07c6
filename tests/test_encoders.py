"""Tests for keras_ssl.encoders.ResNet and keras_ssl.heads.MLPHead."""

import keras
import numpy as np
import pytest

from keras_ssl.encoders import ResNet, ResNet18, ResNet34, ResNet50
from keras_ssl.heads import MLPHead

BUILDERS = {18: ResNet18, 34: ResNet34, 50: ResNet50}


def _randomize(model, seed=0):
    """Give every weight (BN statistics included) a random value, so a round trip that loses or
    misplaces any weight changes the output."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        value = 0.2 * rng.normal(size=v.shape)
        if "moving_variance" in v.path or "gamma" in v.path:
            value = 1.0 + np.abs(value)
        v.assign(value.astype(np.float32))


def _trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


@pytest.mark.parametrize("depth", [18, 34, 50])
@pytest.mark.parametrize("stem,side,stage1_side", [("cifar", 32, 32), ("imagenet", 64, 16)])
def test_resnet_shapes(depth, stem, side, stage1_side):
    width = 0.25
    encoder = BUILDERS[depth](stem=stem, width_multiplier=width, input_shape=(side, side, 3))
    expansion = 4 if depth == 50 else 1
    assert encoder.output_dim == (2048 if depth == 50 else 512) * width
    x = np.random.default_rng(0).uniform(size=(2, side, side, 3)).astype(np.float32)
    features = encoder(x, training=False)
    assert features.shape == (2, encoder.output_dim)

    maps = encoder.feature_maps()(x, training=False)
    expected = [(2, stage1_side // 2 ** i, stage1_side // 2 ** i, int(64 * 2 ** i * width) * expansion)
                for i in range(4)]
    assert [tuple(m.shape) for m in maps] == expected
    # feature_maps shares the encoder's weights: pooling stage 4 gives the encoder's features.
    np.testing.assert_allclose(np.mean(maps[3], axis=(1, 2)), features, rtol=1e-5, atol=1e-6)
    only = encoder.feature_maps(stages=(2,))(x, training=False)
    np.testing.assert_allclose(only, maps[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("depth,stem,expected", [
    # torchvision's resnet18/34/50 parameter counts (11,689,512 / 21,797,672 / 25,557,032) minus the
    # 1000-way fc layer (512 * 1000 + 1000 or 2048 * 1000 + 1000).
    (18, "imagenet", 11_689_512 - 513_000),
    (34, "imagenet", 21_797_672 - 513_000),
    (50, "imagenet", 25_557_032 - 2_049_000),
    # The CIFAR stem replaces the 7x7x3x64 convolution by a 3x3x3x64 one.
    (18, "cifar", 11_689_512 - 513_000 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64),
])
def test_resnet_full_width_matches_the_reference_architecture(depth, stem, expected):
    encoder = ResNet(depth=depth, stem=stem)
    assert _trainable_count(encoder) == expected
    assert encoder.output_dim == (2048 if depth == 50 else 512)


def test_resnet_stem_stride_two_halves_the_cifar_stem():
    encoder = ResNet18(stem="cifar", stem_stride=2, width_multiplier=0.25, input_shape=(32, 32, 3))
    maps = encoder.feature_maps(stages=(1,))(np.zeros((1, 32, 32, 3), np.float32))
    assert tuple(maps.shape) == (1, 16, 16, 16)
    assert ResNet.from_config(encoder.get_config()).stem_stride == 2
    assert ResNet18(stem="imagenet", width_multiplier=0.25).stem_stride == 2


def test_resnet_any_input_size_by_default():
    encoder = ResNet18(width_multiplier=0.25)
    for side in (16, 40):
        assert encoder(np.zeros((1, side, side, 3), np.float32)).shape == (1, 128)


@pytest.mark.parametrize("depth,stem,side", [(18, "cifar", 32), (50, "imagenet", 48)])
def test_resnet_config_and_save_roundtrip(tmp_path, depth, stem, side):
    encoder = ResNet(depth=depth, stem=stem, width_multiplier=0.25, input_shape=(side, side, 3))
    _randomize(encoder)
    x = np.random.default_rng(1).uniform(size=(2, side, side, 3)).astype(np.float32)
    expected = encoder(x, training=False).numpy()

    clone = ResNet.from_config(encoder.get_config())
    clone.set_weights(encoder.get_weights())
    np.testing.assert_array_equal(clone(x, training=False), expected)

    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ResNet)
    assert (loaded.depth, loaded.stem, loaded.output_dim) == (depth, stem, encoder.output_dim)
    np.testing.assert_array_equal(loaded(x, training=False), expected)


def test_resnet_synchronized_bn_builds_and_serializes():
    encoder = ResNet18(width_multiplier=0.25, synchronized_bn=True, input_shape=(16, 16, 3))
    bns = [layer for layer in encoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(layer.synchronized for layer in bns)
    assert encoder(np.zeros((2, 16, 16, 3), np.float32), training=True).shape == (2, 128)
    assert ResNet.from_config(encoder.get_config()).synchronized_bn is True


@pytest.mark.parametrize("kwargs,match", [
    (dict(depth=101), "depth"),
    (dict(stem="cifar10"), "stem"),
    (dict(width_multiplier=0.0), "width_multiplier"),
    (dict(input_shape=(32, 32, 1)), "input_shape"),
    (dict(input_shape=(32, 32)), "input_shape"),
    (dict(stem_stride=3), "stem_stride"),
])
def test_resnet_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet(**kwargs)


def test_feature_maps_rejects_bad_stage():
    with pytest.raises(ValueError, match="stages"):
        ResNet18(width_multiplier=0.25).feature_maps(stages=(0, 2))


# ----------------------------------------------------------------------------------------- MLPHead

def test_mlp_head_without_batch_norm_matches_numpy():
    head = MLPHead(hidden_dims=(6, 5), output_dim=3, batch_norm=False)
    x = np.random.default_rng(2).normal(size=(4, 7)).astype(np.float32)
    out = head(x)
    assert out.shape == (4, 3) and head.compute_output_shape((None, 7)) == (None, 3)
    w = [v.numpy().astype(np.float64) for v in head.weights]  # kernel, bias per Dense, in order
    h = np.maximum(x @ w[0] + w[1], 0)
    h = np.maximum(h @ w[2] + w[3], 0)
    np.testing.assert_allclose(out, h @ w[4] + w[5], rtol=1e-5, atol=1e-6)


def test_mlp_head_with_batch_norm_matches_numpy_in_inference():
    head = MLPHead(hidden_dims=(6,), output_dim=3)
    x = np.random.default_rng(3).normal(size=(4, 7)).astype(np.float32)
    head(x)
    _randomize(head, seed=4)
    names = [v.path.split("/", 1)[1] for v in head.weights]
    w = {n: v.numpy().astype(np.float64) for n, v in zip(names, head.weights)}
    assert "dense0/bias" not in w  # batch norm follows, so the hidden layer has no bias
    h = x @ w["dense0/kernel"]
    h = (h - w["bn0/moving_mean"]) / np.sqrt(w["bn0/moving_variance"] + 1e-5) * w["bn0/gamma"] \
        + w["bn0/beta"]
    expected = np.maximum(h, 0) @ w["output/kernel"] + w["output/bias"]
    np.testing.assert_allclose(head(x, training=False), expected, rtol=1e-5, atol=1e-6)


def test_mlp_head_config_and_save_roundtrip(tmp_path):
    head = MLPHead(hidden_dims=(16,), output_dim=8, synchronized_bn=True, name="proj")
    config = head.get_config()
    assert (config["hidden_dims"], config["output_dim"], config["batch_norm"],
            config["synchronized_bn"]) == ((16,), 8, True, True)
    x = np.random.default_rng(5).normal(size=(4, 12)).astype(np.float32)
    head(x)
    _randomize(head)
    clone = MLPHead.from_config(config)
    clone(x)
    clone.set_weights(head.get_weights())
    np.testing.assert_array_equal(clone(x, training=False), head(x, training=False))

    inputs = keras.Input((12,))
    model = keras.Model(inputs, head(inputs))
    path = str(tmp_path / "head.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))
