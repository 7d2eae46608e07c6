"""`keras-ssl train --config.data.augment_on=device` under a 2-replica MirroredStrategy trains the
model that `augment_on=host` trains: each replica augments its own batch in the train step with
the seed the host pipeline gives that replica. In memory and streamed; every run in its own
process (`tests/distributed/train_run.py`)."""

import csv
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import load_run, max_difference, subprocess_env

pytestmark = pytest.mark.distributed

SCRIPT = Path(__file__).resolve().parent / "distributed" / "train_run.py"
STEPS = 10  # 80 images, global batch 16, 2 epochs
TINY = [
    "--config=simclr_cifar10",
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
# Grappler's constant folding changes the last bits of some colour ops in the train step's graph
# (tests/test_device_augmentation.py: bitwise equal without it); over 10 steps measured <= 1e-6.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def runs(tiny_cifar10, tmp_path_factory):
    """{(pipeline, augment_on): (process, weights .npz, workdir)}."""
    import subprocess

    tmp = tmp_path_factory.mktemp("device_augmentation")

    def train(pipeline, on):
        workdir, out = tmp / f"{pipeline}_{on}", tmp / f"{pipeline}_{on}.npz"
        command = [sys.executable, str(SCRIPT), "--out", str(out), "--", "train",
                   f"--workdir={workdir}", f"--config.data.source=folder:{tiny_cifar10}",
                   f"--config.data.pipeline={pipeline}", f"--config.data.augment_on={on}", *TINY]
        return subprocess.run(command, env=subprocess_env(), capture_output=True, text=True,
                              timeout=600), out, workdir

    keys = [(p, on) for p in ("memory", "streaming") for on in ("host", "device")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(train, *key) for key in keys}
        return {key: future.result() for key, future in futures.items()}


def _losses(workdir):
    with open(workdir / "history.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("pipeline", ["memory", "streaming"])
def test_device_augmentation_trains_the_host_model_on_2_replicas(runs, pipeline):
    host, device = (load_run(runs, (pipeline, on)) for on in ("host", "device"))
    assert int(host["iterations"]) == int(device["iterations"]) == STEPS
    assert max_difference(host, device) < TOLERANCE
    host_losses, device_losses = (_losses(runs[(pipeline, on)][2]) for on in ("host", "device"))
    assert len(host_losses) == 2
    assert max(abs(a - b) for a, b in zip(host_losses, device_losses)) < TOLERANCE
    assert abs(host_losses[0] - host_losses[1]) > 1e-3  # two trainings, not two initialisations
