"""The streaming pipeline on a tf.data service: a dispatcher and workers on 127.0.0.1, in a
subprocess of their own (this file run as a script) that ends, and stops them, after its checks.

The images are 8x8 PNGs whose pixels are their index, read back from the batches.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N, BATCH, EPOCHS = 24, 4, 3  # 6 steps per epoch


def _indexed_folder(root, n=N):
    os.makedirs(os.path.join(root, "train"))
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(os.path.join(root, f"train/{i:02d}.png"))
    return root


def _ids(batch):
    return np.asarray(batch)[:, 0, 0, 0].tolist()


def _servers(workers):
    """A dispatcher and `workers` workers on ephemeral loopback ports; the dispatcher address."""
    service = tf.data.experimental.service
    dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
    address = "127.0.0.1:" + dispatcher.target.rsplit(":", 1)[1]
    servers = [dispatcher] + [service.WorkerServer(service.WorkerConfig(
        dispatcher_address=address, worker_address="127.0.0.1:%port%",
        data_transfer_address="127.0.0.1:%dts_port%")) for _ in range(workers)]
    return "grpc://" + address, servers


def _child(folder, cifar):
    """The checks' observations, as JSON for the test process to assert on."""
    import keras

    from keras_ssl.data import BadImages, BadImagesLogger, streaming_pretraining_dataset

    address, servers = _servers(workers=1)
    out = {}

    class Recorder(keras.Model):
        """A linear model on the images that records the image ids of every training batch."""

        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)
            self.seen = []

        def train_step(self, images):
            self.seen.append(_ids(images))
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self.dense(
                    tf.reshape(tf.cast(images, tf.float32) / 255.0, [BATCH, -1])) - 1.0))
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables),
                                 self.trainable_variables)
            return {"objective": loss}  # not "loss": Keras would report its own tracker

    def dataset(**kwargs):
        return streaming_pretraining_dataset(f"folder:{folder}", BATCH, image_size=8, seed=7,
                                             epochs=EPOCHS, **kwargs)

    model = Recorder()
    model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    history = model.fit(dataset(service=address, job_name="fit"), epochs=EPOCHS,
                        steps_per_epoch=N // BATCH, shuffle=False, verbose=0)
    out["fit_batches"] = model.seen
    out["fit_loss"] = history.history["objective"]
    out["local_batches"] = [_ids(b) for b in dataset()]
    out["resumed_batches"] = [_ids(b) for b in dataset(
        service=address, job_name="fit", initial_epoch=1, initial_step=2)]

    bad, local_bad = BadImages(), BadImages()  # a broken file: skipped on the worker, reported here
    with open(os.path.join(folder, "train", "zz_bad.png"), "wb") as f:
        f.write(b"\x89PNG not really a png")
    skipped = [_ids(b) for b in dataset(service=address, bad_images=bad, max_bad_fraction=0.1)]
    logs = {}
    BadImagesLogger(bad).on_epoch_end(0, logs)
    out["bad"] = {"batches": skipped, "count": bad.count, "names": sorted(bad.names),
                  "logged": logs["bad_images"],
                  "local_batches": [_ids(b) for b in dataset(bad_images=local_bad,
                                                             max_bad_fraction=0.1)],
                  "local_count": local_bad.count}
    try:
        list(dataset(service=address, on_bad_image="error"))
        out["bad"]["error"] = None
    except tf.errors.OpError as e:
        out["bad"]["error"] = e.message
    os.remove(os.path.join(folder, "train", "zz_bad.png"))

    two_workers, more = _servers(workers=2)  # a second cluster
    servers += more
    out["two_workers_batches"] = [_ids(b) for b in dataset(service=two_workers)]

    if cifar:  # keras-ssl train --config.data.service=...: SimCLR's views made on the worker
        import tempfile

        from keras_ssl.cli.config import load_recipe, validate_config
        from keras_ssl.cli.train import train

        config = load_recipe("quickstart_simclr")
        config.data.source = f"folder:{cifar}"
        config.data.service = address
        config.encoder.width_multiplier = 0.125
        config.train.batch_size, config.train.epochs = 16, 2
        workdir = tempfile.mkdtemp()
        simclr = train(validate_config(config), workdir)
        with open(os.path.join(workdir, "history.csv")) as f:
            history = f.read().splitlines()
        out["simclr"] = {"history": history, "steps": int(simclr.optimizer.iterations.numpy())}
    print("RESULT " + json.dumps(out))


@pytest.fixture(scope="module")
def served(tmp_path_factory, request):
    folder = _indexed_folder(str(tmp_path_factory.mktemp("service_images")))
    cifar = request.getfixturevalue("tiny_cifar10") if _has_cifar(request) else ""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, __file__, folder, str(cifar)], env=env,
                         capture_output=True, text=True, timeout=600)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-5000:]
    return json.loads(lines[-1][len("RESULT "):]), folder


