"""What failures do to a `keras-ssl` run: a bad image under on_bad_image=error (train and eval),
the bad-image counts of a resumed run, a NaN loss."""

import shutil
import subprocess
import sys

import keras
import pytest

from helpers import ROOT, run_cli, subprocess_env
from keras_ssl.cli import builders
from keras_ssl.cli.config import base_config
from keras_ssl.cli.workdir import Workdir

SCRIPT = ROOT / "tests" / "distributed" / "train_run.py"
TINY_RUN = [
    "--config=simclr_cifar10",
    "--config.encoder.width_multiplier=0.125",
    "--config.model.projection_hidden_dims=(32,)",
    "--config.train.warmup_epochs=0.0",
]


@pytest.fixture(scope="module")
def with_bad_images(tiny_cifar10, tmp_path_factory):
    """tiny_cifar10 with one undecodable file in each split."""
    root = tmp_path_factory.mktemp("bad") / "cifar"
    shutil.copytree(tiny_cifar10, root)
    for split in ("train", "test"):
        (root / split / "airplane" / "zz_bad.jpg").write_bytes(b"not a JPEG")
    return root


def _train_run(out, *args):
    """`keras-ssl` through tests/distributed/train_run.py (its fault injections, then `args`)."""
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args],
                          env=subprocess_env(), capture_output=True, text=True, timeout=600)


def _one_line_error(result):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("keras-ssl:")]
    assert len(lines) == 1
    return lines[0]


def test_train_with_on_bad_image_error_is_one_line(with_bad_images, tmp_path):
    result = run_cli("train", *TINY_RUN, f"--workdir={tmp_path / 'run'}",
                        f"--config.data.source=folder:{with_bad_images}",
                        "--config.data.pipeline=streaming", "--config.data.on_bad_image=error",
                        "--config.train.batch_size=27", "--config.train.epochs=1")
    message = _one_line_error(result)
    assert f"{with_bad_images}/train/airplane/zz_bad.jpg" in message
    assert "on_bad_image='skip'" in message


def test_eval_with_on_bad_image_error_is_one_line(with_bad_images, tmp_path):
    config = base_config("simclr")
    config.data.source = f"folder:{with_bad_images}"
    config.data.pipeline = "streaming"
    config.data.on_bad_image = "error"
    config.encoder.width_multiplier = 0.125
    wd = Workdir(tmp_path / "run")  # a finished run's workdir, its encoder untrained
    wd.save_config(config)
    keras.utils.set_random_seed(0)
    builders.build_encoder(config).save(wd.encoder_path)
    message = _one_line_error(run_cli("eval", f"--workdir={wd.path}", "--protocol=knn",
                                         "--random_init=none"))
    assert f"{with_bad_images}/train/airplane/zz_bad.jpg" in message


def _latest_checkpoint(workdir):
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(workdir / "checkpoints"))


def test_a_nan_loss_stops_the_run_naming_its_step_and_keeps_the_last_good_checkpoint(
        tiny_cifar10, tmp_path):
    """Batch 16 of 80 images: 5 steps an epoch. Checkpoints after steps 2 and 4 (every 2 steps);
    step 4's batch is NaN, so its loss and weights are: the run must stop there, and the step-4
    checkpoint (NaN weights) must never be written."""
    import numpy as np
    import tensorflow as tf

    workdir = tmp_path / "run"
    result = _train_run(
        tmp_path / "w.npz", "--nan-at-step", "4", "--", "train", *TINY_RUN, f"--workdir={workdir}",
        f"--config.data.source=folder:{tiny_cifar10}", "--config.data.pipeline=memory",
        "--config.train.batch_size=16", "--config.train.epochs=2",
        "--config.train.checkpoint_every_steps=2")
    message = _one_line_error(result)
    assert "loss became nan at step 4 of the run" in message and "learning rate" in message
    latest = _latest_checkpoint(workdir)
    assert latest.endswith("ckpt-2")
    assert not list((workdir / "checkpoints").glob("ckpt-4*"))
    reader = tf.train.load_checkpoint(latest)
    values = [reader.get_tensor(name) for name in reader.get_variable_to_shape_map()]
    floats = [v for v in values if np.asarray(v).dtype.kind == "f"]
    assert floats and all(np.isfinite(v).all() for v in floats)
    assert not (workdir / "encoder.keras").exists()  # the run is not finished


@pytest.fixture(scope="module")
def five_bad_images(tiny_cifar10, tmp_path_factory):
    """tiny_cifar10's 80 training images and 5 undecodable files: 5 steps of 16 an epoch."""
    root = tmp_path_factory.mktemp("five_bad") / "cifar"
    shutil.copytree(tiny_cifar10, root)
    for i in range(5):
        (root / "train" / "cat" / f"zz_bad{i}.jpg").write_bytes(b"not a JPEG")
    return root


def _streamed_run(source, workdir, out, *extra):
    return _train_run(out, *extra, "--", "train", *TINY_RUN, f"--workdir={workdir}",
                      f"--config.data.source=folder:{source}", "--config.data.pipeline=streaming",
                      "--config.data.max_bad_fraction=0.1", "--config.train.batch_size=16",
                      "--config.train.epochs=2")


def _bad_images_column(workdir):
    import csv

    with open(workdir / "history.csv") as f:
        return [(int(row["epoch"]), float(row["bad_images"])) for row in csv.DictReader(f)]


