"""Helpers the test files share: running `keras-ssl` (or a test script) in a process of its own,
and comparing the weights that such runs save."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def subprocess_env(**extra):
    """The environment for a child process: CPU only, TensorFlow's C++ INFO lines off, this
    repository importable, no TF_CONFIG inherited; `extra` set on top."""
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def run_cli(*args, check=False, timeout=600):
    """`keras-ssl *args` in a subprocess; with `check`, an AssertionError holding its stderr
    unless it exits 0."""
    result = subprocess.run([sys.executable, "-m", "keras_ssl.cli.main", *args],
                            env=subprocess_env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"keras-ssl {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def load_run(runs, name):
    """The weights file of the finished run `runs[name]` = (process, path, ...)."""
    process, out = runs[name][:2]
    assert process.returncode == 0, f"{name} failed:\n{process.stderr[-3000:]}"
    return np.load(out)


def weights(result, prefix="w"):
    """The arrays `<prefix>0`, `<prefix>1`, ... of a saved run, in order."""
    return [result[f"{prefix}{i}"] for i in range(len(result["paths"]))]


def max_difference(a, b):
    """Largest absolute difference between two runs' weights: two saved runs (same variable
    paths required) or two lists of arrays."""
    if hasattr(a, "files"):
        np.testing.assert_array_equal(a["paths"], b["paths"])
        a, b = weights(a), weights(b)
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def run_serialization_test(instance, inputs, tmp_path):
    """A layer's `get_config` -> `from_config` round trip, and a `.keras` save / load of a model
    around it: the same config, and the same outputs from the same weights."""
    import keras

    expected = keras.ops.convert_to_numpy(instance(inputs, training=False))
    config = instance.get_config()
    copy = type(instance).from_config(config)
    copy(inputs, training=False)  # builds it
    assert copy.get_config() == config
    copy.set_weights(instance.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(copy(inputs, training=False)), expected,
                               atol=1e-6)
    x = keras.Input(inputs.shape[1:])
    path = str(tmp_path / f"{type(instance).__name__}.keras")
    keras.Model(x, instance(x)).save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs, training=False)),
                               expected, atol=1e-6)


def unit_rows(x):
    """Rows of `x` scaled to unit length, in float64."""
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def batch_info_nce_numpy(queries, keys, temperature):
    """InfoNCE over the batch's keys in float64 (`keras_ssl.losses.batch_info_nce` on one device):
    the mean of -log softmax(q_i . k / t)[i] over cosine similarities, and the fraction of queries
    whose own key scores highest."""
    logits = unit_rows(queries) @ unit_rows(keys).T / temperature
    top = logits.max(1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))
    rows = np.arange(len(logits))
    return -log_softmax[rows, rows].mean(), (logits.argmax(1) == rows).mean()
