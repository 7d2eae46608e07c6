"""Barlow Twins, VICReg and SimSiam under tf.distribute.MirroredStrategy train as on one device.

The claim (issue 26's bug classes): Barlow Twins' cross-correlation with its batch
standardisation, and VICReg's variance and covariance, are statistics of the GLOBAL batch. Their
losses gather the embeddings across replicas (`keras_ssl.distribute.cross_replica_concat`, whose
gradient returns each replica its rows) and each replica's loss is divided by the replica count,
so 3 `model.fit` steps on 2 logical CPU devices (global batch 8, synchronized batch norm) equal one
device: losses and every weight. Computing the statistics per replica (4 rows each) fails this
test (tried: the losses' gathers replaced by the identity). SimSiam has no batch statistic in its
loss; its case covers the held predictor rate under the strategy. Each run is its own process
(tests/distributed/common.py).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import max_difference, subprocess_env

pytestmark = pytest.mark.distributed

SCRIPT = Path(__file__).resolve().parent / "distributed" / "pair_fit.py"
TOLERANCE = 1e-5


def _fit(tmp, method, devices, *extra):
    out = tmp / f"{method}_{devices}.npz"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--method", method, "--devices", str(devices),
         "--init", str(tmp / f"{method}_init.weights.h5"), "--out", str(out), *extra],
        env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(out)


@pytest.mark.parametrize("method", ["barlow_twins", "vicreg",
                                    pytest.param("simsiam", marks=pytest.mark.slow)])
def test_fit_on_2_devices_matches_one_device(method, tmp_path):
    one = _fit(tmp_path, method, 1, "--write-init")
    two = _fit(tmp_path, method, 2)
    final = lambda r: [r[f"final{i}"] for i in range(len(r["paths"]))]  # noqa: E731
    initial = lambda r: [r[f"initial{i}"] for i in range(len(r["paths"]))]  # noqa: E731
    np.testing.assert_array_equal(two["paths"], one["paths"])
    assert max_difference(initial(two), initial(one)) == 0
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=TOLERANCE, atol=TOLERANCE)
    assert max_difference(final(two), final(one)) < TOLERANCE
    # Training moved the weights far more than the tolerance.
    assert max_difference(final(one), initial(one)) > 1e-2
