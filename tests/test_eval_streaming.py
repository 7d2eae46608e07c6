"""`keras-ssl eval` on streamed sources: streamed features equal in-memory ones, eval_source and
unlabeled sources, and a whole evaluation with the workdir and the data on TensorFlow's ram://."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import run_cli
from keras_ssl.cli import UsageError, builders
from keras_ssl.cli.config import base_config, data_config
from keras_ssl.cli.evaluate import EvalOptions, evaluate
from keras_ssl.cli.workdir import Workdir
from keras_ssl.data import LabelledSplit, labelled, load_arrays, streaming_eval_dataset
from keras_ssl.encoders import ResNet
from keras_ssl.evaluation import extract_dataset_features, extract_features


def _run(root, source, **data):
    """A workdir with a config on `source` and a tiny random encoder (no training needed)."""
    config = base_config("simclr")
    config.data.source = source
    config.encoder.width_multiplier = 0.125
    config.eval.linear_epochs = 2
    for key, value in data.items():
        config.data[key] = value
    wd = Workdir(str(root))
    wd.save_config(config)
    keras.utils.set_random_seed(0)
    builders.build_encoder(config).save(wd.encoder_path)
    return wd


def test_streamed_features_equal_in_memory_features(tiny_cifar10):
    encoder = ResNet(depth=18, width_multiplier=0.125, input_shape=(32, 32, 3))
    source = f"folder:{tiny_cifar10}"
    images, labels, _ = load_arrays(source, "train", 32)
    streamed, streamed_labels = extract_dataset_features(
        encoder, streaming_eval_dataset(source, 24, 32, split="train"))  # 24 does not divide 80
    np.testing.assert_allclose(streamed, extract_features(encoder, images), atol=1e-6)
    np.testing.assert_array_equal(streamed_labels, labels)


def test_a_labelled_split_hands_out_the_same_rows_in_memory_and_streamed(tiny_cifar10):
    rows = {}
    for pipeline in ("memory", "streaming"):
        d = data_config()
        d.pipeline = pipeline
        split = LabelledSplit(f"folder:{tiny_cifar10}", "train", (32, 32), 30, d, 1024.0)
        assert split.pipeline == pipeline
        batches = list(split.batches(16).as_numpy_iterator())
        rows[pipeline] = (np.concatenate([x for x, _ in batches]),
                          np.concatenate([y for _, y in batches]), split.images([3, 1]))
    for memory, streamed in zip(rows["memory"], rows["streaming"]):
        np.testing.assert_array_equal(memory, streamed)
    assert len(rows["memory"][0]) == 30


def test_streamed_and_in_memory_evaluations_agree(tiny_cifar10, tmp_path):
    """The same run evaluated with its splits decoded in memory and streamed."""
    metrics = {}
    for pipeline in ("memory", "streaming"):
        wd = _run(tmp_path / pipeline, f"folder:{tiny_cifar10}", pipeline=pipeline)
        metrics[pipeline] = evaluate(wd.path, EvalOptions(protocols=("knn", "retrieval"),
                                                          random_init=()))
        assert metrics[pipeline]["dataset"]["pipeline"] == {"train": pipeline, "test": pipeline}
        assert os.path.getsize(os.path.join(wd.path, "retrieval_grid.png")) > 1000
    assert metrics["streaming"]["knn"] == metrics["memory"]["knn"]
    assert (metrics["streaming"]["protocols"]["retrieval"] ==
            metrics["memory"]["protocols"]["retrieval"])


def test_auto_streams_above_memory_limit(tiny_cifar10, tmp_path):
    # 80 train images at 32x32 are 0.23 MB decoded.
    wd = _run(tmp_path / "run", f"folder:{tiny_cifar10}")
    metrics = evaluate(wd.path, EvalOptions(protocols=("knn",), random_init=(),
                                            memory_limit_mb=0.1))
    assert metrics["dataset"]["pipeline"] == {"train": "streaming", "test": "memory"}
    assert metrics["dataset"]["num_train"] == 80


def test_streamed_finetune_and_semi_equal_in_memory_ones(tiny_cifar10, tmp_path):
    """Fine-tuning and the 1% / 10% subsets with both splits streamed (forced by the memory limit)
    train on the same rows in the same order as in memory: the folder's pipeline is deterministic,
    so the two runs are bit-equal."""
    options = dict(protocols=("finetune", "semi"), random_init=(), finetune_epochs=2,
                   semi_epochs=2, semi_fractions=(0.1, 0.25), finetune_batch_size=16)
    metrics = {}
    for limit in (1024.0, 0.01):
        wd = _run(tmp_path / str(limit), f"folder:{tiny_cifar10}")
        metrics[limit] = evaluate(wd.path, EvalOptions(**options, memory_limit_mb=limit))
    pipeline = "streaming"
    assert metrics[0.01]["dataset"]["pipeline"] == {"train": pipeline, "test": pipeline}
    assert metrics[1024.0]["dataset"]["pipeline"] == {"train": "memory", "test": "memory"}
    streamed, in_memory = (m["protocols"] for m in (metrics[0.01], metrics[1024.0]))
    assert streamed == in_memory
    subsets = streamed["semi"]["encoder"]["subsets"]
    assert [subsets[name]["num_labelled"] for name in ("10%", "25%")] == [10, 20]
    assert streamed["finetune"]["encoder"]["num_labelled"] == 80
    assert streamed["finetune"]["encoder"]["num_test"] == 20


def test_keras_ssl_eval_streams_semi_on_a_subset_file_of_names_as_in_memory(tiny_cifar10,
                                                                            tmp_path):
    """`keras-ssl eval --protocol=semi --subset_file=...` in its own process with the splits
    streamed, against the same evaluation in memory: the names pick the same rows, bit-equal."""
    subset = tmp_path / "subset.txt"  # SimCLR's format: one file name a line (here with its class)
    subset.write_text("# 2 images a class\n" + "".join(
        f"{cls}/{name}\n" for cls in sorted(os.listdir(tiny_cifar10 / "train"))
        for name in sorted(os.listdir(tiny_cifar10 / "train" / cls))[2:4]))
    settings = dict(semi_epochs=2, finetune_batch_size=8, subset_file=str(subset))
    streamed = _run(tmp_path / "streamed", f"folder:{tiny_cifar10}")
    run_cli("eval", f"--workdir={streamed.path}", "--protocol=semi", "--random_init=none",
            "--memory_limit_mb=0.01", *(f"--{key}={value}" for key, value in settings.items()),
            check=True)
    with open(streamed.metrics_path) as f:
        metrics = json.load(f)
    assert metrics["dataset"]["pipeline"] == {"train": "streaming", "test": "streaming"}
    semi = metrics["protocols"]["semi"]["encoder"]["subsets"]["subset.txt"]
    assert semi["num_labelled"] == 20 and semi["num_train_split"] == 80
    in_memory = evaluate(_run(tmp_path / "memory", f"folder:{tiny_cifar10}").path, EvalOptions(
        protocols=("semi",), random_init=(), **settings))
    assert in_memory["dataset"]["pipeline"] == {"train": "memory", "test": "memory"}
    assert semi == in_memory["protocols"]["semi"]["encoder"]["subsets"]["subset.txt"]


def test_streamed_semi_decodes_only_its_subset(tiny_cifar10, tmp_path):
    """An unreadable train image outside the subset is never read: with the default bad-image
    policy (at most 1% of 81 images, so none) reading it would stop the evaluation."""
    root = tmp_path / "data"
    shutil.copytree(tiny_cifar10, root)
    (root / "train" / "cat" / "zz.jpg").write_bytes(b"not a jpeg")
    subset = tmp_path / "subset.txt"
    subset.write_text("\n".join(str(i) for i in range(1, 81, 8)))  # zz.jpg is row 32
    metrics = evaluate(_run(tmp_path / "run", f"folder:{root}").path, EvalOptions(
        protocols=("semi",), random_init=(), memory_limit_mb=0.01, semi_epochs=1,
        finetune_batch_size=8, subset_file=str(subset)))
    assert metrics["dataset"]["pipeline"]["train"] == "streaming"
    assert metrics["dataset"]["num_train"] == 81
    assert "bad_images_skipped_train" not in metrics["dataset"]
    assert metrics["protocols"]["semi"]["encoder"]["subsets"]["subset.txt"]["num_labelled"] == 10


def _write(path, images, labels=None):
    """PNG images as TFRecords (`labels` given) or files, numbered in order."""
    if labels is None:
        for i, image in enumerate(images):
            tf.io.write_file(path.format(i=i), tf.io.encode_png(image))
        return
    with tf.io.TFRecordWriter(path) as writer:
        for image, label in zip(images, labels):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[tf.io.encode_png(image).numpy()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))})
            ).SerializeToString())


def test_fine_tuning_reads_a_record_split_s_rows_once_an_epoch_shuffled_in_windows(
        tmp_path, monkeypatch):
    # 3 files of 10 records; record i's pixels are i (so rows can be told apart).
    for part in range(3):
        _write(str(tmp_path / f"train-{part}.tfrecord"),
               np.arange(10 * part, 10 * part + 10, dtype=np.uint8)[:, None, None, None]
               * np.ones((1, 4, 4, 3), np.uint8), np.arange(10) % 3)
    split = LabelledSplit(f"tfrecord:{tmp_path}/{{split}}-*.tfrecord", "train", (4, 4), None,
                          data_config(), 1024.0)
    assert split.pipeline == "streaming"
    np.testing.assert_array_equal(split.listed_labels, np.tile(np.arange(10) % 3, 3))
    monkeypatch.setattr(labelled, "RECORD_SHUFFLE_WINDOW", 3)
    rows = np.array([29, 1, 17, 5, 8, 2, 12])  # in source order: windows {1, 2, 5} {8, 12, 17} {29}
    batches = list(split.training_batches(((rows, [0, e]) for e in range(2)), 4))
    assert [int(e) for e, _, _ in batches] == [0, 0, 1, 1]
    orders = []
    for epoch in (0, 1):
        images = np.concatenate([x for e, x, _ in batches if e == epoch])
        labels = np.concatenate([y for e, _, y in batches if e == epoch])
        order = images[:, 0, 0, 0].astype(int)
        np.testing.assert_array_equal(labels, split.listed_labels[order])
        assert [sorted(order[i:i + 3]) for i in (0, 3, 6)] == [[1, 2, 5], [8, 12, 17], [29]]
        orders.append(order.tolist())
    assert orders[0] != orders[1]  # Each epoch has its own shuffle.
    assert orders[0] != sorted(orders[0])


def test_fine_tuning_skips_a_bad_image_it_meets_and_chooses_subsets_without_decoding(tmp_path):
    for cls in ("a", "b"):
        os.makedirs(tmp_path / "train" / cls)
        _write(str(tmp_path / "train" / cls / "{i}.png"), np.full((4, 4, 4, 3), 9, np.uint8))
    (tmp_path / "train" / "b" / "2.png").write_bytes(b"not a png")
    d = data_config()
    d.pipeline, d.max_bad_fraction = "streaming", 0.5
    split = LabelledSplit(f"folder:{tmp_path}", "train", (4, 4), None, d, 1024.0)
    # The listing gives the labels: the bad image is among the rows, not yet met.
    np.testing.assert_array_equal(split.listed_labels, [0, 0, 0, 0, 1, 1, 1, 1])
    assert not split.bad.names
    batches = list(split.training_batches(iter([(np.arange(8)[::-1], [0, 0])]), 8))
    assert len(batches) == 1 and len(batches[0][1]) == 7
    np.testing.assert_array_equal(batches[0][2], [1, 1, 1, 0, 0, 0, 0])
    assert split.bad.names == {str(tmp_path / "train" / "b" / "2.png")}


def test_max_examples_pick_the_same_images_streamed(tiny_cifar10, tmp_path):
    results = {}
    for pipeline in ("memory", "streaming"):
        wd = _run(tmp_path / pipeline, f"folder:{tiny_cifar10}", pipeline=pipeline)
        results[pipeline] = evaluate(wd.path, EvalOptions(
            protocols=("knn",), random_init=(), max_train_examples=30, max_test_examples=7))
    assert results["streaming"]["dataset"]["num_train"] == 30
    assert results["streaming"]["dataset"]["num_test"] == 7
    assert results["streaming"]["knn"] == results["memory"]["knn"]


def _flat_folder(labelled, root):
    os.makedirs(root)
    for i, name in enumerate(sorted(os.listdir(os.path.join(labelled, "train", "cat")))):
        shutil.copy(os.path.join(labelled, "train", "cat", name), os.path.join(root, f"{i}.jpg"))
    return root


def test_unlabeled_eval_data_is_a_usage_error_naming_eval_source_and_data(tiny_cifar10,
                                                                          tmp_path):
    flat = _flat_folder(tiny_cifar10, str(tmp_path / "flat"))
    wd = _run(tmp_path / "run", f"folder:{flat}")
    for options in (EvalOptions(), EvalOptions(data=f"folder:{flat}")):
        with pytest.raises(UsageError, match="needs labels") as error:
            evaluate(wd.path, options)
        assert "--config.data.eval_source=folder:" in str(error.value)
        assert "keras-ssl eval --data=folder:" in str(error.value)


def test_bad_data_sources_are_usage_errors(tmp_path, tiny_cifar10):
    wd = _run(tmp_path / "run", f"folder:{tiny_cifar10}")
    with pytest.raises(UsageError, match=r"missing does not exist"):
        evaluate(wd.path, EvalOptions(data=f"folder:{tmp_path / 'missing'}"))
    with pytest.raises(UsageError, match=r"\{split\}"):
        evaluate(wd.path, EvalOptions(data=f"tfrecord:{tmp_path}/*.tfrecord"))
    with pytest.raises(UsageError, match="needs --data"):
        evaluate(None, EvalOptions(encoder=str(tmp_path / "export")))


def test_eval_source_is_used_when_set(tiny_cifar10, tmp_path):
    flat = _flat_folder(tiny_cifar10, str(tmp_path / "flat"))
    wd = _run(tmp_path / "run", f"folder:{flat}", eval_source=f"folder:{tiny_cifar10}")
    metrics = evaluate(wd.path, EvalOptions(protocols=("knn",), random_init=()))
    assert metrics["dataset"]["source"] == f"folder:{tiny_cifar10}"
    assert metrics["dataset"]["num_train"] == 80 and metrics["dataset"]["num_test"] == 20
    assert metrics["pretrained_on"] == f"folder:{flat}" and metrics["transfer"] is False
    assert metrics["output_dir"] == wd.path


def _to_ram(local, remote):
    for folder, _, files in os.walk(local):
        target = remote + folder[len(local):]
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(os.path.join(folder, name), f"{target}/{name}", overwrite=True)


def test_eval_with_workdir_and_data_on_ram_filesystem(tiny_cifar10):
    data = "ram://eval_stream_test/data"
    _to_ram(str(tiny_cifar10), data)
    wd = _run("ram://eval_stream_test/run", f"folder:{data}", pipeline="streaming")
    with tf.io.gfile.GFile(wd.history_path, "w") as f:
        f.write("epoch,loss\n0,5.0\n1,4.0\n")
    evaluate(wd.path, EvalOptions(protocols=("linear",), random_init=()))
    # Again: ram:// "w" appends, so the files must be replaced, not written twice over.
    evaluate(wd.path, EvalOptions(protocols=("knn", "linear")))
    with tf.io.gfile.GFile(wd.metrics_path) as f:
        metrics = json.load(f)
    assert 0.0 <= metrics["knn_top1"] <= 1.0 and 0.0 <= metrics["linear_top1"] <= 1.0
    assert metrics["dataset"]["num_train"] == 80 and metrics["dataset"]["source"] == f"folder:{data}"
    assert metrics["encoder"]["path"] == wd.encoder_path
    for name in ("metrics_knn.json", "metrics_linear.json", "report.md", "retrieval_grid.png",
                 "embedding_pca.png", "pretraining_curves.png"):
        assert tf.io.gfile.exists(f"{wd.path}/{name}"), name
    assert not os.path.exists("ram:")  # Nothing went to a local folder named after the scheme.


def test_eval_output_and_subset_file_on_ram_filesystem(small_cifar10, tmp_path):
    """Without Workdir: the output directory and the subset file on ram://, data local."""
    wd = _run(tmp_path / "run", f"folder:{small_cifar10}")
    subset = "ram://eval_stream_test/subset.txt"
    with tf.io.gfile.GFile(subset, "w") as f:
        f.write("\n".join(str(i) for i in range(0, 400, 20)))
    out = "ram://eval_stream_test/out"
    metrics = evaluate(wd.path, EvalOptions(
        protocols=("knn", "semi"), random_init=(), output_dir=out, subset_file=subset,
        semi_epochs=1, finetune_batch_size=16))
    semi = metrics["protocols"]["semi"]["encoder"]["subsets"]["subset.txt"]
    assert semi["num_labelled"] == 20 and semi["num_train_split"] == 400
    with tf.io.gfile.GFile(f"{out}/metrics.json") as f:
        assert json.load(f)["knn_top1"] == metrics["knn_top1"]
    assert tf.io.gfile.exists(f"{out}/retrieval_grid.png")
