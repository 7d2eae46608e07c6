"""Tests for keras_ssl.optim: LARS, WarmupCosineDecay, scale_learning_rate, per-group rates."""

import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_ssl.optim import (LARS, WarmupCosineDecay, hold_learning_rate, scale_learning_rate,
                             scale_learning_rate_of)


def _dense_and_bn():
    """A Dense(1 -> 2) layer (kernel and bias have 2 elements) and a BN(2)."""
    dense = keras.layers.Dense(2, name="dense")
    dense.build((None, 1))
    bn = keras.layers.BatchNormalization(name="bn")
    bn.build((None, 2))
    return dense, bn


def _apply(optimizer, grads, variables):
    optimizer.apply_gradients(
        [(np.asarray(g, "float32"), v) for g, v in zip(grads, variables)]
    )


def test_lars_two_steps_match_hand_computed_values():
    dense, bn = _dense_and_bn()
    kernel, bias, gamma = dense.kernel, dense.bias, bn.gamma
    assert (kernel.path, bias.path, gamma.path) == (
        "dense/kernel", "dense/bias", "bn/gamma")
    kernel.assign([[3.0, 4.0]])
    bias.assign([1.0, -2.0])
    gamma.assign([2.0, 0.5])
    opt = LARS(learning_rate=0.1, momentum=0.9, weight_decay=0.1, eta=0.06)
    variables = [kernel, bias, gamma]

    # Step 1, kernel: g' = g + 0.1 w = [0.3, -0.4] + [0.3, 0.4] = [0.6, 0];
    # trust = 0.06 * ||[3, 4]|| / 0.6 = 0.5; v = 0.1 * 0.5 * g' = [0.03, 0].
    # bias/gamma are excluded by default: v = 0.1 g, no decay, no trust.
    _apply(opt, [[[0.3, -0.4]], [0.5, 0.5], [0.2, -0.1]], variables)
    np.testing.assert_allclose(kernel.numpy(), [[2.97, 4.0]], atol=1e-6)
    np.testing.assert_allclose(bias.numpy(), [0.95, -2.05], atol=1e-6)
    np.testing.assert_allclose(gamma.numpy(), [1.98, 0.51], atol=1e-6)

    # Step 2, kernel: g' = [0, 0.3] + 0.1 * [2.97, 4] = [0.297, 0.7];
    # trust = 0.06 * sqrt(24.8209) / sqrt(0.578209) = 0.3931131658785354;
    # v = 0.9 * [0.03, 0] + 0.1 * trust * g' = [0.038675461027, 0.027517921611].
    # bias: v = 0.9 * [0.05, 0.05] + 0.1 * [-1, 0.25] = [-0.055, 0.07].
    # gamma: v = 0.9 * [0.02, -0.01] + 0.1 * [0.4, 0] = [0.058, -0.009].
    _apply(opt, [[[0.0, 0.3]], [-1.0, 0.25], [0.4, 0.0]], variables)
    np.testing.assert_allclose(
        kernel.numpy(), [[2.931324538973, 3.972482078389]], atol=1e-6)
    np.testing.assert_allclose(bias.numpy(), [1.005, -2.12], atol=1e-6)
    np.testing.assert_allclose(gamma.numpy(), [1.922, 0.519], atol=1e-6)


def _lars_reference(w, grads, lr, momentum, wd, eta, nesterov):
    """NumPy float64 LARS for one adapted, decayed variable."""
    w = np.asarray(w, np.float64)
    v = np.zeros_like(w)
    for g in grads:
        g = np.asarray(g, np.float64) + wd * w
        w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
        trust = eta * w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0
        v = momentum * v + lr * trust * g
        w = w - (momentum * v + lr * trust * g if nesterov else v)
    return w


