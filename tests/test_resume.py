"""Fault tolerance of `keras-ssl train`: killed runs resume from their last checkpoint.

Two crashes and a preemption, each followed by the same command again:
- SIGKILL mid-epoch (the test stops the process once its latest checkpoint is mid-epoch, then kills
  it);
- SIGTERM mid-epoch, the notice of a preemption (sent the same way): the run saves the step it is
  at, past its latest periodic checkpoint, and exits with status 42;
- a crash while a checkpoint is being written (the process truncates the checkpoint's data file
  and SIGKILLs itself before the checkpoint is recorded as the latest).
Both with the in-memory and the streaming pipeline (marked slow: CI runs the in-memory case, and
tests/test_streaming.py checks the streaming pipeline's resumed batches bitwise). With op
determinism on, each resumed run must end with the weights of an uninterrupted run (so it saw the
same batches and seeds), having restored the checkpoint's epoch, batch and optimizer iterations
(which drive the learning-rate schedule). Every training runs in its own process
(`tests/distributed/train_run.py`).
"""

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from helpers import max_difference, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().parent / "distributed" / "train_run.py"
STEPS_PER_EPOCH = 5  # 80 images, batch 16
EPOCHS = 3
TOTAL = STEPS_PER_EPOCH * EPOCHS
ARGS = [
    "--config=simclr_cifar10",
    "--config.encoder.width_multiplier=0.125",
    "--config.model.projection_hidden_dims=(32,)",
    "--config.train.batch_size=16",
    f"--config.train.epochs={EPOCHS}",
    "--config.train.warmup_epochs=1.0",  # the learning rate changes every step
    "--config.train.optimizer=sgd",
    "--config.train.checkpoint_every_steps=2",  # saves after steps 2 4 5 6 8 10 12 14 15
    "--config.train.deterministic=True",
]
RESUMING = re.compile(r"resuming from \S*ckpt-(\d+) at epoch (\d+), step (\d+) "
                      r"\(optimizer iterations (\d+)\)")


def _command(out, workdir, source, pipeline, *extra):
    return [sys.executable, str(SCRIPT), "--out", str(out), *extra, "--", "train", *ARGS,
            f"--workdir={workdir}", f"--config.data.source=folder:{source}",
            f"--config.data.pipeline={pipeline}"]


def _run(command):
    return subprocess.run(command, env=subprocess_env(), capture_output=True, text=True,
                          timeout=600)


def _latest(workdir):
    """Global step of the checkpoint the `checkpoint` file points at (None before the first)."""
    state = workdir / "checkpoints" / "checkpoint"
    if not state.exists():
        return None
    match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
    return int(match.group(1)) if match else None


def _signal_mid_epoch(command, workdir, signum=signal.SIGKILL):
    """Start `command`; once its latest checkpoint is mid-epoch and past epoch 0, send it
    `signum`; return that checkpoint's step, the exit status and the standard error.

    The process is stopped (SIGSTOP) before the checkpoint is read again, so the signal lands while
    that checkpoint is still the latest.
    """
    process = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    sent_at = None
    while process.poll() is None:
        step = _latest(workdir)
        if step is not None and step > STEPS_PER_EPOCH and step % STEPS_PER_EPOCH:
            os.kill(process.pid, signal.SIGSTOP)
            step = _latest(workdir)
            if step % STEPS_PER_EPOCH:
                os.kill(process.pid, signum)
                sent_at = step
            os.kill(process.pid, signal.SIGCONT)
            if sent_at is not None:
                break
        time.sleep(0.01)
    try:
        stderr = process.communicate(timeout=300)[1]
    except subprocess.TimeoutExpired:  # Say where it hangs: train_run.py dumps its stacks.
        os.kill(process.pid, signal.SIGUSR1)
        time.sleep(2)
        process.kill()
        pytest.fail(f"the run went on 300 s after signal {signum} at step {sent_at}; its "
                    f"threads:\n{process.communicate()[1][-8000:]}")
    assert sent_at is not None, f"the run ended before the signal:\n{stderr[-3000:]}"
    return sent_at, process.returncode, stderr


def _kill_mid_epoch(command, workdir):
    killed_at, returncode, _ = _signal_mid_epoch(command, workdir)
    assert returncode == -signal.SIGKILL
    return killed_at


@pytest.fixture(scope="module",
                params=["memory", pytest.param("streaming", marks=pytest.mark.slow)])
