"""The workdir lock of `keras-ssl train`: a second live run in one workdir is refused; a lock is
released when its run ends, and a killed run's lock is taken over."""

import json
import os
import signal
import socket
import subprocess
import sys
import pytest
import tensorflow as tf

from helpers import subprocess_env
from keras_ssl.cli.workdir import Workdir, WorkdirLockedError
TINY_RUN = [
    "--config=simclr_cifar10",
    "--config.encoder.width_multiplier=0.125",
    "--config.model.projection_hidden_dims=(32,)",
    "--config.train.batch_size=40",
    "--config.train.epochs=1",
    "--config.train.warmup_epochs=0.0",
]
# A process that holds a workdir's lock until its stdin closes.
HOLDER = ("import sys\nfrom keras_ssl.cli.workdir import Workdir\n"
          "with Workdir(sys.argv[1]).lock():\n    print('locked', flush=True)\n    sys.stdin.read()")


def _hold(workdir):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(workdir)], env=subprocess_env(),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "locked\n"
    return process


def _train(workdir, source, *extra):
    return subprocess.run([sys.executable, "-m", "keras_ssl.cli.main", "train", *TINY_RUN,
                           f"--workdir={workdir}", f"--config.data.source=folder:{source}", *extra],
                          env=subprocess_env(), capture_output=True, text=True, timeout=600)


def _write_lock(wd, **holder):
    tf.io.gfile.makedirs(wd.path)
    with tf.io.gfile.GFile(wd.lock_path, "w") as f:
        f.write(json.dumps(holder))


@pytest.mark.parametrize("root", ["local", "ram://lock_test"])
def test_the_lock_names_its_holder_and_is_released_on_exit_and_on_an_error(root, tmp_path):
    wd = Workdir(tmp_path / "run" if root == "local" else f"{root}/run")
    with wd.lock():
        with tf.io.gfile.GFile(wd.lock_path) as f:
            holder = json.load(f)
        assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
        assert holder["started"].endswith("+00:00")
    assert not tf.io.gfile.exists(wd.lock_path)
    with pytest.raises(RuntimeError, match="a crash"):
        with wd.lock():
            raise RuntimeError("a crash")
    assert not tf.io.gfile.exists(wd.lock_path)
    assert tf.io.gfile.listdir(wd.path) == []  # no temporary file left either


def test_a_lock_of_another_host_is_refused_unless_forced(tmp_path):
    wd = Workdir(tmp_path / "run")
    _write_lock(wd, host="other-host", pid=1, started="2026-12-02T10:00:00+00:00")
    with pytest.raises(WorkdirLockedError, match=r"pid 1 on host other-host since 2026-12-02T10:"
                                                 r".*--force_unlock"):
        with wd.lock():
            pass
    with wd.lock(force=True):
        with tf.io.gfile.GFile(wd.lock_path) as f:
            assert json.load(f)["pid"] == os.getpid()
    assert not tf.io.gfile.exists(wd.lock_path)


def test_a_lock_with_this_process_pid_is_stale(tmp_path):
    """A restarted container often has the host name and pid of the run it replaces."""
    wd = Workdir(tmp_path / "run")
    _write_lock(wd, host=socket.gethostname(), pid=os.getpid(), started="earlier", token="old")
    with wd.lock():
        with tf.io.gfile.GFile(wd.lock_path) as f:
            assert json.load(f)["token"] != "old"


def test_a_second_live_run_is_refused_then_runs_once_the_first_has_exited(tmp_path):
    wd = Workdir(tmp_path / "run")
    first = _hold(wd.path)
    with pytest.raises(WorkdirLockedError, match=f"pid {first.pid} on host "):
        with wd.lock():
            pass
    first.communicate("")  # the first run ends normally
    assert first.returncode == 0 and not tf.io.gfile.exists(wd.lock_path)
    with wd.lock():
        pass


def test_train_refuses_a_live_run_and_takes_over_a_killed_ones_lock(tiny_cifar10, tmp_path):
    workdir = tmp_path / "run"
    first = _hold(workdir)
    refused = _train(workdir, tiny_cifar10)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    message = [line for line in refused.stderr.splitlines() if line.startswith("keras-ssl:")]
    assert len(message) == 1 and f"pid {first.pid} on host {socket.gethostname()}" in message[0]
    assert "--force_unlock" in message[0]
    assert not (workdir / "checkpoints").exists()  # refused before it wrote anything

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (workdir / "train.lock").exists()  # a killed run cannot release its lock
    done = _train(workdir, tiny_cifar10)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "its process is gone" in done.stderr
    assert (workdir / "encoder.keras").exists() and not (workdir / "train.lock").exists()