def test_lars_nesterov_matches_numpy_reference():
    dense, _ = _dense_and_bn()
    dense.kernel.assign([[3.0, 4.0]])
    grads = [[[0.3, -0.4]], [[0.0, 0.3]], [[-0.2, 0.1]]]
    opt = LARS(0.1, momentum=0.9, weight_decay=0.1, eta=0.06, nesterov=True)
    for g in grads:
        _apply(opt, [g], [dense.kernel])
    expected = _lars_reference(
        [[3.0, 4.0]], grads, 0.1, 0.9, 0.1, 0.06, nesterov=True)
    np.testing.assert_allclose(dense.kernel.numpy(), expected, atol=1e-6)
    # Nesterov must differ from classic momentum, else the flag is ignored.
    classic = _lars_reference(
        [[3.0, 4.0]], grads, 0.1, 0.9, 0.1, 0.06, nesterov=False)
    assert np.abs(expected - classic).max() > 1e-3


def test_lars_trust_ratio_is_one_for_zero_weight_or_zero_gradient():
    dense, _ = _dense_and_bn()
    kernel = dense.kernel
    opt = LARS(learning_rate=0.1, momentum=0.9, eta=0.001)
    # Zero weights: trust ratio 1, so w = -lr * g (eta would give 0 instead).
    kernel.assign([[0.0, 0.0]])
    _apply(opt, [[[1.0, 2.0]]], [kernel])
    np.testing.assert_allclose(kernel.numpy(), [[-0.1, -0.2]], atol=1e-7)

    dense2, _ = _dense_and_bn()
    dense2.kernel.assign([[3.0, 4.0]])
    opt2 = LARS(learning_rate=0.1, momentum=0.9)
    # Zero gradient: no division by zero, weights unchanged and finite.
    _apply(opt2, [[[0.0, 0.0]]], [dense2.kernel])
    np.testing.assert_array_equal(dense2.kernel.numpy(), [[3.0, 4.0]])


def test_lars_custom_exclusions_and_empty_exclusions():
    dense, _ = _dense_and_bn()
    dense.bias.assign([3.0, 4.0])
    # [] excludes nothing: the bias is decayed and adapted.
    opt = LARS(0.1, momentum=0.0, weight_decay=0.1, eta=0.06,
               exclude_from_weight_decay=[])
    _apply(opt, [[0.3, -0.4]], [dense.bias])
    # Same numbers as the kernel's first step above.
    np.testing.assert_allclose(dense.bias.numpy(), [2.97, 4.0], atol=1e-6)

    dense2, _ = _dense_and_bn()
    dense2.kernel.assign([[3.0, 4.0]])
    opt2 = LARS(0.1, momentum=0.0, weight_decay=0.1, eta=0.06,
                exclude_from_weight_decay=[r"dense/kernel$"])
    _apply(opt2, [[[0.3, -0.4]]], [dense2.kernel])
    # Plain SGD: [3, 4] - 0.1 * [0.3, -0.4].
    np.testing.assert_allclose(dense2.kernel.numpy(), [[2.97, 4.04]],
                               atol=1e-6)


