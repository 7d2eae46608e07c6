"""Pretext methods under tf.distribute.MirroredStrategy train as on one device.

Jigsaw (patch grids): the siamese tile encoder folds each replica's puzzles into its batch and the
heads see that replica's images only. Context Encoder (whole images): two optimizers in one step,
a discriminator, and random holes of a different area on each replica (the masked L2 is normalised
by the global batch's weights). With synchronized batch norm (encoder and heads) and the loss divided
by the replica count, 3 `model.fit` steps on 2 logical CPU devices equal one device. Each run is its
own process (see tests/distributed/common.py).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "distributed"
TOLERANCE = 1e-5


def _start(script, *args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, str(SCRIPTS / script), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process):
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]


@pytest.mark.parametrize("script", ["jigsaw_fit.py", "context_encoder_fit.py"])
def test_fit_on_2_devices_matches_one_device(script, tmp_path):
    init = tmp_path / "init.weights.h5"
    _finish(_start(script, "--devices", 1, "--init", init, "--write-init",
                   "--out", tmp_path / "one.npz"))
    _finish(_start(script, "--devices", 2, "--init", init, "--out", tmp_path / "two.npz"))
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    np.testing.assert_array_equal(two["paths"], one["paths"])
    n = len(one["paths"])
    weights = lambda r, p: [r[f"{p}{i}"] for i in range(n)]  # noqa: E731
    diff = lambda a, b: max(np.abs(x - y).max() for x, y in zip(a, b))  # noqa: E731
    assert diff(weights(two, "initial"), weights(one, "initial")) == 0
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=0, atol=TOLERANCE)
    assert diff(weights(two, "final"), weights(one, "final")) < TOLERANCE
    # Training moved the weights far more than the tolerance.
    assert diff(weights(one, "final"), weights(one, "initial")) > 1e-2
