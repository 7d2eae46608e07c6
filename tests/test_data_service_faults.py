"""What a run on a tf.data service does when a server fails mid-run (issue 24).

The dispatcher and each worker run in a subprocess of their own on 127.0.0.1 (this file run as
a script) that stops by itself after 90 s or when its parent ends; the consumer runs in another.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.test_data_service import BATCH, N, _ids, _indexed_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 6
ENV = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
           PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))


def _server(kind, port, dispatcher="", work_dir=""):
    """Runs a dispatcher or a worker on 127.0.0.1:port (0: any) until 90 s or its parent end."""
    service = tf.data.experimental.service
    parent = os.getppid()
    if kind == "dispatcher":
        server = service.DispatchServer(service.DispatcherConfig(
            port=port, work_dir=work_dir or None, fault_tolerant_mode=bool(work_dir)))
    else:
        server = service.WorkerServer(service.WorkerConfig(
            dispatcher_address=dispatcher, worker_address="127.0.0.1:%port%", port=port,
            data_transfer_address="127.0.0.1:%dts_port%", heartbeat_interval_ms=200))
    print("PORT", server._address.rsplit(":", 1)[1] if kind == "worker"  # noqa: SLF001
          else server.target.rsplit(":", 1)[1], flush=True)
    end = time.time() + 90
    while time.time() < end and os.getppid() == parent:
        time.sleep(0.2)


def _start(*args):
    """A server subprocess and its port."""
    process = subprocess.Popen([sys.executable, __file__, "server", *map(str, args)], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return process, int(process.stdout.readline().split()[1])


def _consume(case, folder, work_dir):
    """Iterates a served run, making `case` happen after 9 batches; the batches and the error."""
    from keras_ssl.data import streaming_pretraining_dataset

    dispatcher, port = _start("dispatcher", 0, "", work_dir)
    address = f"127.0.0.1:{port}"
    worker, worker_port = _start("worker", 0, address)
    batches, error = [], None
    try:
        for batch in streaming_pretraining_dataset(f"folder:{folder}", BATCH, image_size=8, seed=7,
                                                   epochs=EPOCHS, service="grpc://" + address):
            batches.append(_ids(batch))
            if len(batches) == 9 and case == "worker_restart":  # killed, back on its address
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                worker, _ = _start("worker", worker_port, address)
            if len(batches) == 9 and case == "dispatcher_restart":
                dispatcher.kill()
                dispatcher.wait()
                dispatcher, _ = _start("dispatcher", port, "", work_dir)
    except tf.errors.OpError as e:
        error = e.message
    print("RESULT " + json.dumps({"batches": batches, "error": error}))


def _run(tmp_path, case, work_dir=""):
    folder = _indexed_folder(str(tmp_path / "images"))
    run = subprocess.run([sys.executable, __file__, "consume", case, folder, work_dir], env=ENV,
                         capture_output=True, text=True, timeout=240)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _every_image_once_per_epoch(batches):
    steps = N // BATCH
    epochs = [sum(batches[e * steps:(e + 1) * steps], []) for e in range(EPOCHS)]
    return len(batches) == EPOCHS * steps and all(sorted(e) == list(range(N)) for e in epochs)


def test_dispatcher_restart_with_its_journal_continues_with_every_image_once(tmp_path):
    out = _run(tmp_path, "dispatcher_restart", str(tmp_path / "journal"))
    assert out["error"] is None and _every_image_once_per_epoch(out["batches"])


def test_dispatcher_restart_without_journal_continues_or_stops_never_loses(tmp_path):
    # The new dispatcher does not know the job: a worker that needs its next epoch stops the run.
    out = _run(tmp_path, "dispatcher_restart")
    if out["error"] is None:  # the worker had taken every epoch before the restart
        assert _every_image_once_per_epoch(out["batches"])
    else:
        # TF's words vary with when the worker asks: the job "not found", or its hint that the
        # dispatcher "is not configured to be fault tolerant" (a restart).
        assert ("not found" in out["error"] or "fault tolerant" in out["error"]) and \
            len(out["batches"]) < EPOCHS * N // BATCH


def test_worker_lost_mid_run_stops_with_a_lost_batches_error(tmp_path):
    out = _run(tmp_path, "worker_restart")
    assert len(out["batches"]) < EPOCHS * N // BATCH  # its split is not redone (at most once)
    assert "The tf.data service lost batches of this run" in out["error"]
    assert "re-run the same keras-ssl train command" in out["error"]


def _tallied(positions, epochs=3, initial_epoch=0, first_step=0, per_epoch=3):
    """Runs EpochTally over batches at `positions`: the positions passed on, and the error."""
    from keras_ssl.data import BadImages
    from keras_ssl.data.service import EpochTally

    positions = np.array(positions, np.int64).reshape(-1, 2)
    ds = tf.data.Dataset.from_tensor_slices((positions, tf.fill([len(positions)], ""), positions))
    bad = BadImages()
    seen = []
    try:
        for out, _ in EpochTally(initial_epoch, epochs, first_step, per_epoch, bad).checked(ds):
            seen.append(tuple(out.numpy().tolist()))
    except tf.errors.OpError:
        pass
    return seen, bad.error and str(bad.error)


def test_epoch_tally_passes_interleaved_whole_epochs():
    # Two workers: epochs 0 and 1 interleave, then 2 (a resumed run starts mid-epoch).
    order = [(0, 0), (1, 0), (0, 1), (1, 1), (1, 2), (2, 0), (0, 2), (2, 1), (2, 2)]
    assert _tallied(order) == (order, None)
    assert _tallied([(1, 2), (2, 0), (2, 1), (2, 2)], initial_epoch=1, first_step=2) == (
        [(1, 2), (2, 0), (2, 1), (2, 2)], None)
    # A worker slow to begin its epoch (a loaded machine: seen in CI) while another delivers
    # whole epochs is not a lost one.
    late = [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2), (0, 0), (0, 1), (0, 2)]
    assert _tallied(late) == (late, None)


@pytest.mark.parametrize("positions, problem", [
    ([(0, 0), (0, 2)], "batch 2 of data epoch 0 arrived where batch 1 was next"),
    ([(0, 0), (0, 0)], "batch 0 of data epoch 0 arrived where batch 1 was next"),
    ([(0, 0), (0, 1), (0, 2), (2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2)],
     "the stream ended with data epoch 1 incomplete"),  # never began: known at the end
    ([(0, 0), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)],
     "data epoch 0 stopped at batch 1 of 3 while later epochs went on"),
    ([(0, 0), (0, 1), (0, 2), (1, 0)], "the stream ended with data epoch 1 incomplete"),
])
def test_epoch_tally_stops_on_lost_batches(positions, problem):
    seen, error = _tallied(positions, epochs=4 if positions[-1][0] == 3 else 3)
    assert problem in error and "Resume from the last checkpoint" in error
    assert len(seen) < len(positions) or "ended" in problem  # stopped at the batch that told


if __name__ == "__main__":
    if sys.argv[1] == "server":
        _server(sys.argv[2], int(sys.argv[3]), *sys.argv[4:])
    else:
        _consume(*sys.argv[2:])
