"""`keras-ssl train` under MultiWorkerMirroredStrategy and MirroredStrategy, end to end.

Two worker processes on 127.0.0.1 (TF_CONFIG per worker, loopback ports only) run the CLI's own loop
(Keras' `fit` fails under that strategy); one process with 2 logical CPUs runs `model.fit` under
MirroredStrategy. Same config, synchronized BN, op determinism: the claim is that both train the
same 2-replica model on the same global batches with the same per-replica augmentations. Every
training runs in its own process (`tests/distributed/train_run.py`).
"""

import csv
import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import load_run, max_difference, run_cli, subprocess_env

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().parent / "distributed" / "train_run.py"
CONFIG = "simclr_cifar10"
STEPS = 10  # 80 images, global batch 16, 2 epochs
TINY = [
    "--config.encoder.width_multiplier=0.125",
    "--config.model.projection_hidden_dims=(32,)",
    "--config.train.batch_size=16",
    "--config.train.epochs=2",
    "--config.train.warmup_epochs=0.5",
    "--config.train.checkpoint_every_steps=3",
    "--config.encoder.synchronized_bn=True",
    "--config.model.synchronized_bn=True",
    "--config.train.deterministic=True",
]


def _train(out, *args, **env):
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--", "train", *args],
                          env=subprocess_env(**env), capture_output=True, text=True, timeout=600)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def runs(tiny_cifar10, tmp_path_factory):
    """{name: (process, weights .npz, workdir)} for 2 workers and the 2-logical-CPU reference."""
    tmp = tmp_path_factory.mktemp("multi_worker")
    common = [f"--config={CONFIG}", f"--config.data.source=folder:{tiny_cifar10}", *TINY]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}

    def worker(index):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        out = tmp / f"worker{index}.npz"
        return _train(out, f"--workdir={tmp / 'multi_worker'}", "--strategy=multi_worker",
                      *common, TF_CONFIG=tf_config), out, tmp / "multi_worker"

    def mirrored():
        out = tmp / "mirrored.npz"
        return _train(out, f"--workdir={tmp / 'mirrored'}", "--strategy=mirrored",
                      "--virtual_devices=2", *common), out, tmp / "mirrored"

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {"worker0": pool.submit(worker, 0), "worker1": pool.submit(worker, 1),
                   "mirrored": pool.submit(mirrored)}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def streaming_workers(tiny_cifar10, tmp_path_factory):
    """Two workers streaming the folder: each input pipeline reads its own shard of the files
    (disjoint and complete, tests/test_streaming.py), together the global batches."""
    tmp = tmp_path_factory.mktemp("multi_worker_streaming")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}

    def worker(index):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        out = tmp / f"worker{index}.npz"
        return _train(out, f"--workdir={tmp / 'run'}", "--strategy=multi_worker",
                      f"--config={CONFIG}", f"--config.data.source=folder:{tiny_cifar10}",
                      "--config.data.pipeline=streaming", *TINY, TF_CONFIG=tf_config), out, tmp
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {f"worker{i}": pool.submit(worker, i) for i in range(2)}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def preempted_workers(tiny_cifar10, tmp_path_factory):
    """Two workers; worker 1 receives SIGTERM as step 4 (epoch 0, batch 3) begins: both stop after
    it. Then both are started again with the same command (the resume)."""
    tmp = tmp_path_factory.mktemp("multi_worker_preempted")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}

    def worker(index, *extra):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        out = tmp / f"worker{index}.npz"
        command = [sys.executable, str(SCRIPT), "--out", str(out), *extra, "--", "train",
                   f"--workdir={tmp / 'run'}", "--strategy=multi_worker", f"--config={CONFIG}",
                   f"--config.data.source=folder:{tiny_cifar10}", *TINY]
        return subprocess.run(command, env=subprocess_env(TF_CONFIG=tf_config),
                              capture_output=True, text=True, timeout=600), out, tmp / "run"

    with ThreadPoolExecutor(max_workers=2) as pool:
        stopped = [pool.submit(worker, 0), pool.submit(worker, 1, "--sigterm-at-step", "4")]
        stopped = [future.result() for future in stopped]
        latest = (tmp / "run" / "checkpoints" / "checkpoint").read_text()
        resumed = [pool.submit(worker, i) for i in range(2)]
        return {"stopped": stopped, "latest": latest,
                "resumed": {f"worker{i}": future.result() for i, future in enumerate(resumed)}}


def test_sigterm_on_one_worker_stops_all_after_the_same_step_with_a_checkpoint(preempted_workers):
    (chief, _, workdir), (other, _, _) = preempted_workers["stopped"]
    assert chief.returncode == other.returncode == 42, chief.stderr[-2000:] + other.stderr[-2000:]
    assert "keras-ssl: stopped by signal 15 at epoch 0, step 4" in other.stderr
    assert ("keras-ssl: stopped with the other workers (one received a stop signal) or as the "
            "data ran out at epoch 0, step 4") in chief.stderr
    assert preempted_workers["latest"].startswith('model_checkpoint_path: "ckpt-4"')


