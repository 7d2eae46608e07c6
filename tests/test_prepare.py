"""`keras-ssl prepare`: a folder (or a record source) converted into TFRecord shards and a
manifest that the training pipeline reads instead of listing; every image once with its own bytes
and label, bad images skipped and counted, resumable after a SIGKILL, and refused clearly when
the manifest is missing or corrupt."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from helpers import run_cli, subprocess_env
from keras_ssl.data import encoded_source, streaming_eval_dataset, streaming_steps_per_epoch
from keras_ssl.data.prepare import prepare_shards
from keras_ssl.data.records import MANIFEST


def _records(folder, name=None):
    """(image bytes, label or None) of every record of shard `name` (default all, in order)."""
    out = []
    for name in [name] if name else sorted(n for n in os.listdir(folder)
                                           if n.endswith(".tfrecord")):
        for record in tf.data.TFRecordDataset(os.path.join(folder, name)).as_numpy_iterator():
            feature = tf.train.Example.FromString(record).features.feature
            label = feature["label"].int64_list.value[0] if "label" in feature else None
            out.append((feature["image"].bytes_list.value[0], label))
    return out


def _manifest(folder):
    with open(os.path.join(folder, MANIFEST)) as f:
        return json.load(f)


@pytest.fixture
def labelled(tiny_cifar10, tmp_path):
    """tiny_cifar10's 80 train JPEGs in 10 class folders, a PNG and a file that is no image."""
    root = tmp_path / "src"
    shutil.copytree(os.path.join(tiny_cifar10, "train"), root / "train")
    Image.fromarray(np.full((9, 7, 3), 200, np.uint8)).save(root / "train" / "cat" / "grey.png")
    (root / "train" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return root


def _expected(root):
    """{file bytes: class index} of the good images of `root`/train, and the bad file's path."""
    classes = sorted(os.listdir(root / "train"))
    good = {}
    for label, name in enumerate(classes):
        for file in os.listdir(root / "train" / name):
            if file != "broken.jpg":
                good[(root / "train" / name / file).read_bytes()] = label
    return good, classes, str(root / "train" / "dog" / "broken.jpg")


def test_round_trip_every_image_once_with_its_own_bytes_and_label(labelled, tmp_path):
    out = str(tmp_path / "shards")
    manifest = prepare_shards(f"folder:{labelled}", out, shards=3, log=lambda _: None)
    good, classes, broken = _expected(labelled)
    records = _records(out)
    assert len(records) == len(good) == 81
    assert dict(records) == good  # every image, bytes identical, its class index
    assert len({image for image, _ in records}) == 81  # none twice
    assert manifest == _manifest(out)
    assert manifest["count"] == 81 and manifest["classes"] == classes
    counts = [s["count"] for s in manifest["shards"]]  # 82 files dealt 28, 27, 27; one bad
    assert sum(counts) == 81 and all(26 <= c <= 28 for c in counts)
    assert [len(_records(out, s["file"])) for s in manifest["shards"]] == counts
    assert manifest["bad_images"] == {"count": 1, "names": [broken]}
    # Dealt from a permutation: every shard holds several classes, not a run of one or two.
    assert all(len({label for _, label in _records(out, s["file"])}) >= 6
               for s in manifest["shards"])

    stream = encoded_source(f"tfrecord:{out}")
    assert (stream.num_examples, stream.labeled, stream.class_names) == (81, True, classes)
    labels = np.concatenate([y for _, y in streaming_eval_dataset(
        f"tfrecord:{out}", 16, 8, with_labels=True).as_numpy_iterator()])
    assert sorted(labels.tolist()) == sorted(good.values())
    assert not encoded_source(f"tfrecord:{out}", label_key=None).labeled


def test_steps_per_epoch_come_from_the_manifest_without_reading_a_record(labelled, tmp_path):
    out = tmp_path / "shards"
    manifest = prepare_shards(f"folder:{labelled}", str(out), shards=4, log=lambda _: None)
    for shard in manifest["shards"]:  # records nobody could read
        (out / shard["file"]).write_bytes(b"garbage")
    stream = encoded_source(f"tfrecord:{out}")
    assert stream.num_examples == 81
    assert streaming_steps_per_epoch(stream, 8) == 10
    # Two input pipelines get two shards each: the smaller pair's images // 4.
    counts = [s["count"] for s in manifest["shards"]]
    assert streaming_steps_per_epoch(stream, 8, 2) == min(counts[0] + counts[2],
                                                          counts[1] + counts[3]) // 4


def test_max_side_reencodes_only_the_larger_images(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    y, x = np.mgrid[:300, :200]
    large = np.stack([x, y % 256, (x + y) % 256], -1).astype(np.uint8)
    Image.fromarray(large).save(root / "large.png")
    Image.fromarray(large[:50, :40]).save(root / "small.jpg", quality=90)
    out = str(tmp_path / "shards")
    prepare_shards(f"folder:{root}", out, shards=1, max_side=100, log=lambda _: None)
    images = {len(image): image for image, label in _records(out)}
    small = (root / "small.jpg").read_bytes()
    assert small in images.values()  # within max_side: its own bytes
    resized = tf.io.decode_jpeg(next(v for v in images.values() if v != small)).numpy()
    assert resized.shape == (100, 67, 3)  # the longer side at max_side, the aspect ratio kept
    reference = tf.image.resize(large, (100, 67), antialias=True).numpy()
    assert np.abs(resized - reference).mean() < 3  # JPEG quality 95


def test_a_record_source_is_resharded_in_runs_across_its_files(labelled, tmp_path):
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    prepare_shards(f"folder:{labelled}", first, shards=3, log=lambda _: None)
    manifest = prepare_shards(f"tfrecord:{first}", second, shards=5, log=lambda _: None)
    assert _records(second) == _records(first)  # in their stored order
    assert [s["count"] for s in manifest["shards"]] == [16, 16, 16, 16, 17]
    assert manifest["classes"] == _manifest(first)["classes"]


def _indexed_folder(root, n):
    """n 6x6 PNGs, each of its own colour (so that every file's bytes differ)."""
    os.makedirs(root)
    for i in range(n):
        Image.fromarray(np.full((6, 6, 3), (i, 255 - i, i // 2), np.uint8)).save(
            os.path.join(root, f"{i:03d}.png"))
    return root


def test_a_killed_conversion_finishes_on_a_rerun_without_duplicates_or_gaps(tmp_path):
    source = _indexed_folder(str(tmp_path / "src"), 90)
    out, shards = tmp_path / "shards", 30
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_ssl.cli.main", "prepare", f"folder:{source}",
         f"--output={out}", f"--shards={shards}", "--workers=1"],
        env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finished = []
    while process.poll() is None and len(finished) < 3:
        finished = sorted(n for n in os.listdir(out) if n.endswith(".tfrecord")) \
            if out.exists() else []
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 3 <= len(finished) < shards, process.stderr.read()[-2000:]
    assert not (out / MANIFEST).exists()
    before = {n: (out / n).stat() for n in os.listdir(out) if n.endswith(".tfrecord")}

    result = run_cli("prepare", f"folder:{source}", f"--output={out}", f"--shards={shards}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(before)} of {shards} shards already written" in result.stdout
    assert f"90 images in {shards} shards in {out}" in result.stdout
    manifest = _manifest(out)
    files = sorted(os.listdir(source))
    records = _records(out)
    assert sorted(image for image, _ in records) == sorted(
        open(os.path.join(source, f), "rb").read() for f in files)  # each once, none missing
    assert manifest["count"] == len(records) == 90 and manifest["label_key"] is None
    assert sum(s["count"] for s in manifest["shards"]) == 90
    for name, stat in before.items():  # finished shards were kept, not written again
        assert (out / name).stat().st_mtime_ns == stat.st_mtime_ns
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_the_command_needs_one_source_and_an_output(tmp_path):
    result = run_cli("prepare", f"--output={tmp_path}")
    assert result.returncode == 2 and "takes one source" in result.stderr
    result = run_cli("prepare", f"folder:{tmp_path}")
    assert result.returncode == 2 and "needs --output" in result.stderr


def test_a_rerun_keeps_a_finished_conversion_and_refuses_other_settings(labelled, tmp_path):
    out = tmp_path / "shards"
    manifest = prepare_shards(f"folder:{labelled}", str(out), shards=3, log=lambda _: None)
    stats = {n: (out / n).stat().st_mtime_ns for n in os.listdir(out)}
    lines = []
    assert prepare_shards(f"folder:{labelled}", str(out), shards=3, log=lines.append) == manifest
    assert lines == [f"3 of 3 shards already written in {out}; converting the other 0."]
    assert all((out / n).stat().st_mtime_ns == t for n, t in stats.items() if n != MANIFEST)
    with pytest.raises(ValueError, match="shards 3 there, 4 now"):
        prepare_shards(f"folder:{labelled}", str(out), shards=4)
    with pytest.raises(ValueError, match="read into memory whole"):
        prepare_shards("idx:/data/mnist", str(tmp_path / "x"))
    with pytest.raises(ValueError, match="more than the 82 images"):
        prepare_shards(f"folder:{labelled}", str(tmp_path / "y"), shards=100)


@pytest.mark.parametrize("damage, message", [
    ("no manifest", "is a folder without manifest.json"),
    ("not json", "is not a readable manifest of `keras-ssl prepare`"),
    ("no shards key", "is not a readable manifest of `keras-ssl prepare`"),
    ("wrong count", "says 80 images but its shards hold 81"),
    ("missing shard", "names 1 shards that are not in"),
])
def test_a_missing_or_corrupt_manifest_is_refused_naming_it_and_the_fix(
        labelled, tmp_path, damage, message):
    out = tmp_path / "shards"
    prepare_shards(f"folder:{labelled}", str(out), shards=3, log=lambda _: None)
    manifest = _manifest(out)
    if damage == "no manifest":
        (out / MANIFEST).unlink()
    elif damage == "not json":
        (out / MANIFEST).write_text('{"count": 81, "shards": [')
    elif damage == "no shards key":
        (out / MANIFEST).write_text(json.dumps({k: v for k, v in manifest.items()
                                                if k != "shards"}))
    elif damage == "wrong count":
        (out / MANIFEST).write_text(json.dumps({**manifest, "count": 80}))
    else:
        (out / manifest["shards"][1]["file"]).unlink()
    with pytest.raises(ValueError, match=message) as error:
        encoded_source(f"tfrecord:{out}")
    assert "keras-ssl prepare" in str(error.value) and str(out) in str(error.value)


def test_training_and_eval_from_prepared_shards_on_the_command_line(tiny_cifar10, tmp_path):
    for split in ("train", "test"):
        prepare_shards(f"folder:{tiny_cifar10}", str(tmp_path / "shards" / split), split=split,
                shards=2, log=lambda _: None)
    workdir = tmp_path / "run"
    result = run_cli("train", "--config=quickstart_simclr", f"--workdir={workdir}",
                     f"--config.data.source=tfrecord:{tmp_path}/shards/train",
                     f"--config.data.eval_source=tfrecord:{tmp_path}/shards/{{split}}",
                     "--config.train.epochs=1", "--config.train.batch_size=16")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "80 training images (streaming pipeline), 5 steps per epoch" in result.stderr
    assert len((workdir / "history.csv").read_text().splitlines()) == 2
    result = run_cli("eval", f"--workdir={workdir}", "--protocol=knn", "--random_init=none")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["dataset"]["num_train"] == 80 and metrics["dataset"]["num_test"] == 20

    (tmp_path / "shards" / "train" / MANIFEST).write_text("{")
    result = run_cli("train", "--config=quickstart_simclr", f"--workdir={tmp_path / 'run2'}",
                     f"--config.data.source=tfrecord:{tmp_path}/shards/train")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{tmp_path}/shards/train/{MANIFEST} is not a readable manifest" in result.stderr
