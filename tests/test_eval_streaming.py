"""`keras-ssl eval` on streamed sources: streamed features equal in-memory ones, eval_source and
unlabeled sources, and a whole evaluation with the workdir and the data on TensorFlow's ram://."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.cli import UsageError, builders
from keras_ssl.cli.config import base_config, data_config
from keras_ssl.cli.evaluate import EvalOptions, evaluate
from keras_ssl.cli.workdir import Workdir
from keras_ssl.data import LabelledSplit, load_arrays, streaming_eval_dataset
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


def test_auto_streams_above_memory_limit_and_refuses_finetune_naming_the_limit(tiny_cifar10,
                                                                               tmp_path):
    # 80 train images at 32x32 are 0.23 MB decoded.
    wd = _run(tmp_path / "run", f"folder:{tiny_cifar10}")
    metrics = evaluate(wd.path, EvalOptions(protocols=("knn",), random_init=(),
                                            memory_limit_mb=0.1))
    assert metrics["dataset"]["pipeline"] == {"train": "streaming", "test": "memory"}
    assert metrics["dataset"]["num_train"] == 80
    with pytest.raises(UsageError, match=r"memory_limit_mb=0.1.*--memory_limit_mb"):
        evaluate(wd.path, EvalOptions(protocols=("finetune",), random_init=(),
                                      memory_limit_mb=0.1))


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