@pytest.mark.slow  # the resume itself is tested on one process in CI (tests/test_resume.py)
def test_preempted_workers_resume_at_that_step_and_end_as_an_uninterrupted_run(
        preempted_workers, runs):
    resumed = preempted_workers["resumed"]
    for name in ("worker0", "worker1"):
        assert "resuming from" in resumed[name][0].stderr and "at epoch 0, step 4" in \
            resumed[name][0].stderr
    worker0, worker1 = (load_run(resumed, f"worker{i}") for i in range(2))
    assert int(worker0["iterations"]) == STEPS
    assert max_difference(worker0, worker1) == 0
    assert max_difference(worker0, load_run(runs, "worker0")) == 0


# A second case of the multi-worker family, run on demand (slow): the in-memory workers below run
# in CI, and tests/test_streaming.py checks that the shards are disjoint and complete.
@pytest.mark.slow
def test_streaming_workers_train_the_same_model(streaming_workers):
    worker0, worker1 = (load_run(streaming_workers, f"worker{i}") for i in range(2))
    assert int(worker0["iterations"]) == int(worker1["iterations"]) == STEPS
    assert max_difference(worker0, worker1) == 0
    assert "(streaming pipeline), 5 steps per epoch" in streaming_workers["worker0"][0].stderr


def _history(workdir):
    with open(workdir / "history.csv") as f:
        return list(csv.DictReader(f))


def test_workers_end_with_identical_weights(runs):
    """Measured: bitwise equal weights (BN statistics included) on both workers after 10 steps."""
    worker0, worker1 = load_run(runs, "worker0"), load_run(runs, "worker1")
    assert int(worker0["iterations"]) == int(worker1["iterations"]) == STEPS
    assert max_difference(worker0, worker1) == 0


def test_multi_worker_equals_two_logical_devices(runs):
    """2 workers x 1 CPU == 1 process x 2 logical CPUs: weights within 1e-5 (measured 3.1e-6),
    epoch losses within 1e-5 (the first step's loss is the same batch in both)."""
    worker0, mirrored = load_run(runs, "worker0"), load_run(runs, "mirrored")
    assert int(mirrored["iterations"]) == STEPS
    assert max_difference(worker0, mirrored) < 1e-5
    multi, single = _history(runs["worker0"][2]), _history(runs["mirrored"][2])
    assert [row["epoch"] for row in multi] == [row["epoch"] for row in single] == ["0", "1"]
    for a, b in zip(multi, single):
        assert abs(float(a["loss"]) - float(b["loss"])) < 1e-5
    # The losses moved, so the comparison is of two trainings, not two initialisations.
    assert abs(float(single[0]["loss"]) - float(single[1]["loss"])) > 1e-3


def test_multi_worker_workdir_is_complete_and_written_by_the_chief(runs):
    """The chief writes config, checkpoints (at the last step), logs, history and encoder, as the
    `fit` path does; the other worker's temporary checkpoint directories are removed."""
    load_run(runs, "worker1")
    workdir = runs["worker0"][2]
    for name in ("config.json", "encoder.keras", "history.csv", "logs/train", "checkpoints"):
        assert (workdir / name).exists(), name
    assert sorted(os.listdir(workdir / "checkpoints")) == sorted(
        os.listdir(runs["mirrored"][2] / "checkpoints"))
    assert (workdir / "checkpoints" / "checkpoint").read_text().startswith(
        f'model_checkpoint_path: "ckpt-{STEPS}"')


def test_batch_that_does_not_split_over_replicas_is_refused(tiny_cifar10, tmp_path):
    result = run_cli("train", f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}",
                  f"--config.data.source=folder:{tiny_cifar10}", "--strategy=mirrored",
                  "--virtual_devices=3", *TINY)
    assert result.returncode != 0
    assert "train.batch_size" in result.stderr and "16 does not divide by the 3 replicas" in \
        result.stderr


@pytest.mark.parametrize("flags, message", [
    (["--strategy=multi_worker"], "needs the TF_CONFIG environment variable"),
    (["--strategy=tpu"], "needs the TPU's address"),
    (["--strategy=mirrored", "--tpu=local"], "use strategy 'tpu'"),
    (["--strategy=gpu"], "strategy"),
])
def test_bad_strategy_flags_are_refused(flags, message, tmp_path):
    result = run_cli("train", f"--config={CONFIG}", f"--workdir={tmp_path / 'run'}", *flags)
    assert result.returncode != 0
    assert message in result.stderr