def test_bad_image_counts_of_a_run_preempted_mid_epoch_equal_an_uninterrupted_runs(
        five_bad_images, tmp_path):
    import tensorflow as tf

    uninterrupted = _streamed_run(five_bad_images, tmp_path / "a", tmp_path / "a.npz")
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    expected = _bad_images_column(tmp_path / "a")
    # Each bad file once per epoch it reads (epoch 0 ends before it reaches the last one).
    assert expected == [(0, 4.0), (1, 5.0)]

    # SIGTERM as step 8 (epoch 1, batch 3) begins: saved at epoch 1, step 3, then resumed.
    stopped = _streamed_run(five_bad_images, tmp_path / "b", tmp_path / "b.npz",
                            "--sigterm-at-step", "8")
    assert stopped.returncode == 42, stopped.stderr[-3000:]
    latest = _latest_checkpoint(tmp_path / "b")
    assert latest.endswith("ckpt-8")
    reader = tf.train.load_checkpoint(latest)
    counters = sorted(k for k in reader.get_variable_to_shape_map() if k.startswith("counters/"))
    # The saved count: epoch 1's bad files before its step 3, which the resumed run never reads.
    epoch, before = (int(reader.get_tensor(k)) for k in counters)
    assert epoch == 1 and before > 0
    resumed = _streamed_run(five_bad_images, tmp_path / "b", tmp_path / "b.npz")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _bad_images_column(tmp_path / "b") == expected


def test_a_checkpoint_with_counters_restores_with_and_without_them(tmp_path):
    """The run's checkpoint holds BadImagesLogger's counters; the evaluation's figures restore it
    into a method without them, and a resumed run gets them back."""
    import numpy as np
    import tensorflow as tf

    from keras_ssl.callbacks import TrainingCheckpoint
    from keras_ssl.data import BadImages, BadImagesLogger

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        m.optimizer.build(m.trainable_variables)
        return m

    bad = BadImages()
    bad.record(["a.jpg"], "skip", 10, "test", epoch=0, positions=[1])
    trained, logger = model(), BadImagesLogger(bad, examples_per_step=4)
    checkpoint = TrainingCheckpoint(str(tmp_path), 2, 1, counters=[logger])
    checkpoint.restore(trained)
    data = tf.data.Dataset.from_tensors((tf.ones([4, 3]), tf.zeros([4, 2]))).repeat()
    trained.fit(data, epochs=1, steps_per_epoch=2, callbacks=[checkpoint], verbose=0,
                shuffle=False)

    for counters in ([], [BadImagesLogger(BadImages(), 4)]):
        restored = model()
        assert TrainingCheckpoint(str(tmp_path), 2, counters=counters).restore(restored) == (1, 0)
        for a, b in zip(trained.weights, restored.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # (epoch 1, step 0): the counter holds epoch 1's skips before step 0.
    assert [int(v.numpy()) for v in counters[0].checkpoint_variables] == [1, 0]


COLLAPSE_WARNING = "the representation has collapsed"


def test_a_collapsed_run_warns_once_in_plain_words_and_a_healthy_run_does_not(tiny_cifar10,
                                                                             tmp_path):
    """`keras-ssl train` of a method that logs embedding_std (SimCLR) with an encoder that maps
    every image to the same features: embedding_std is ~0 in every epoch and the warning comes
    once, after the first. The same run with the real encoder: no warning."""
    import csv

    runs = {}
    for name, extra in (("collapsed", ["--constant-encoder"]), ("healthy", [])):
        workdir = tmp_path / name
        result = _train_run(
            tmp_path / f"{name}.npz", *extra, "--", "train", *TINY_RUN, f"--workdir={workdir}",
            f"--config.data.source=folder:{tiny_cifar10}", "--config.data.pipeline=memory",
            "--config.train.batch_size=16", "--config.train.epochs=2")
        assert result.returncode == 0, result.stderr[-3000:]
        with open(workdir / "history.csv") as f:
            stds = [float(row["embedding_std"]) for row in csv.DictReader(f)]
        runs[name] = result.stderr, stds
    stderr, stds = runs["collapsed"]
    assert len(stds) == 2 and max(stds) < 1e-6
    assert stderr.count(COLLAPSE_WARNING) == 1
    warning = next(line for line in stderr.splitlines() if COLLAPSE_WARNING in line)
    assert "in epoch 1" in warning and "learns nothing more" in warning
    stderr, stds = runs["healthy"]
    # 32-d projections: 1/sqrt(32) = 0.18 for perfectly spread embeddings.
    assert min(stds) > 0.05 and COLLAPSE_WARNING not in stderr


def test_collapse_warning_fires_once_under_its_threshold_and_says_so(caplog):
    from keras_ssl.callbacks import COLLAPSE_THRESHOLD, CollapseWarning

    assert COLLAPSE_THRESHOLD == pytest.approx(0.1 / 8192 ** 0.5)
    callback = CollapseWarning()
    healthy = 1 / 128 ** 0.5
    for epoch, value in enumerate([healthy, 0.5 * healthy, 2 * COLLAPSE_THRESHOLD]):
        callback.on_epoch_end(epoch, {"loss": 1.0, "embedding_std": value})
    callback.on_epoch_end(3, {"loss": 1.0})  # a method without the metric: nothing to say
    assert not [r for r in caplog.records if COLLAPSE_WARNING in r.getMessage()]
    for epoch, value in ((4, 0.5 * COLLAPSE_THRESHOLD), (5, 0.0)):
        callback.on_epoch_end(epoch, {"embedding_std": value})
    warnings = [r for r in caplog.records if COLLAPSE_WARNING in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    assert "in epoch 5" in warnings[0].getMessage()
