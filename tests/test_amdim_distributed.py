"""AMDIM under MirroredStrategy on 2 logical CPUs trains as one device on the global batch.

The claim: every NCE target (all f5 / f7 locations of every image) is gathered across replicas, so
each source's negatives are the whole global batch; each replica's positives are offset by its
replica id; the (5, 5) source locations are drawn for the global batch and sliced; batch norm is
synchronized. Each run is its own process (tests/distributed/amdim_fit.py). A run with the
deliberate local-negatives bug (gather_negatives=False) must NOT match, or the comparison would
prove nothing.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from helpers import load_run, max_difference, subprocess_env, weights

pytestmark = pytest.mark.distributed

SCRIPT = Path(__file__).resolve().parent / "distributed" / "amdim_fit.py"
# Relative to each weight's largest entry (or 1): float32 summation order over the [n, N, 49]
# score tensors differs between one and two devices. Measured: losses ~2e-7 relative, weights
# ~9e-6; the local-negatives bug: losses off by ~2.5 (~12%), weights by ~0.57.
RTOL = 1e-4


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("amdim_distributed")
    init = tmp / "init.weights.h5"

    def fit(name, devices, *extra):
        out = tmp / f"{name}.npz"
        return _run("--devices", devices, "--init", init, "--out", out, *extra), out

    results = {"one_device": fit("one_device", 1, "--write-init")}
    with ThreadPoolExecutor(max_workers=2) as pool:
        later = {"2_devices": pool.submit(fit, "2_devices", 2),
                 "local_negatives": pool.submit(fit, "local_negatives", 2, "--local-negatives")}
        results.update({name: future.result() for name, future in later.items()})
    return results


def _max_relative_difference(a, b):
    """Largest |a - b| of a weight over the largest |b| of that weight (1 for tiny weights)."""
    return max(float(np.abs(x - y).max() / max(1.0, float(np.abs(y).max()))) for x, y in zip(a, b))


def test_two_devices_match_one_device_on_the_global_batch(runs):
    """3 SGD steps (global batch 8, 4 per replica): losses and every weight equal one device."""
    reference = load_run(runs, "one_device")
    distributed = load_run(runs, "2_devices")
    np.testing.assert_array_equal(distributed["paths"], reference["paths"])
    assert max_difference(weights(distributed, "initial"), weights(reference, "initial")) == 0
    np.testing.assert_allclose(distributed["loss"], reference["loss"], rtol=RTOL / 10, atol=0)
    assert _max_relative_difference(weights(distributed, "final"),
                                    weights(reference, "final")) < RTOL
    # Training moved the weights far more than the tolerance, so the comparison means something.
    assert max_difference(weights(reference, "final"), weights(reference, "initial")) > 1e-2


def test_local_negatives_bug_is_caught(runs):
    """Without the gather each replica sees 4 images instead of 8: the loss (log of the negatives'
    count among others) and the weights differ from one device by far more than the tolerance."""
    reference = load_run(runs, "one_device")
    buggy = load_run(runs, "local_negatives")
    assert np.abs(buggy["loss"][0] - reference["loss"][0]) > 100 * RTOL * reference["loss"][0]
    assert _max_relative_difference(weights(buggy, "final"),
                                    weights(reference, "final")) > 100 * RTOL