def test_lars_rejects_bad_arguments():
    with pytest.raises(ValueError, match="momentum"):
        LARS(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        LARS(0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match="list of regular expressions"):
        LARS(0.1, exclude_from_weight_decay="bias")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        LARS(0.1, exclude_from_layer_adaptation=["(unclosed"])


def test_lars_config_round_trip():
    schedule = WarmupCosineDecay(1.0, total_steps=100, warmup_steps=10)
    opt = LARS(schedule, momentum=0.8, weight_decay=1e-6, eta=0.002,
               nesterov=True, exclude_from_weight_decay=["bias"],
               exclude_from_layer_adaptation=["gamma", "beta"])
    config = opt.get_config()
    assert config["exclude_from_weight_decay"] == ["bias"]
    assert config["exclude_from_layer_adaptation"] == ["gamma", "beta"]
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(restored, LARS)
    assert restored.get_config() == config
    assert "WarmupCosineDecay" in str(config["learning_rate"])
    assert restored.momentum == 0.8 and restored.nesterov is True


def test_lars_state_survives_model_save_and_load(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, name="hidden"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Dense(1, name="out"),
    ])
    model.compile(optimizer=LARS(0.05, weight_decay=1e-4, eta=0.01),
                  loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "x.keras"
    model.save(path)
    loaded = keras.models.load_model(path)

    assert isinstance(loaded.optimizer, LARS)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    saved_state = [v.numpy() for v in model.optimizer.variables]
    loaded_state = [v.numpy() for v in loaded.optimizer.variables]
    assert len(saved_state) == len(loaded_state) > 2
    assert int(loaded.optimizer.iterations.numpy()) == 2
    for a, b in zip(saved_state, loaded_state):
        np.testing.assert_array_equal(a, b)
    # Velocities are non-zero, so the next step really depends on them.
    assert any(np.abs(s).max() > 0 for s in saved_state[2:])
    model.train_on_batch(x[:8], y[:8])
    loaded.train_on_batch(x[:8], y[:8])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


_MIRRORED_SCRIPT = textwrap.dedent("""
    import numpy as np, tensorflow as tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_ssl.optim import LARS

    def train(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = keras.Sequential([
                keras.Input((3,)), keras.layers.Dense(4, name="hidden"),
                keras.layers.Dense(1, name="out")])
            model.compile(
                optimizer=LARS(0.5, weight_decay=1e-3, eta=0.01), loss="mse")
        initial = model.get_weights()
        x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
        model.fit(x, x.sum(axis=1, keepdims=True), batch_size=16, epochs=2,
                  verbose=0, shuffle=False)
        return initial, model.get_weights()

    initial, mirrored = train(tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"]))
    _, single = train(tf.distribute.get_strategy())
    assert max(np.abs(a - b).max() for a, b in zip(initial, mirrored)) > 1e-3
    for a, b in zip(mirrored, single):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    print("MIRRORED_OK")
""")


def test_lars_under_mirrored_strategy_matches_single_device():
    # Own process: logical devices must be configured before TF starts.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pythonpath = os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=pythonpath, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT], env=env, cwd=root,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MIRRORED_OK" in result.stdout


def _schedule_reference(step, peak, total, warmup, end):
    if step < warmup:
        return peak * step / warmup
    t = min(step - warmup, total - warmup) / (total - warmup)
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * t))


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.0), (5, 0.5), (10, 1.0), (55, 0.55), (100, 0.1), (150, 0.1)],
)
def test_warmup_cosine_decay_values(step, expected):
    schedule = WarmupCosineDecay(
        peak_learning_rate=1.0, total_steps=100, warmup_steps=10,
        end_learning_rate=0.1)
    value = float(schedule(step))
    assert value == pytest.approx(expected, abs=1e-6)
    assert value == pytest.approx(
        _schedule_reference(step, 1.0, 100, 10, 0.1), abs=1e-6)


def test_warmup_cosine_decay_other_points_and_no_warmup():
    schedule = WarmupCosineDecay(2.0, total_steps=50, warmup_steps=7)
    for step in (3, 7, 8, 20, 49, 50):
        assert float(schedule(step)) == pytest.approx(
            _schedule_reference(step, 2.0, 50, 7, 0.0), abs=1e-6)
    no_warmup = WarmupCosineDecay(2.0, total_steps=50, warmup_steps=0)
    assert float(no_warmup(0)) == pytest.approx(2.0)
    assert float(no_warmup(25)) == pytest.approx(1.0, abs=1e-6)


