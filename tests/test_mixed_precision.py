"""Mixed precision: layers compute in bfloat16/float16 while losses, softmax and normalisation stay
in float32, and float16 gets loss scaling (Micikevicius et al. 2018, "Mixed Precision Training")."""

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.cli.workdir import Workdir
from keras_ssl.encoders import ResNet18
from keras_ssl.losses import nt_xent
from keras_ssl.methods import RotNet, SimCLR

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (16, 16, 3)
POLICIES = ["mixed_bfloat16", "mixed_float16"]


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


def _simclr(seed=0):
    keras.utils.set_random_seed(seed)
    model = SimCLR(ResNet18(stem="cifar", width_multiplier=0.125, input_shape=SHAPE),
                   projection_hidden_dims=(16,), projection_dim=8)
    model.build((None, *SHAPE))
    return model


def _views(n=8, steps=1):
    rng = np.random.default_rng(0)
    return rng.random((2, steps * n, *SHAPE), dtype=np.float32)


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_few_steps_give_finite_float32_losses(policy):
    compute = policy.removeprefix("mixed_")
    view1, view2 = _views(steps=3)
    simclr = _simclr()
    simclr.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    rotnet = RotNet(ResNet18(stem="cifar", width_multiplier=0.125, input_shape=SHAPE))
    rotnet.build((None, *SHAPE))
    rotnet.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    labels = np.tile(np.arange(4, dtype=np.int32), 6)

    for model, data in [(simclr, (view1, view2)), (rotnet, (view1, labels))]:
        # The layers really compute in the low precision; their variables stay float32.
        assert model.encoder.layers[1].compute_dtype == compute
        assert all(v.dtype == "float32" for v in model.weights)
        loss, _ = model.compute_objective((data[0][:8], data[1][:8]), training=False)
        assert loss.dtype == tf.float32
        history = model.fit(tf.data.Dataset.from_tensor_slices(data).batch(8), epochs=1,
                            shuffle=False, verbose=0).history
        assert all(math.isfinite(v) for v in history["loss"])
    assert isinstance(simclr.optimizer, keras.optimizers.LossScaleOptimizer) == (
        compute == "float16")


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_nt_xent_and_batch_norm_compute_in_float32(policy):
    """Low-precision inputs are cast up first: NT-Xent on them equals NT-Xent on the float32 copies
    (so its normalisation and softmax run in float32), and batch norm of inputs far from zero
    matches float32 batch norm (normalising in bfloat16/float16 would lose the offset's digits)."""
    compute = policy.removeprefix("mixed_")
    rng = np.random.default_rng(0)
    z1, z2 = (tf.cast(rng.standard_normal((8, 16)), compute) for _ in range(2))
    loss, _ = nt_xent(z1, z2)
    reference, _ = nt_xent(tf.cast(z1, tf.float32), tf.cast(z2, tf.float32))
    assert loss.dtype == tf.float32
    assert abs(float(loss) - float(reference)) < 1e-6

    x = 100.0 + rng.standard_normal((64, 4))
    bn = keras.layers.BatchNormalization()
    out = bn(tf.cast(x, compute), training=True)
    assert out.dtype == compute and bn.moving_mean.dtype == "float32"
    low = tf.cast(x, compute).numpy().astype(np.float64)
    expected = (low - low.mean(0)) / np.sqrt(low.var(0) + bn.epsilon)
    np.testing.assert_allclose(np.asarray(out, np.float64), expected, atol=1e-2)


def test_float16_update_matches_float32_thanks_to_loss_scaling():
    """One SGD step under mixed_float16 moves the weights as float32 does (within 10%).

    `PretrainingMethod.train_step` must scale the loss with the LossScaleOptimizer (which unscales
    the gradients); without that the update would be 2**15 times too small (the ratio below ~1).
    """
    view1, view2 = _views()
    data = tf.data.Dataset.from_tensors((view1, view2))
    deltas = {}
    for dtype in ("float32", "mixed_float16"):
        keras.mixed_precision.set_global_policy(dtype)
        try:
            model = _simclr()
            model.compile(optimizer=keras.optimizers.SGD(0.1))
            kernel = model.encoder.layers[1].kernel
            before = kernel.numpy()
            model.fit(data, epochs=1, shuffle=False, verbose=0)
            deltas[dtype] = kernel.numpy() - before
        finally:
            keras.mixed_precision.set_global_policy("float32")
    reference = deltas["float32"]
    assert np.abs(reference).max() > 1e-4
    ratio = np.linalg.norm(deltas["mixed_float16"] - reference) / np.linalg.norm(reference)
    assert ratio < 0.1, ratio


def test_cli_trains_in_bfloat16_and_float16(tiny_cifar10, tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    processes = {}
    for precision in ("bfloat16", "float16"):
        processes[precision] = subprocess.Popen(
            [sys.executable, "-m", "keras_ssl.cli.main", "train",
             "--config=simclr_cifar10",
             f"--workdir={tmp_path / precision}", f"--config.data.source=folder:{tiny_cifar10}",
             f"--config.mixed_precision={precision}", "--config.encoder.width_multiplier=0.125",
             "--config.model.projection_hidden_dims=(32,)", "--config.train.batch_size=16",
             "--config.train.epochs=1", "--config.train.warmup_epochs=0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for precision, process in processes.items():
        stderr = process.communicate(timeout=600)[1]
        assert process.returncode == 0, f"{precision}:\n{stderr[-3000:]}"
        with open(tmp_path / precision / "history.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 1 and math.isfinite(float(rows[0]["loss"]))
        # encoder.keras keeps the run's policy; evaluation and export load it in float32.
        saved = keras.models.load_model(tmp_path / precision / "encoder.keras")
        assert saved.dtype_policy.name == f"mixed_{precision}"
        loaded = Workdir(str(tmp_path / precision)).load_encoder()
        assert loaded.dtype_policy.name == "float32"
        for a, b in zip(saved.get_weights(), loaded.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        images = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype("float32")
        features = loaded(images, training=False)
        assert features.dtype == "float32"
        reference = saved(images, training=False).numpy().astype("float32")
        np.testing.assert_allclose(features.numpy(), reference, atol=0.05 * np.abs(reference).max())
