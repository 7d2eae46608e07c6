"""Features of any layer (issue 22): the pooling against NumPy float64, the named layers through a
wrapping chain, and equal per-layer features from the in-process, the `.keras`-loaded and the
exported encoder; `keras-ssl eval --layers` and `keras-ssl export --layers` end to end."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import run_cli
from keras_ssl import evaluation
from keras_ssl.layers import StandardizedInput
from keras_ssl.encoders import POOLED, ResNet, feature_layers, feature_maps_model
from keras_ssl.evaluation import (LayerFeatures, SavedModelEncoder, adaptive_average_pool,
                                  extract_features, pooling_grid, standardize)
from keras_ssl.export import export_encoder


def _numpy_adaptive_pool(maps, rows, cols):
    """PyTorch's AdaptiveAvgPool2d bins, in float64, by loops."""
    maps = np.asarray(maps, np.float64)
    _, h, w, c = maps.shape
    out = np.zeros((len(maps), rows, cols, c))
    for i in range(rows):
        for j in range(cols):
            r0, r1 = (i * h) // rows, -(-((i + 1) * h) // rows)
            c0, c1 = (j * w) // cols, -(-((j + 1) * w) // cols)
            out[:, i, j] = maps[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("shape, grid", [((7, 5), (3, 2)), ((8, 8), (3, 3)), ((6, 6), (2, 3)),
                                         ((4, 4), (4, 4)), ((5, 9), (1, 1))])
def test_adaptive_average_pool_equals_numpy_float64(shape, grid):
    maps = np.random.default_rng(0).standard_normal((3, *shape, 4)).astype(np.float32)
    pooled = adaptive_average_pool(tf.constant(maps), grid).numpy()
    np.testing.assert_allclose(pooled, _numpy_adaptive_pool(maps, *grid), atol=1e-6)


def test_adaptive_pool_of_a_hand_computed_case():
    # 3 columns into 2 bins: [0, 2) and [1, 3) (the middle column is in both).
    maps = np.array([1.0, 2.0, 6.0], np.float32).reshape(1, 1, 3, 1)
    np.testing.assert_allclose(adaptive_average_pool(tf.constant(maps), (1, 2)).numpy().ravel(),
                               [1.5, 4.0])


@pytest.mark.parametrize("map_shape, max_dims, grid", [
    ((8, 8, 1024), 9216, (3, 3)),     # Goyal et al.: 1024 channels over 3 x 3
    ((4, 4, 2048), 9216, (2, 2)),     # 2048 over 2 x 2 = 8192
    ((16, 16, 16), 9216, (16, 16)),   # 24 x 24 x 16 fits: the whole 16 x 16 map is kept
    ((32, 32, 16), 9216, (24, 24)),
    ((7, 7, 128), 2048, (4, 4)),
    ((2, 2, 20000), 9216, (1, 1)),    # more channels than max_dims: global average
])
def test_pooling_grid(map_shape, max_dims, grid):
    assert pooling_grid(*map_shape, max_dims) == grid


def test_standardize_uses_the_train_statistics_in_float64():
    rng = np.random.default_rng(1)
    train, test = rng.normal(3.0, 2.0, (50, 4)), rng.normal(0.0, 1.0, (20, 4))
    train[:, 2] = 7.0  # constant: left unscaled
    a, b = standardize(train, test)
    mean, std = train.mean(0), train.std(0)
    std[2] = 1.0
    np.testing.assert_allclose(a, (train - mean) / std, atol=1e-5)
    np.testing.assert_allclose(b, (test - mean) / std, atol=1e-5)
    assert a.dtype == b.dtype == np.float32


def _encoder():
    keras.utils.set_random_seed(3)
    encoder = ResNet(depth=18, stem="cifar", stem_stride=2, width_multiplier=0.125,
                     input_shape=(32, 32, 3))
    # Moving statistics away from their initial values, so inference mode is not the identity.
    for v in encoder.non_trainable_variables:
        v.assign(np.random.default_rng(4).uniform(0.5, 1.5, v.shape).astype(np.float32))
    return encoder


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(5).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)


def test_layer_features_are_the_pooled_flattened_maps(images):
    encoder = _encoder()
    features = extract_features(LayerFeatures(encoder, ["stage1", "stage3", POOLED], 256), images)
    x = images.astype(np.float32) / 255.0
    stage1, stage3 = (encoder.feature_maps(stages=(s,))(x, training=False).numpy() for s in (1, 3))
    # stage1: 16 x 16 x 8 -> a 5 x 5 grid (5 * 5 * 8 = 200 <= 256); stage3: 4 x 4 x 32 -> 2 x 2.
    expected1 = _numpy_adaptive_pool(stage1, 5, 5).reshape(len(x), -1)
    expected3 = _numpy_adaptive_pool(stage3, 2, 2).reshape(len(x), -1)
    np.testing.assert_allclose(features["stage1"], expected1, atol=1e-5)
    np.testing.assert_allclose(features["stage3"], expected3, atol=1e-5)
    np.testing.assert_allclose(features[POOLED], encoder.predict(x, verbose=0), atol=1e-5)


def test_named_layers_are_found_through_a_wrapping_chain(images):
    inner = _encoder()
    inputs = keras.Input((32, 32, 3))
    wrapper = keras.Model(inputs, inner(StandardizedInput()(inputs)), name="wrapper")
    assert feature_layers(wrapper) == ["stage1", "stage2", "stage3", "stage4", POOLED]
    x = images.astype(np.float32) / 255.0
    stage2, pooled = feature_maps_model(wrapper, ["stage2", POOLED])(x)
    standardized = StandardizedInput()(x)
    np.testing.assert_allclose(stage2, inner.feature_maps(stages=(2,))(standardized), atol=1e-5)
    np.testing.assert_allclose(pooled, wrapper(x), atol=1e-5)
    with pytest.raises(ValueError, match=r"no feature layers \['stage9'\].*stage1"):
        feature_maps_model(wrapper, ["stage9"])


