"""SimCLR under tf.distribute.MirroredStrategy trains as on one device (Chen et al. 2020, sec. 2.2).

The claim: negatives are gathered from every replica with `ReplicaContext.all_gather` (its gradient
sends each replica the summed gradient of its own rows), each replica's positives are offset by its
replica id, and each replica's loss is divided by the replica count because the optimizer sums the
replicas' gradients; with synchronized batch norm the result equals one device.

Each check runs scripts of `tests/distributed/` as subprocesses, one tf.distribute strategy per
process (a second MirroredStrategy in one process can fail, and logical CPU devices must be made
before any TF op). The processes are independent, so the module fixture starts them together.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

from helpers import load_run, max_difference, subprocess_env, weights

pytestmark = pytest.mark.distributed

SCRIPTS = Path(__file__).resolve().parent / "distributed"
TEMPERATURE = 0.5  # as in nt_xent_gradients.py
TOLERANCE = 1e-5
GRADIENT_TOLERANCE = 1e-6


def _projections():
    """Fixed z1, z2 (8 x 8 each), stacked as [2, 8, 8]."""
    return np.random.default_rng(1).standard_normal((2, 8, 8)).astype(np.float32)


def _run(script, *args):
    return subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=600)


def _fit(tmp, name, devices, sync_bn, *extra):
    out = tmp / f"{name}.npz"
    return _run("simclr_fit.py", "--devices", devices, "--sync-bn", sync_bn,
                "--init", tmp / "init.weights.h5", "--out", out, *extra), out


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("distributed")


@pytest.fixture(scope="module")
def runs(tmp):
    """{name: (completed process, output .npz)} for the subprocesses of this module's CI tests."""
    z1, z2 = _projections()
    np.savez(tmp / "projections.npz", z1=z1, z2=z2)

    def gradients():
        out = tmp / "gradients.npz"
        return _run("nt_xent_gradients.py", "--data", tmp / "projections.npz", "--out", out), out

    with ThreadPoolExecutor(max_workers=4) as pool:
        later = {"gradients": pool.submit(gradients)}
        # The one-device run writes the initial weights every other run loads.
        results = {"one_device": _fit(tmp, "one_device", 1, 1, "--write-init")}
        for name, devices, sync_bn in [("2_devices", 2, 1), ("one_device_unsynced_bn", 1, 0),
                                       ("2_devices_unsynced_bn", 2, 0)]:
            later[name] = pool.submit(_fit, tmp, name, devices, sync_bn)
        results.update({name: future.result() for name, future in later.items()})
    return results


