"""The `keras-ssl` command end to end on a small real image folder: train, resume, eval, export, preview."""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import run_cli

# Small and fast: a 1/8-width ResNet-18 for 2 epochs on 400 CIFAR-10 images.
TINY = [
    "--config.encoder.width_multiplier=0.125",
    "--config.model.projection_hidden_dims=(64,)",
    "--config.train.batch_size=64",
    "--config.train.epochs=2",
    "--config.train.warmup_epochs=0.5",
    "--config.eval.linear_epochs=2",
]


keras_ssl = functools.partial(run_cli, check=True)


@pytest.fixture(scope="module")
def trained(small_cifar10, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run") / "simclr"
    # With the online probe on, one run serves the probe's test too (it leaves the encoder alone).
    args = ["train", "--config=simclr_cifar10", f"--workdir={workdir}",
            f"--config.data.source=folder:{small_cifar10}", *TINY,
            "--config.eval.online_probe=True"]
    first = keras_ssl(*args)
    return workdir, args, first


def test_train_writes_the_workdir(trained):
    workdir, _, _ = trained
    for name in ("config.json", "encoder.keras", "history.csv", "checkpoints", "logs"):
        assert (workdir / name).exists(), name
    history = (workdir / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 2  # header + 2 epochs
    config = json.loads((workdir / "config.json").read_text())
    assert config["encoder"]["width_multiplier"] == 0.125


def test_checkpoint_writes_log_no_tensorflow_info_lines(trained):
    _, _, first = trained
    output = first.stdout + first.stderr
    assert "steps per epoch" in output  # keras_ssl's own INFO lines are kept
    assert "Sharding callback" not in output


def test_rerun_resumes_instead_of_restarting(trained):
    workdir, args, _ = trained
    before = os.path.getmtime(workdir / "history.csv")
    again = keras_ssl(*args)
    # All epochs were done: BackupAndRestore restores epoch 2 of 2, so no epoch runs again.
    assert "Epoch 1/2" not in again.stdout + again.stderr
    assert len((workdir / "history.csv").read_text().strip().splitlines()) == 3
    assert os.path.getmtime(workdir / "history.csv") == before


def test_rerun_with_another_config_is_refused(trained):
    workdir, args, _ = trained
    result = keras_ssl(*args, "--config.model.temperature=0.2", check=False)
    _refused_cleanly(result, "model.temperature", "another config")


def _knn_top1(encoder, folder, config):
    """Weighted kNN top-1 (k and temperature of the run's config) of `encoder` on the folder."""
    from keras_ssl.data import load_arrays
    from keras_ssl.evaluation import extract_features, knn_accuracy

    (train_x, train_y, _), (test_x, test_y, _) = (load_arrays(f"folder:{folder}", split)
                                                  for split in ("train", "test"))
    return knn_accuracy(extract_features(encoder, train_x), train_y,
                        extract_features(encoder, test_x), test_y, 10,
                        k=min(config.eval.knn_k, len(train_x)),
                        temperature=config.eval.knn_temperature)


def test_eval_and_export(trained, small_cifar10, tmp_path):
    import keras

    from keras_ssl.cli import builders
    from keras_ssl.cli.workdir import Workdir

    workdir, _, _ = trained
    keras_ssl("eval", f"--workdir={workdir}")
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert 0.0 <= metrics["linear_top1"] <= 1.0
    assert metrics["dataset"]["num_test"] == 100
    # The kNN accuracies written are those of the trained encoder.keras and of the run's
    # architecture at random init (seeded by the run's seed), recomputed here.
    config = Workdir(str(workdir)).load_config()
    trained_knn = _knn_top1(keras.models.load_model(workdir / "encoder.keras"), small_cifar10,
                            config)
    keras.utils.set_random_seed(config.seed)
    random_knn = _knn_top1(builders.build_whole_image_encoder(config), small_cifar10, config)
    assert metrics["knn_top1"] == pytest.approx(trained_knn, abs=1e-9)
    assert metrics["random_init_knn_top1"] == pytest.approx(random_knn, abs=1e-9)
    assert trained_knn != random_knn  # so the two cannot be told apart by luck

    out = tmp_path / "encoder"
    keras_ssl("export", f"--workdir={workdir}", f"--output={out}")
    assert (out / "saved_model.pb").exists()
    again = keras_ssl("export", f"--workdir={workdir}", f"--output={out}", check=False)
    _refused_cleanly(again, f"{out} is not empty", "--overwrite")


@pytest.mark.parametrize("recipe", ["simclr_cifar10", "rotnet_cifar10"])
def test_preview_writes_a_png(recipe, small_cifar10, tmp_path):
    png = tmp_path / "views.png"
    keras_ssl("preview", f"--config={recipe}", f"--output={png}",
              f"--config.data.source=folder:{small_cifar10}", "--num_images=4")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_online_probe_is_logged_per_epoch(trained):
    workdir, _, _ = trained
    header, *rows = (workdir / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 2
    for row in rows:
        accuracy = float(row.split(",")[header.split(",").index("online_probe_top1")])
        assert 0.0 <= accuracy <= 1.0


def test_rotnet_trains(small_cifar10, tmp_path):
    workdir = tmp_path / "rotnet"
    keras_ssl("train", "--config=rotnet_cifar10", f"--workdir={workdir}",
              f"--config.data.source=folder:{small_cifar10}",
              "--config.encoder.width_multiplier=0.125", "--config.train.batch_size=32",
              "--config.train.epochs=1", "--config.train.warmup_epochs=0")
    history = (workdir / "history.csv").read_text().splitlines()
    assert history[0].split(",")[:3] == ["epoch", "loss", "rotation_accuracy"]
    loss = float(history[1].split(",")[1])
    assert np.isfinite(loss)


@pytest.mark.parametrize("override, message", [
    ("--config.train.epoch=3", "epoch"),  # a key that does not exist
    ("--config.train.optimizer=adam", "train.optimizer"),
    ("--config.train.batch_size=0", "train.batch_size"),
    ("--config.augment.blur_probability=1.5", "augment.blur_probability"),
    ("--config.encoder.depth=20", "encoder.depth"),
])
def test_bad_config_is_refused_naming_the_key(override, message, tmp_path):
    result = keras_ssl("train", "--config=simclr_cifar10",
                       f"--workdir={tmp_path / 'run'}", override, check=False)
    _refused_cleanly(result, message)
    assert not (tmp_path / "run" / "checkpoints").exists()


def _refused_cleanly(result, *fragments):
    """A user error: exit status 2, one message naming the problem, no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr[-3000:])


def test_eval_and_export_of_a_folder_that_is_not_a_run(tmp_path):
    for command in ("eval", "export"):
        result = keras_ssl(command, f"--workdir={tmp_path}", check=False)
        _refused_cleanly(result, f"keras-ssl: {tmp_path}", "config.json",
                         "--workdir of a `keras-ssl train` run")


@pytest.mark.parametrize("config, problem", [
    ("{tmp}/missing.py", "config file {tmp}/missing.py does not exist"),
    ("{tmp}", "config file {tmp} is a directory"),
    ("simclr", "no recipe is named 'simclr'"),
])
def test_missing_config_file_or_unknown_recipe(config, problem, tmp_path):
    config, problem = (s.format(tmp=tmp_path) for s in (config, problem))
    for arguments in ([f"--config={config}"], [f"--config={config}", "--config.train.epochs=3"],
                      ["--config", config]):
        result = keras_ssl("train", *arguments, f"--workdir={tmp_path / 'run'}", check=False)
        _refused_cleanly(result, problem, "pass a recipe name (", "quickstart_simclr, ",
                         "`keras-ssl recipes` describes them) or the path of a recipe file.")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, message", [
    ("--config.train.batchsize=3",
     "keras-ssl: config key 'train.batchsize' does not exist; did you mean 'train.batch_size'?\n"),
    ("--config.trian.epochs=3",
     "keras-ssl: config key 'trian.epochs' does not exist; did you mean 'train.epochs'?\n"),
    ("--config.train.zzz=3", "keras-ssl: config key 'train.zzz' does not exist; check"),
])
def test_unknown_config_key_is_one_clean_line(override, message, tmp_path):
    result = keras_ssl("train", "--config=simclr_cifar10",
                       f"--workdir={tmp_path / 'run'}", override, check=False)
    _refused_cleanly(result, message)
    assert "\\" not in result.stderr and "Did you mean" not in result.stderr


def test_traceback_flag_shows_the_traceback_of_a_user_error(tmp_path):
    result = keras_ssl("export", f"--workdir={tmp_path}", "--traceback", check=False)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "config.json not found" in result.stderr


def test_a_bug_keeps_its_traceback(tmp_path):
    # A ValueError that is not keras_ssl's own validation is a bug, not a user error.
    script = ("import sys, keras_ssl.cli.export as export, keras_ssl.cli.main as main\n"
              "def export_(*args):\n"
              "    raise ValueError('a bug')\n"
              "export.export = export_\n"
              "main.run(['keras-ssl', 'export', '--workdir=' + sys.argv[1]])\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)],
                            capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ValueError: a bug" in result.stderr


def test_unknown_command():
    result = keras_ssl("fit", check=False)
    assert result.returncode == 2 and "unknown command" in result.stderr