def runs(request, tiny_cifar10, tmp_path_factory):
    """The uninterrupted run, and for each crash: its checkpoint state after the crash and the
    resumed run; with the images decoded in memory, and streamed from the folder."""
    pipeline = request.param
    tmp = tmp_path_factory.mktemp(f"resume_{pipeline}")
    work = {name: tmp / name for name in ("uninterrupted", "sigkill", "dies_in_save", "sigterm")}
    out = {name: tmp / f"{name}.npz" for name in work}

    def crash_dies_in_save():
        # The 5th save (after step 8) dies; the 4th (after step 6) stays the latest.
        crashed = _run(_command(out["dies_in_save"], work["dies_in_save"], tiny_cifar10,
                                pipeline, "--die-in-save", "5"))
        return crashed.returncode, _latest(work["dies_in_save"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        uninterrupted = pool.submit(
            _run, _command(out["uninterrupted"], work["uninterrupted"], tiny_cifar10, pipeline))
        killed_at = pool.submit(_kill_mid_epoch, _command(out["sigkill"], work["sigkill"],
                                                          tiny_cifar10, pipeline), work["sigkill"])
        died = pool.submit(crash_dies_in_save)
        terminated = pool.submit(_signal_mid_epoch, _command(
            out["sigterm"], work["sigterm"], tiny_cifar10, pipeline), work["sigterm"],
            signal.SIGTERM)
        crashes = {"sigkill": killed_at.result(), "dies_in_save": died.result()}
        sent_at, returncode, stderr = terminated.result()
        crashes["sigterm"] = {"sent_at": sent_at, "returncode": returncode, "stderr": stderr,
                              "latest": _latest(work["sigterm"])}
        partial_files = sorted(os.listdir(work["dies_in_save"] / "checkpoints"))
        resumed = {name: pool.submit(_run, _command(out[name], work[name], tiny_cifar10, pipeline))
                   for name in ("sigkill", "dies_in_save", "sigterm")}
        results = {"uninterrupted": uninterrupted.result(),
                   **{name: future.result() for name, future in resumed.items()}}
    for name, process in results.items():
        assert process.returncode == 0, f"{name} failed:\n{process.stderr[-3000:]}"
    return {"crashes": crashes, "partial_files": partial_files, "results": results,
            "weights": {name: np.load(path) for name, path in out.items()}}


def _resumed_from(process):
    match = RESUMING.search(process.stderr)
    assert match, f"no resume message in:\n{process.stderr[-3000:]}"
    return tuple(int(g) for g in match.groups())


def test_sigkill_mid_epoch_resumes_from_the_checkpointed_step(runs):
    killed_at = runs["crashes"]["sigkill"]
    checkpoint, epoch, step, iterations = _resumed_from(runs["results"]["sigkill"])
    assert checkpoint == killed_at
    assert epoch >= 1 and 0 < step < STEPS_PER_EPOCH  # mid-epoch, not an epoch boundary
    # The optimizer's iteration count (the learning-rate schedule's input) is the checkpoint's.
    assert iterations == epoch * STEPS_PER_EPOCH + step == checkpoint
    # The resumed run then ran the remaining steps only: TOTAL - checkpoint of them.
    assert int(runs["weights"]["sigkill"]["iterations"]) == TOTAL


def test_sigkill_then_resume_equals_an_uninterrupted_run(runs):
    """Measured: bitwise equal weights (BN statistics included)."""
    reference = runs["weights"]["uninterrupted"]
    assert int(reference["iterations"]) == TOTAL
    assert max_difference(runs["weights"]["sigkill"], reference) == 0


def test_crash_while_writing_a_checkpoint_leaves_the_previous_one(runs):
    returncode, latest = runs["crashes"]["dies_in_save"]
    assert returncode == -signal.SIGKILL
    assert latest == 6  # the interrupted checkpoint (step 8) was never recorded
    assert "ckpt-8.index" in runs["partial_files"]  # though its files were (partly) written
    assert _resumed_from(runs["results"]["dies_in_save"]) == (6, 1, 1, 6)
    assert max_difference(runs["weights"]["dies_in_save"], runs["weights"]["uninterrupted"]) == 0


def test_sigterm_saves_the_step_it_stopped_at_and_the_rerun_equals_an_uninterrupted_run(runs):
    preempted = runs["crashes"]["sigterm"]
    assert preempted["returncode"] == 42, preempted["stderr"][-3000:]
    epoch, step = divmod(preempted["latest"], STEPS_PER_EPOCH)
    assert (f"keras-ssl: stopped by signal {int(signal.SIGTERM)} at epoch {epoch}, step {step}"
            in preempted["stderr"])
    # Saved after the batch the signal came in: past the latest periodic checkpoint.
    assert preempted["latest"] > preempted["sent_at"]
    resumed = runs["results"]["sigterm"]
    assert _resumed_from(resumed) == (preempted["latest"], epoch, step, preempted["latest"])
    assert int(runs["weights"]["sigterm"]["iterations"]) == TOTAL
    assert max_difference(runs["weights"]["sigterm"], runs["weights"]["uninterrupted"]) == 0