# 4 devices: a second case of the same code path, run on demand (slow); 2 devices run in CI.
@pytest.mark.parametrize("devices", [2, pytest.param(4, marks=pytest.mark.slow)])
def test_fit_with_synchronized_bn_matches_one_device(runs, tmp, devices):
    """3 SGD-momentum steps of `model.fit` on 2 or 4 logical CPUs (global batch 8) equal one device.

    Measured: losses within ~1.2e-6, all weights within ~1e-6 (batch-norm statistics included).
    The first loss catches local negatives (off by ~0.8); the weights (and later losses) also catch
    a gather without gradient (off by ~0.19) and a loss not divided by the replica count (~0.35),
    bugs that leave the first forward pass exact.
    """
    reference = load_run(runs, "one_device")
    if devices == 4:  # its own process, from the initial weights the one-device run wrote
        runs = {"4_devices": _fit(tmp, "4_devices", 4, 1)}
    distributed = load_run(runs, f"{devices}_devices")
    np.testing.assert_array_equal(distributed["paths"], reference["paths"])
    assert max_difference(weights(distributed, "initial"), weights(reference, "initial")) == 0

    # fit logs the running mean, so entry 0 is the first step's loss on the first global batch.
    np.testing.assert_allclose(distributed["loss"][0], reference["loss"][0], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(distributed["loss"], reference["loss"], rtol=0, atol=TOLERANCE)
    assert max_difference(weights(distributed, "final"), weights(reference, "final")) < TOLERANCE
    # Training moved the weights far more than the tolerance, so the comparison means something.
    assert max_difference(weights(reference, "final"), weights(reference, "initial")) > 1e-2


def _nt_xent_rows(z1, z2):
    """NumPy float64 NT-Xent (the paper's eq. 1) of each of the 2N anchors: z1's rows, then z2's."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    logits = z @ z.T / TEMPERATURE
    np.fill_diagonal(logits, -np.inf)
    n = len(z1)
    positives = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
    return logsumexp(logits, axis=1) - logits[np.arange(2 * n), positives]


def _numeric_gradient(f, z, step=1e-6):
    """Central differences of f at the [2, N, d] array z (z1, z2 stacked), in float64."""
    z = z.astype(np.float64)
    gradient = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        plus, minus = z.copy(), z.copy()
        plus[index] += step
        minus[index] -= step
        gradient[index] = (f(plus) - f(minus)) / (2 * step)
    return gradient


def test_gradients_through_the_gather_match_one_device(runs):
    """Per-replica and `fit` gradients of NT-Xent on 2 replicas equal the one-device gradient.

    z1, z2: 8 x 8 fixed projections; replica r owns rows 4r..4r+3 of both. Reference: the float64
    NumPy gradient of the full-batch loss. Measured: ~2e-8 (per replica), ~1e-7 (fit, read off an
    SGD step with learning rate 1). Each bug, put in by the script, is caught as follows:

    - gather without gradient (tf.stop_gradient around all_gather): a replica's rows lose the
      gradient of the other replica's loss terms; caught by `replica_correct` / `fit_correct` (the
      mutants differ by ~6e-2), and those cross terms are shown non-zero below;
    - loss not divided by the replica count (in `PretrainingMethod.train_step`): the summed
      gradient is 2x; caught by `fit_correct` (the replica check does its own division: without it
      the gradient is 2x too);
    - negatives local only: each replica's softmax misses the other half of the batch; caught by
      `replica_correct` / `fit_correct` (mutants differ by ~4e-2).
    """
    result = load_run(runs, "gradients")
    z = _projections()
    reference = _numeric_gradient(lambda w: _nt_xent_rows(*w).mean(), z)

    np.testing.assert_allclose(result["one_device"], reference, rtol=0, atol=GRADIENT_TOLERANCE)
    np.testing.assert_allclose(result["replica_correct"], reference, rtol=0,
                               atol=GRADIENT_TOLERANCE)
    np.testing.assert_allclose(result["fit_correct"], reference, rtol=0, atol=GRADIENT_TOLERANCE)

    # Teeth: replica 0's loss terms depend on replica 1's rows (only through the gather)...
    n, local = z.shape[1], z.shape[1] // 2
    replica0_anchors = np.r_[0:local, n:n + local]
    cross = _numeric_gradient(lambda w: _nt_xent_rows(*w)[replica0_anchors].sum() / (2 * n), z)
    assert np.abs(cross[:, local:]).max() > 1e-2
    # ... and each bug moves the gradient far outside the tolerance.
    for bug in ("unscaled", "gather_without_gradient", "local_negatives"):
        for path in ("replica", "fit"):
            assert np.abs(result[f"{path}_{bug}"] - reference).max() > 1e-2, (path, bug)
    np.testing.assert_allclose(result["fit_unscaled"], 2 * reference, rtol=0, atol=1e-6)


def test_fit_without_synchronized_bn_differs_from_one_device(runs):
    """Without synchronized BN each replica normalises with its own 8 images (4 pairs) only.

    Expected, not hidden: the 2-device first-step loss differs from one device (measured: 3.027 vs
    2.900, i.e. by 0.127). The negatives are still global; only the batch-norm statistics are not.
    """
    reference = load_run(runs, "one_device_unsynced_bn")
    distributed = load_run(runs, "2_devices_unsynced_bn")
    assert max_difference(weights(distributed, "initial"), weights(reference, "initial")) == 0
    assert abs(distributed["loss"][0] - reference["loss"][0]) > 1e-4