def test_warmup_cosine_decay_config_and_validation():
    schedule = WarmupCosineDecay(0.3, 1000, 100, end_learning_rate=0.01)
    config = schedule.get_config()
    assert config == {"peak_learning_rate": 0.3, "total_steps": 1000,
                      "warmup_steps": 100, "end_learning_rate": 0.01,
                      "name": "WarmupCosineDecay"}
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, WarmupCosineDecay)
    assert restored.get_config() == config
    assert float(restored(550)) == pytest.approx(float(schedule(550)))
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosineDecay(0.3, total_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        WarmupCosineDecay(0.3, total_steps=0, warmup_steps=0)
    with pytest.raises(ValueError, match="peak_learning_rate"):
        WarmupCosineDecay(0.0, total_steps=10, warmup_steps=1)
    with pytest.raises(ValueError, match="end_learning_rate"):
        WarmupCosineDecay(0.3, 10, 1, end_learning_rate=0.5)


def test_scale_learning_rate():
    # SimCLR appendix B.1: 0.3 * 4096 / 256 = 4.8 and 0.075 * sqrt(4096) = 4.8.
    assert scale_learning_rate(0.3, 4096) == pytest.approx(4.8)
    assert scale_learning_rate(0.3, 256, scaling="linear") == pytest.approx(0.3)
    assert scale_learning_rate(0.075, 4096, scaling="sqrt") == pytest.approx(4.8)
    assert scale_learning_rate(0.075, 100, scaling="sqrt") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="scaling"):
        scale_learning_rate(0.3, 256, scaling="log")
    with pytest.raises(ValueError, match="batch_size"):
        scale_learning_rate(0.3, 0)
    with pytest.raises(ValueError, match="base_lr"):
        scale_learning_rate(-0.1, 256)


_OPTIMIZERS = {
    "sgd": lambda rate: keras.optimizers.SGD(rate, momentum=0.9, weight_decay=0.01),
    "adamw": lambda rate: keras.optimizers.AdamW(rate, weight_decay=0.01),
    "lars": lambda rate: LARS(rate, weight_decay=0.01, eta=0.1, exclude_from_weight_decay=[]),
}


@pytest.mark.parametrize("name", sorted(_OPTIMIZERS))
@pytest.mark.parametrize("rule", ["hold", "scale"])
def test_a_group_at_its_own_rate_matches_an_optimizer_of_its_own(name, rule):
    """One optimizer with `hold_learning_rate` / `scale_learning_rate_of` on variable b equals two
    optimizers of the same kind: the schedule on a, the held peak (or the scaled schedule) on b.
    The same gradients, 5 steps through warm-up and decay, weight decay included."""
    make = _OPTIMIZERS[name]
    schedule = WarmupCosineDecay(0.2, total_steps=6, warmup_steps=2)
    own = 0.2 if rule == "hold" else WarmupCosineDecay(0.2 * 0.3, total_steps=6, warmup_steps=2)
    a, b, ref_a, ref_b = (keras.Variable(np.full((3, 2), v, "float32"), name=n)
                          for v, n in [(1.0, "a"), (-0.5, "b"), (1.0, "ref_a"), (-0.5, "ref_b")])
    optimizer, ref_opt_a, ref_opt_b = make(schedule), make(schedule), make(own)
    if rule == "hold":
        hold_learning_rate(optimizer, lambda: [b])
    else:
        scale_learning_rate_of(optimizer, lambda: [b], 0.3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        ga, gb = rng.normal(size=(2, 3, 2)).astype("float32")
        optimizer.apply_gradients([(ga, a), (gb, b)])
        ref_opt_a.apply_gradients([(ga, ref_a)])
        ref_opt_b.apply_gradients([(gb, ref_b)])
    np.testing.assert_allclose(a.numpy(), ref_a.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), ref_b.numpy(), rtol=0, atol=1e-5)  # float32 order
    # Not by luck: b at the schedule's rate ends elsewhere.
    plain, c = make(schedule), keras.Variable(np.full((3, 2), -0.5, "float32"))
    rng = np.random.default_rng(0)
    for _ in range(5):
        _, gb = rng.normal(size=(2, 3, 2)).astype("float32")
        plain.apply_gradients([(gb, c)])
    assert np.abs(c.numpy() - ref_b.numpy()).max() > 1e-3


def test_hold_learning_rate_needs_a_known_peak():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    with pytest.raises(ValueError, match="pass learning_rate="):
        hold_learning_rate(keras.optimizers.SGD(schedule), list)
    hold_learning_rate(keras.optimizers.SGD(schedule), list, learning_rate=0.1)  # explicit: fine
