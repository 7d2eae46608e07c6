"""Tests for RotNet's classifiers on frozen feature maps (Gidaris et al. 2018, section 4.1):
the architectures, initialisation, weight decay and learning-rate tables against the authors'
code (gidariss/FeatureLearningRotNet), learning from spatial layout alone, and input checks."""

import keras
import numpy as np
import pytest

from keras_ssl.evaluation import conv_classifier, nonlinear_classifier
from keras_ssl.evaluation.block_classifiers import (CONV_LR_TABLE, NONLINEAR_LR_TABLE,
                                                    conv_classifier_model, learning_rate_schedule,
                                                    nonlinear_classifier_model)


# --- architectures -----------------------------------------------------------------------------

def _layer_summary(model):
    return [(type(layer).__name__, getattr(layer, "units", None) or getattr(layer, "filters", None),
             getattr(layer, "kernel_size", None), getattr(layer, "use_bias", None))
            for layer in model.layers]


def test_nonlinear_classifier_is_the_authors_multlayer():
    h, w, c, k = 8, 8, 32, 10
    model = nonlinear_classifier_model((h, w, c), k)
    f = 200  # min(20 * 10, 2048)
    bn, relu = ("BatchNormalization", None, None, None), ("ReLU", None, None, None)
    assert _layer_summary(model) == [
        ("Flatten", None, None, None),
        ("Dense", f, None, False), bn, relu,
        ("Dense", f, None, False), bn, relu,
        ("Dense", k, None, True),
    ]
    # Hand count: two bias-free hidden layers, batch norm with 2 trainable + 2 moving
    # statistics per feature, a biased output layer.
    assert model.count_params() == h * w * c * f + 4 * f + f * f + 4 * f + f * k + k
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == h * w * c * f + 2 * f + f * f + 2 * f + f * k + k
    assert model.output_shape == (None, k)
    # The width is capped at 2048 (ImageNet's 1000 classes) and is 20 K below that.
    assert nonlinear_classifier_model((2, 2, 4), 1000).layers[1].units == 2048
    assert nonlinear_classifier_model((2, 2, 4), 7).layers[1].units == 140


def test_conv_classifier_is_the_authors_nin_conv_block3():
    h, w, c, k = 8, 8, 32, 10
    model = conv_classifier_model((h, w, c), k)
    bn, relu = ("BatchNormalization", None, None, None), ("ReLU", None, None, None)
    assert _layer_summary(model) == [
        ("Conv2D", 192, (3, 3), False), bn, relu,
        ("Conv2D", 192, (1, 1), False), bn, relu,
        ("Conv2D", 192, (1, 1), False), bn, relu,
        ("GlobalAveragePooling2D", None, None, None),
        ("Dense", k, None, True),
    ]
    assert all(layer.padding == "same" for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D))
    assert model.count_params() == (9 * c * 192 + 4 * 192 + 2 * (192 * 192 + 4 * 192)
                                    + 192 * k + k)
    assert model.output_shape == (None, k)
    # Non-square maps are accepted (the authors' pooling asserts square ones).
    assert conv_classifier_model((4, 6, 3), 5)(np.zeros((2, 4, 6, 3), "float32")).shape == (2, 5)


def test_initialisation_and_batch_norm_follow_the_authors():
    model = nonlinear_classifier_model((8, 8, 32), 10, seed=0)
    first = model.get_layer("linear_1").kernel.numpy()  # [2048, 200]: N(0, 2 / fan_out = 2 / 200)
    assert abs(first.mean()) < 0.002 and abs(first.std() - np.sqrt(2 / 200)) < 0.002
    logits = model.get_layer("logits")
    assert abs(logits.kernel.numpy().std() - np.sqrt(2 / 10)) < 0.03
    assert not logits.bias.numpy().any()
    conv = conv_classifier_model((8, 8, 32), 10, seed=0).get_layer("conv_1").kernel.numpy()
    assert abs(conv.std() - np.sqrt(2 / (3 * 3 * 192))) < 0.001  # fan_out = k * k * out
    norm = model.get_layer("batch_norm_1")
    assert norm.momentum == 0.9 and norm.epsilon == 1e-5  # PyTorch's momentum 0.1, eps 1e-5
    # Seeded: equal seeds give equal weights, another seed others.
    again = nonlinear_classifier_model((8, 8, 32), 10, seed=0).get_layer("linear_1").kernel
    other = nonlinear_classifier_model((8, 8, 32), 10, seed=1).get_layer("linear_1").kernel
    np.testing.assert_array_equal(first, again.numpy())
    assert not np.allclose(first, other.numpy())


