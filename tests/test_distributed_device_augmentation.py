"""`keras-ssl train --config.data.augment_on=device` under a 2-replica MirroredStrategy trains the
model that `augment_on=host` trains, bit for bit: each replica augments its own batch in the train
step with the seed the host pipeline gives that replica. In memory and streamed; every run in its own
process (`tests/distributed/train_run.py`)."""

import csv
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import load_run, max_difference, subprocess_env

pytestmark = pytest.mark.distributed

SCRIPT = Path(__file__).resolve().parent / "distributed" / "train_run.py"
STEPS = 10  # 80 images, global batch 16, 2 epochs
TINY = [
    "--config.encoder.width_multiplier=0.125",
    "--config.model.projection_hidden_dims=(32,)",
    "--config.augment.blur_probability=0.5",
    "--config.train.batch_size=16",
    "--config.train.epochs=2",
    "--config.train.warmup_epochs=0.5",
    "--config.encoder.synchronized_bn=True",
    "--config.model.synchronized_bn=True",
    "--config.train.deterministic=True",
    "--strategy=mirrored",
    "--virtual_devices=2",
]


def _runs(tiny_cifar10, tmp, pipeline):
    """{augment_on: (process, weights .npz, workdir)} of `pipeline`, both runs at once."""
    def train(on):
        workdir, out = tmp / f"{pipeline}_{on}", tmp / f"{pipeline}_{on}.npz"
        # Without grappler's constant folding, which changes the last bits of some colour ops in
        # the train step's graph only (tests/test_device_augmentation.py): then both paths compute
        # the same float32 operations. With it, LARS turned views within 7e-7 into weights
        # 1.8e-4 apart after 5 steps (losses within 1e-6).
        command = [sys.executable, str(SCRIPT), "--out", str(out), "--no-constant-folding",
                   "--", "train",
                   f"--workdir={workdir}", "--config=simclr_cifar10",
                   f"--config.data.source=folder:{tiny_cifar10}",
                   f"--config.data.pipeline={pipeline}", f"--config.data.augment_on={on}", *TINY]
        return subprocess.run(command, env=subprocess_env(), capture_output=True, text=True,
                              timeout=600), out, workdir

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {on: pool.submit(train, on) for on in ("host", "device")}
        return {on: future.result() for on, future in futures.items()}


def _losses(workdir):
    with open(workdir / "history.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


# The in-memory case runs on demand: the streamed one, whose crops are cut on the host and
# augmented on each replica, stands for both in CI.
@pytest.mark.parametrize("pipeline", [pytest.param("memory", marks=pytest.mark.slow), "streaming"])
def test_device_augmentation_trains_the_host_model_on_2_replicas(tiny_cifar10, tmp_path, pipeline):
    runs = _runs(tiny_cifar10, tmp_path, pipeline)
    host, device = (load_run(runs, on) for on in ("host", "device"))
    assert int(host["iterations"]) == int(device["iterations"]) == STEPS
    assert max_difference(host, device) == 0
    host_losses, device_losses = (_losses(runs[on][2]) for on in ("host", "device"))
    assert len(host_losses) == 2 and device_losses == host_losses
    assert abs(host_losses[0] - host_losses[1]) > 1e-3  # two trainings, not two initialisations