def _has_cifar(request):
    try:
        request.getfixturevalue("cifar10_dir")
        return True
    except pytest.skip.Exception:
        return False


def _epochs(batches, steps=N // BATCH):
    return [sum(batches[e * steps:(e + 1) * steps], []) for e in range(len(batches) // steps)]


def test_fit_on_the_service_sees_every_image_once_per_epoch(served):
    out, _ = served
    epochs = _epochs(out["fit_batches"])
    assert len(out["fit_batches"]) == EPOCHS * N // BATCH and len(epochs) == EPOCHS
    assert all(sorted(e) == list(range(N)) for e in epochs)
    assert epochs[0] != epochs[1]  # a new order every epoch
    assert out["fit_loss"][-1] < out["fit_loss"][0]  # it trained
    # One worker: the batches, in the order of the local pipeline.
    assert out["fit_batches"] == out["local_batches"]


def test_resume_on_the_service_continues_the_uninterrupted_run(served):
    out, _ = served
    assert out["resumed_batches"] == out["local_batches"][N // BATCH + 2:]


def test_two_workers_split_the_epochs_without_repeating_or_missing_a_batch(served):
    out, _ = served
    batches = out["two_workers_batches"]
    assert len(batches) == EPOCHS * N // BATCH
    # Each worker makes whole epochs: the batches are the local ones, each once, in any order.
    assert sorted(map(tuple, batches)) == sorted(map(tuple, out["local_batches"]))
    assert sorted(sum(batches, [])) == sorted(list(range(N)) * EPOCHS)


def test_bad_images_are_skipped_on_the_worker_and_reported_here(served):
    out, folder = served
    bad, path = out["bad"], os.path.join(folder, "train", "zz_bad.png")
    assert len(bad["batches"]) == EPOCHS * N // BATCH  # 25 files, 24 good: 6 full batches
    assert all(sorted(e) == list(range(N)) for e in _epochs(bad["batches"]))
    # As without the service (an epoch whose remainder holds the bad file does not read it).
    assert bad["batches"] == bad["local_batches"]
    assert bad["count"] == bad["local_count"] >= 1 and bad["logged"] == bad["count"]
    assert bad["names"] == [path]
    assert path in bad["error"] and "on_bad_image='error'" in bad["error"]


def test_cli_trains_simclr_from_views_made_on_the_service(served):
    out, _ = served
    if "simclr" not in out:
        pytest.skip("CIFAR-10 archive not found")
    history = out["simclr"]["history"]
    assert out["simclr"]["steps"] == 2 * 80 // 16
    assert len(history) == 3 and "bad_images" in history[0] and "nan" not in "".join(history)


def test_refusals_name_the_problem(tmp_path):
    from keras_ssl.data import distribute_to_service, pretraining_dataset, streaming_pretraining_dataset

    with pytest.raises(ValueError, match="grpc://host:port.*'localhost:5050'"):
        distribute_to_service(tf.data.Dataset.range(3), "localhost:5050")
    calls_python = tf.data.Dataset.range(3).map(lambda x: tf.py_function(lambda v: v, [x], tf.int64))
    with pytest.raises(ValueError, match="py_function"):
        distribute_to_service(calls_python, "grpc://127.0.0.1:1")
    in_memory = pretraining_dataset(None, 2, arrays=(np.zeros((4, 4, 4, 3), np.uint8), np.zeros(4, int)))
    with pytest.raises(ValueError, match="cardinality.*streaming_pretraining_dataset"):
        distribute_to_service(in_memory, "grpc://127.0.0.1:1")
    folder = _indexed_folder(str(tmp_path), 4)
    with pytest.raises(ValueError, match="needs epochs"):
        streaming_pretraining_dataset(f"folder:{folder}", 2, image_size=8,
                                      service="grpc://127.0.0.1:1")


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