@pytest.mark.parametrize("build", [nonlinear_classifier_model, conv_classifier_model])
def test_weight_decay_is_pytorchs_on_every_parameter(build):
    # PyTorch's SGD(weight_decay=5e-4) adds 5e-4 * p to every parameter's gradient: the loss
    # must carry 5e-4 / 2 * ||p||^2 summed over all trainable variables, biases and batch-norm
    # scales / offsets included.
    model = build((4, 4, 8), 10, seed=0)
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:  # batch-norm offsets start at 0: set them all
        variable.assign(rng.standard_normal(variable.shape).astype("float32"))
    expected = 5e-4 / 2 * sum(float(np.sum(v.numpy().astype(np.float64) ** 2))
                              for v in model.trainable_variables)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    penalised = sum(1 for layer in model.layers for name in (
        "kernel_regularizer", "bias_regularizer", "gamma_regularizer", "beta_regularizer")
        if getattr(layer, name, None) is not None)
    assert penalised == len(model.trainable_variables)


# --- learning-rate tables ----------------------------------------------------------------------

def _lr(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_learning_rates_at_the_authors_100_epochs():
    spe = 391  # CIFAR-10: ceil(50000 / 128)
    nonlinear, table = learning_rate_schedule(NONLINEAR_LR_TABLE, 100, spe)
    # Epochs 0-19: 0.1, 20-39: 0.02, 40-44: 0.004, 45-99: 0.0008 (the config runs 100 epochs and
    # Algorithm.adjust_learning_rates keeps the last rate once the table, ending at 50, runs out).
    assert table == [[0, 0.1], [7820, 0.02], [15640, 0.004], [17595, 0.0008]]
    assert _lr(nonlinear, [0, 7819, 7820, 15639, 15640, 17594, 17595, 19550, 39099]) == \
        pytest.approx([0.1, 0.1, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008, 0.0008])
    conv, table = learning_rate_schedule(CONV_LR_TABLE, 100, spe)
    assert table == [[0, 0.1], [13685, 0.02], [27370, 0.004], [33235, 0.0008]]
    assert _lr(conv, [0, 13684, 13685, 27369, 27370, 33234, 33235, 39099]) == \
        pytest.approx([0.1, 0.1, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008])


def test_learning_rates_equal_the_authors_per_epoch_lookup_at_every_step():
    def authors(epoch, lut):  # algorithms/Algorithm.py, adjust_learning_rates
        return next((lr for end, lr in lut if end > epoch), lut[-1][1])

    spe = 3
    for lut in (NONLINEAR_LR_TABLE, CONV_LR_TABLE):
        schedule, _ = learning_rate_schedule(lut, 100, spe)
        steps = np.arange(100 * spe)
        np.testing.assert_allclose(np.asarray(schedule(steps)),
                                   [authors(step // spe, lut) for step in steps], rtol=1e-6)


def test_fewer_epochs_compress_the_table_proportionally():
    # 10 epochs of 10 steps = 100 steps, so the start epochs of the 100-epoch table are steps.
    schedule, table = learning_rate_schedule(NONLINEAR_LR_TABLE, 10, 10)
    assert [start for start, _ in table] == [0, 20, 40, 45]
    assert _lr(schedule, [19, 20, 39, 40, 44, 45, 99]) == \
        pytest.approx([0.1, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008])
    schedule, table = learning_rate_schedule(CONV_LR_TABLE, 10, 10)
    assert [start for start, _ in table] == [0, 35, 70, 85]
    assert _lr(schedule, [34, 35, 69, 70, 84, 85]) == \
        pytest.approx([0.1, 0.02, 0.02, 0.004, 0.004, 0.0008])
    # 5 epochs of 7 steps = 35 steps: floor(e * 35 / 100).
    _, table = learning_rate_schedule(CONV_LR_TABLE, 5, 7)
    assert [start for start, _ in table] == [0, 12, 24, 29]


# --- learning from the spatial layout ----------------------------------------------------------

def _pair_direction_maps(num, seed):
    """6x6x3 maps: a spot on channel 0, its partner on channel 1 one step right / down / left /
    up (the class), channel 2 and everything else noise. Every clean map holds one 3 on each of
    channels 0 and 1, so pooled features say nothing of the class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), num // 4)
    rng.shuffle(labels)
    offsets = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)])[labels]
    row = rng.integers(1, 5, num)
    col = rng.integers(1, 5, num)
    clean = np.zeros((num, 6, 6, 3), np.float32)
    clean[np.arange(num), row, col, 0] = 3
    clean[np.arange(num), row + offsets[:, 0], col + offsets[:, 1], 1] = 3
    return clean, labels, rng


def test_both_classifiers_learn_what_only_the_spatial_layout_tells():
    clean, labels, rng = _pair_direction_maps(1600, seed=0)
    assert (clean.sum(axis=(1, 2)) == [3, 3, 0]).all()  # pooled maps: identical for every class
    assert np.bincount(labels).tolist() == [400] * 4  # balanced: chance is 1 / 4
    maps = clean + 0.2 * rng.standard_normal(clean.shape).astype(np.float32)
    args = (maps[:1200], labels[:1200], maps[1200:], labels[1200:], 4)
    for fit in (nonlinear_classifier, conv_classifier):
        result = fit(*args, epochs=4, batch_size=64)
        assert result["top1"] > 0.9, (fit.__name__, result["top1"])
        assert result["top5_k"] == 4 and result["top5"] == 1.0
    assert result["protocol"] == "rotnet_conv" and result["num_test"] == 400


def test_results_are_json_ready_seeded_and_float32_under_mixed_precision():
    import json
    clean, labels, rng = _pair_direction_maps(256, seed=1)
    maps = clean + 0.5 * rng.standard_normal(clean.shape).astype(np.float32)
    args = (maps[:192], labels[:192], maps[192:], labels[192:], 4)
    result = nonlinear_classifier(*args, epochs=2, batch_size=32, seed=5)
    assert json.loads(json.dumps(result)) == result
    assert result["protocol"] == "rotnet_nonlinear" and result["hidden_dims"] == [80, 80]
    assert result["epochs"] == 2 and result["authors_epochs"] == 100
    assert result["steps_per_epoch"] == 6 and result["batch_size"] == 32
    assert result["learning_rate_table"] == [[0, 0.1], [2, 0.02], [4, 0.004], [5, 0.0008]]
    assert result["authors_learning_rate_table"] == [[20, 0.1], [40, 0.02], [45, 0.004],
                                                     [50, 0.0008]]
    assert (result["optimizer"], result["momentum"], result["nesterov"],
            result["weight_decay"]) == ("sgd", 0.9, True, 5e-4)
    assert result["map_shape"] == [6, 6, 3] and result["num_train"] == 192
    assert result["seed"] == 5 and result["num_classes"] == 4
    assert nonlinear_classifier(*args, epochs=2, batch_size=32, seed=5) == result
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        assert nonlinear_classifier(*args, epochs=2, batch_size=32, seed=5) == result
    finally:
        keras.mixed_precision.set_global_policy("float32")


# --- bad inputs --------------------------------------------------------------------------------

def test_bad_inputs_raise_value_errors_naming_the_problem():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((10, 4, 4, 2)).astype(np.float32)
    labels = np.arange(10) % 2
    with pytest.raises(ValueError, match=r"`train_maps` must have shape \[N, h, w, C\].*pooled"):
        conv_classifier(maps.mean(axis=(1, 2)), labels, maps, labels, 2)
    with pytest.raises(ValueError, match=r"`test_maps` must have shape \[N, h, w, C\]"):
        nonlinear_classifier(maps, labels, maps[..., 0], labels, 2)
    with pytest.raises(ValueError, match="`train_labels` has 9 entries but .* 10 rows"):
        nonlinear_classifier(maps, labels[:9], maps, labels, 2)
    with pytest.raises(ValueError, match="`test_maps` has maps of shape .* same layer"):
        conv_classifier(maps, labels, maps[:, :2], labels, 2)
    with pytest.raises(ValueError, match=r"`test_labels` values must lie in \[0, num_classes=2\)"):
        conv_classifier(maps, labels, maps, labels + 1, 2)
    with pytest.raises(ValueError, match="`epochs` must be a positive integer"):
        conv_classifier(maps, labels, maps, labels, 2, epochs=0)
    bad = maps.copy()
    bad[3, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="`train_maps` contains NaN"):
        nonlinear_classifier(bad, labels, maps, labels, 2)