def test_keras_loaded_and_exported_encoders_give_the_same_layer_features(images, tmp_path):
    encoder = _encoder()
    names = ["stage2", "stage4", POOLED]
    reference = extract_features(LayerFeatures(encoder, names), images)
    encoder.save(tmp_path / "encoder.keras")
    loaded = keras.models.load_model(tmp_path / "encoder.keras")
    exported = export_encoder(encoder, str(tmp_path / "export"), 32, layers=["stage2", "stage4"])
    saved = SavedModelEncoder(exported)
    assert saved.layers == ["stage2", "stage4"]
    for other in (loaded, saved):
        features = extract_features(LayerFeatures(other, names), images)
        for name in names:
            np.testing.assert_allclose(features[name], reference[name], atol=1e-5)
    with pytest.raises(ValueError, match=r"no feature layers \['stage1'\].*--layers=stage1"):
        LayerFeatures(saved, ["stage1"])


def test_exported_layer_signature_serves_the_feature_map_at_any_size(images, tmp_path):
    encoder = _encoder()
    path = export_encoder(encoder, str(tmp_path / "export"), 32, layers=["stage3"])
    served = tf.saved_model.load(path).signatures["layer_stage3"]
    maps = served(images=tf.constant(images))["feature_map"].numpy()
    x = images.astype(np.float32) / 255.0
    np.testing.assert_allclose(maps, encoder.feature_maps(stages=(3,))(x), atol=1e-5)
    bigger = tf.image.resize(images, (48, 48), antialias=True)
    resized = served(images=tf.cast(tf.round(bigger), tf.uint8))["feature_map"]
    assert resized.shape == maps.shape  # resized to 32 x 32 first, as serving_default does


@pytest.fixture(scope="module")
def workdir(tiny_cifar10, tmp_path_factory):
    path = tmp_path_factory.mktemp("layers") / "run"
    result = run_cli("train", "--config=rotnet_cifar10",
                        f"--workdir={path}", f"--config.data.source=folder:{tiny_cifar10}",
                        "--config.encoder.width_multiplier=0.125", "--config.train.batch_size=16",
                        "--config.train.epochs=1", "--config.train.warmup_epochs=0.0")
    assert result.returncode == 0, result.stderr[-3000:]
    return path


def test_eval_by_layer_keeps_the_pooled_keys_and_adds_each_layers(workdir, tmp_path):
    plain = run_cli("eval", f"--workdir={workdir}", f"--output_dir={tmp_path / 'plain'}",
                       "--random_init=knn,linear")
    by_layer = run_cli("eval", f"--workdir={workdir}", f"--output_dir={tmp_path / 'layers'}",
                          "--layers=stage2,pooled", "--random_init=knn,linear", "--layer_dims=512",
                          "--protocol=knn,linear,nonlinear,conv", "--map_epochs=2")
    assert plain.returncode == 0 and by_layer.returncode == 0, by_layer.stderr[-3000:]
    before = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    after = json.loads((tmp_path / "layers" / "metrics.json").read_text())
    for key in ("knn_top1", "linear_top1", "random_init_knn_top1", "headline"):
        assert after[key] == before[key], key
    layers = after["layers"]
    assert layers["layers"] == ["stage2", "pooled"] and layers["max_dims"] == 512
    trained, random = layers["results"]["encoder"], layers["results"]["random_init"]
    # stage2 of the 1/8-width ResNet at 32 (stride-1 stem): 16 x 16 x 16 -> 5 x 5 x 16 = 400.
    assert trained["stage2"]["linear"]["feature_dim"] == 400
    assert trained["pooled"]["knn"]["feature_dim"] == 64
    assert set(random) == {"stage2", "pooled"} and "linear" in random["stage2"]
    # RotNet's classifiers read the maps of the named layers, not the pooled output.
    assert trained["stage2"]["conv"]["protocol"] == "rotnet_conv"
    assert trained["stage2"]["nonlinear"]["map_shape"] == [16, 16, 16]
    assert "conv" not in trained["pooled"] and "conv" not in after["protocols"]
    best = layers["best"]["knn"]
    assert best["top1"] == max(trained[n]["knn"]["top1"] for n in ("stage2", "pooled"))
    assert (tmp_path / "layers" / "layers.png").stat().st_size > 0
    assert "trained encoder, stage2" in (tmp_path / "layers" / "report.md").read_text()


def test_unknown_layers_and_map_protocols_without_layers_are_refused(workdir, tmp_path):
    result = run_cli("eval", f"--workdir={workdir}", f"--output_dir={tmp_path}",
                        "--layers=stage7")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--layers names ['stage7']" in result.stderr and "stage1,stage2" in result.stderr
    result = run_cli("eval", f"--workdir={workdir}", f"--output_dir={tmp_path}",
                        "--protocol=conv")
    assert result.returncode == 2 and "--layers" in result.stderr
    result = run_cli("export", f"--workdir={workdir}", f"--output={tmp_path / 'e'}",
                        "--layers=stage7")
    assert result.returncode == 2 and "no feature layers ['stage7']" in result.stderr


def test_the_evaluation_api_exports_the_layer_tools():
    assert evaluation.DEFAULT_MAX_DIMS == 9216
    assert evaluation.available_layers(_encoder())[-1] == POOLED
