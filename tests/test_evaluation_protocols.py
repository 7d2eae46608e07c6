"""Tests for the evaluation protocols beyond kNN / linear: MLP probe, fine-tuning and label
subsets, retrieval, clustering, the online probe, the report, IDX sources, and `keras-ssl eval` on
an exported SavedModel, on Fashion-MNIST and on a workdir under every protocol."""

import functools
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from helpers import run_cli
from keras_ssl.data.sources import FASHION_MNIST_DIR, load_arrays, split_file_names
from keras_ssl.evaluation import (OnlineLinearProbe, SavedModelEncoder, balanced_subset,
                                  clustering_accuracy, clustering_scores, extract_features,
                                  finetune, kmeans_clustering, knn_accuracy, linear_probe,
                                  mlp_probe, nearest_neighbours, ranking_metrics,
                                  read_subset_file, retrieval_metrics)
from keras_ssl.evaluation import report
from keras_ssl.export import export_encoder


# --- MLP probe ---------------------------------------------------------------------------------

def test_mlp_probe_solves_xor_where_the_linear_probe_cannot():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3000, 2)).astype(np.float32)
    labels = (x[:, 0] * x[:, 1] > 0).astype(int)
    args = (x[:2000], labels[:2000], x[2000:], labels[2000:], 2)
    linear = linear_probe(*args, epochs=10, batch_size=128)
    mlp = mlp_probe(*args, hidden_dim=64, epochs=30, batch_size=128, learning_rate=0.01)
    assert linear["top1"] < 0.65  # XOR is not linearly separable: near chance
    assert mlp["top1"] > 0.9
    assert mlp["protocol"] == "mlp_probe" and mlp["hidden_dims"] == [64] and mlp["dropout"] == 0.2
    assert mlp_probe(*args, hidden_dim=8, epochs=2, seed=3) == mlp_probe(*args, hidden_dim=8,
                                                                        epochs=2, seed=3)


# --- label subsets -----------------------------------------------------------------------------

def test_balanced_subsets_are_balanced_deterministic_and_nested():
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(10), 500))  # 5000 train labels
    one = balanced_subset(labels, 0.01, seed=0)
    ten = balanced_subset(labels, 0.1, seed=0)
    assert np.bincount(labels[one], minlength=10).tolist() == [5] * 10
    assert np.bincount(labels[ten], minlength=10).tolist() == [50] * 10
    assert len(np.unique(ten)) == 500 and ten.min() >= 0 and ten.max() < 5000
    np.testing.assert_array_equal(one, balanced_subset(labels, 0.01, seed=0))
    assert not np.array_equal(one, balanced_subset(labels, 0.01, seed=1))
    assert set(one) <= set(ten)


def test_balanced_subset_refuses_a_class_too_small():
    labels = np.array([0] * 100 + [1] * 3)
    with pytest.raises(ValueError, match="class 1 has 3"):
        balanced_subset(labels, 0.1)


def _write_folder(root, per_split, size=16):
    """An image folder of 2 classes told apart by colour: red-ish (0) and blue-ish (1)."""
    rng = np.random.default_rng(0)
    for split, count in per_split.items():
        for label, name in enumerate(("blue", "red")):
            os.makedirs(root / split / name, exist_ok=True)
            for i in range(count):
                image = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
                image[..., 2 if label == 0 else 0] += 150
                Image.fromarray(image).save(root / split / name / f"{i:04d}.png")
    return root


def test_subset_file_of_names_maps_to_train_indices_and_refuses_test_images(tmp_path):
    root = _write_folder(tmp_path / "images", {"train": 5, "test": 3})
    names = split_file_names(f"folder:{root}", "train")
    assert len(names) == 10 and names[0].endswith("train/blue/0000.png")
    subset_file = tmp_path / "subset.txt"
    subset_file.write_text("# my labelled images\nred/0001.png\n\nblue/0004.png\n")
    np.testing.assert_array_equal(read_subset_file(subset_file, 10, names), [4, 6])
    subset_file.write_text("0004.png\n")  # in both class folders
    with pytest.raises(ValueError, match="matches 2 train files"):
        read_subset_file(subset_file, 10, names)
    subset_file.write_text("test/red/0001.png\n")
    with pytest.raises(ValueError, match="not a file of the train split"):
        read_subset_file(subset_file, 10, names)
    subset_file.write_text("3\n9\n")
    np.testing.assert_array_equal(read_subset_file(subset_file, 10), [3, 9])
    subset_file.write_text("3\n10\n")
    with pytest.raises(ValueError, match="index 10"):
        read_subset_file(subset_file, 10)


# --- fine-tuning -------------------------------------------------------------------------------

class _TrainOnlyBelowHalf(keras.layers.Layer):
    """Fails the graph if an image brighter than 0.5 is seen in training mode."""

    def call(self, x, training=False):
        if training:
            tf.debugging.assert_less(tf.reduce_max(x), 0.5, message="a test image was trained on")
        return x


def _encoder(size=16, width=16, spy=False):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    x = _TrainOnlyBelowHalf()(inputs) if spy else inputs
    x = keras.layers.Conv2D(width, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def _coloured(n, low, high, seed):
    """Images with pixels in [low, high); class 1 has a saturated red channel."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(low, high, (n, 16, 16, 3), dtype=np.uint8)
    images[labels == 1, :, :, 0] = high - 1
    return images, labels


def test_finetune_on_a_subset_learns_the_task():
    train_x, train_y = _coloured(400, 0, 128, seed=0)
    test_x, test_y = _coloured(100, 0, 128, seed=1)
    encoder = _encoder()
    before = [w.copy() for w in encoder.get_weights()]
    subset = balanced_subset(train_y, 0.25, seed=0)
    # 80 steps: enough for the batch-norm moving averages (momentum 0.99) that score the test
    # split to follow the fine-tuned weights.
    result = finetune(encoder, train_x, train_y, test_x, test_y, 2, subset=subset, epochs=20,
                      batch_size=32, learning_rate=0.1, crop_scale=(0.5, 1.0))
    assert result["num_labelled"] == 100 and result["label_fraction"] == 0.25
    assert result["top1"] > 0.9
    # The whole network was trained, not only the head.
    assert any(np.abs(b - a).max() > 1e-4 for b, a in zip(before, encoder.get_weights()))


def test_finetune_never_trains_on_test_images():
    # Train pixels are <= 127 and test pixels >= 128: the spy layer fails the run if a test
    # image reaches the encoder in training mode (crops and flips keep pixels in range).
    train_x, train_y = _coloured(200, 0, 128, seed=0)
    test_x, test_y = _coloured(50, 128, 256, seed=1)
    result = finetune(_encoder(spy=True), train_x, train_y, test_x, test_y, 2,
                      subset=balanced_subset(train_y, 0.5, seed=0), epochs=2, batch_size=32)
    assert result["num_test"] == 50
    # The spy does fire on a bright image in training mode.
    with pytest.raises(tf.errors.InvalidArgumentError, match="test image"):
        _encoder(spy=True)(tf.ones((1, 16, 16, 3)), training=True)


def test_finetune_rejects_a_subset_outside_the_train_split():
    images = np.zeros((10, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="subset"):
        finetune(_encoder(), images, np.zeros(10, int), images, np.zeros(10, int), 2,
                 subset=np.array([3, 10]))


# --- retrieval ---------------------------------------------------------------------------------

def test_retrieval_with_known_neighbours():
    # Gallery on the unit circle at 0, 10, 20, 90, 100 degrees; labels 0, 0, 1, 1, 0.
    angles = np.deg2rad([0, 10, 20, 90, 100])
    gallery = np.stack([np.cos(angles), np.sin(angles)], 1) * np.array([[1], [3], [0.5], [2], [1]])
    gallery_labels = np.array([0, 0, 1, 1, 0])
    queries = np.array([[1.0, 0.02], [0.0, 5.0]])  # ~1 degree and 90 degrees
    sims, idx = nearest_neighbours(queries, gallery, k=3)
    np.testing.assert_array_equal(idx, [[0, 1, 2], [3, 4, 2]])
    np.testing.assert_allclose(sims[1], np.cos(np.deg2rad([0, 10, 70])), atol=1e-6)

    metrics = retrieval_metrics(gallery, gallery_labels, queries, np.array([0, 1]), ks=(1, 3))
    # Query 0 (class 0) ranks labels 0, 0, 1: relevant at ranks 1, 2 -> AP 1.
    # Query 1 (class 1) ranks labels 1, 0, 1: relevant at ranks 1, 3 -> AP (1 + 2/3) / 2.
    assert metrics["recall@1"] == 1.0 and metrics["precision@1"] == 1.0
    assert metrics["precision@3"] == pytest.approx(2 / 3)
    assert metrics["map@3"] == pytest.approx((1.0 + 5 / 6) / 2)
    wrong = retrieval_metrics(gallery, gallery_labels, queries, np.array([1, 0]), ks=(1, 3))
    # Query 0 as class 1: relevant at rank 3 -> AP 1/3; query 1 as class 0: rank 2 -> AP 1/2.
    assert wrong["recall@1"] == 0.0 and wrong["recall@3"] == 1.0
    assert wrong["map@3"] == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_ranking_metrics_match_a_loop_reference():
    rng = np.random.default_rng(0)
    relevant = rng.random((50, 20)) < 0.3
    metrics = ranking_metrics(relevant, ks=(5, 20))
    for k in (5, 20):
        aps = []
        for row in relevant[:, :k]:
            hits = [i for i in range(k) if row[i]]
            aps.append(np.mean([row[:i + 1].sum() / (i + 1) for i in hits]) if hits else 0.0)
        assert metrics[f"map@{k}"] == pytest.approx(np.mean(aps))
        assert metrics[f"recall@{k}"] == pytest.approx(np.mean(relevant[:, :k].any(1)))


# --- clustering --------------------------------------------------------------------------------

def test_clustering_scores_on_known_cases():
    labels = np.repeat(np.arange(4), 50)
    assert clustering_scores(labels, labels) == {"nmi": 1.0, "ari": 1.0, "accuracy": 1.0}
    permuted = np.array([2, 0, 3, 1])[labels]  # same partition, other cluster ids
    assert clustering_scores(labels, permuted) == pytest.approx(
        {"nmi": 1.0, "ari": 1.0, "accuracy": 1.0})
    random = np.random.default_rng(0).integers(0, 4, len(labels))
    scores = clustering_scores(labels, random)
    assert scores["nmi"] < 0.05 and abs(scores["ari"]) < 0.05 and scores["accuracy"] < 0.4
    # Hand case: clusters {0,0,1}, {1,1,1}: best map c0->0, c1->1 matches 2 + 3 of 6.
    assert clustering_accuracy([0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1]) == pytest.approx(5 / 6)
    # More clusters than classes: the unmatched cluster's examples count as wrong.
    assert clustering_accuracy([0, 0, 0, 0], [0, 0, 1, 2]) == 0.5


def test_kmeans_clustering_recovers_separated_classes():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((5, 8)) * 10
    labels = rng.integers(0, 5, 600)
    features = centres[labels] + rng.standard_normal((600, 8))
    result = kmeans_clustering(features[:400], features[400:], labels[400:], 5, seed=0)
    assert result["accuracy"] == 1.0 and result["nmi"] > 0.99
    assert result["fit_split"] == "train" and result["num_test"] == 200


# --- online probe ------------------------------------------------------------------------------

def test_online_probe_logs_accuracy_and_leaves_the_encoder_alone():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 512)
    images = rng.integers(0, 60, (512, 16, 16, 3), dtype=np.uint8)
    images[labels == 1, ..., 1] += 180
    encoder = _encoder()

    # A stand-in for a method's fit, which leaves the encoder alone.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = [w.copy() for w in encoder.get_weights()]
    probe = OnlineLinearProbe(images, labels, num_classes=2, batch_size=64, learning_rate=0.05,
                              encoder=encoder)
    dummy = np.zeros((640, 1), np.float32)
    history = model.fit(dummy, dummy, batch_size=32, epochs=3, verbose=0, callbacks=[probe])
    accuracy = history.history["online_probe_top1"]
    assert len(accuracy) == 3 and accuracy[-1] > 0.9 and accuracy[-1] >= accuracy[0]
    assert all(np.array_equal(b, a) for b, a in zip(before, encoder.get_weights()))


# --- report ------------------------------------------------------------------------------------

def test_report_writes_table_and_figures(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(20) % 2
    grid = report.plot_retrieval_grid(tmp_path / "grid.png", images[:3], images,
                                      np.array([[1, 2], [3, 4], [5, 6]]), labels[:3], labels)
    embedding = report.plot_embedding(tmp_path / "pca.png", rng.standard_normal((20, 5)), labels)
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss,val_loss\n0,2.0,NA\n1,1.5,NA\n")
    curves = report.plot_history(tmp_path / "curves.png", history)
    for path in (grid, embedding, curves):
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert report.plot_history(tmp_path / "none.png", tmp_path / "missing.csv") is None
    md = report.write_report(tmp_path / "report.md", "Eval", {"a": {"x": 0.5}, "b": {"y": 0.25}},
                             figures={"grid": grid, "missing": None})
    text = open(md).read()
    assert "| a | 50.00 | - |" in text and "| b | - | 25.00 |" in text
    assert "![grid](grid.png)" in text and "missing" not in text


# --- IDX / Fashion-MNIST source ----------------------------------------------------------------

def _write_idx(path, array):
    import gzip
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_source_reads_grey_images_to_rgb_at_the_requested_size(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9])
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    x, y, names = load_arrays(f"idx:{tmp_path}", "test")
    assert x.shape == (6, 28, 28, 3)
    np.testing.assert_array_equal(x[..., 1], images)
    np.testing.assert_array_equal(y, labels)
    assert names == [str(i) for i in range(10)]
    x32, _, names = load_arrays(f"fashion_mnist:{tmp_path}", "test", image_size=32)
    assert x32.shape == (6, 32, 32, 3) and names[9] == "Ankle boot"
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_arrays(f"idx:{tmp_path}", "train")


# --- keras-ssl eval end to end -----------------------------------------------------------------

keras_ssl = functools.partial(run_cli, check=True)


@keras.saving.register_keras_serializable(package="test_only")
class _Double(keras.layers.Layer):
    """A layer whose code exists only in this test module: loading the encoder needs it."""

    def call(self, x):
        return 2.0 * x


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A SavedModel of an encoder with a custom layer, and the features it gives."""
    work = tmp_path_factory.mktemp("saved")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(24, 3, padding="same", activation="relu")(_Double()(inputs))
    encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    export_encoder(encoder, work / "export", image_size=16)
    return work, encoder


def test_saved_model_from_export_evaluates_with_no_model_code(exported, tmp_path):
    work, encoder = exported
    root = _write_folder(tmp_path / "images", {"train": 30, "test": 10})
    out = tmp_path / "eval"
    keras_ssl("eval", f"--encoder={work / 'export'}", f"--data=folder:{root}",
              f"--output_dir={out}", "--protocol=knn,retrieval,cluster")
    metrics = json.loads((out / "metrics.json").read_text())
    # The subprocess could not have rebuilt the Keras model: _Double lives only here.
    assert metrics["encoder"]["format"] == "saved_model"
    train_x, train_y, _ = load_arrays(f"folder:{root}", "train")
    test_x, test_y, _ = load_arrays(f"folder:{root}", "test")
    expected = knn_accuracy(extract_features(encoder, train_x), train_y,
                            extract_features(encoder, test_x), test_y, 2, k=60)
    assert metrics["knn_top1"] == pytest.approx(expected) and expected > 0.9
    assert metrics["protocols"]["cluster"]["encoder"]["accuracy"] > 0.9
    for name in ("metrics_knn.json", "metrics_retrieval.json", "report.md",
                 "retrieval_grid.png", "embedding_pca.png"):
        assert (out / name).exists(), name
    # The wrapper gives the Keras encoder's features.
    np.testing.assert_allclose(extract_features(SavedModelEncoder(work / "export"), test_x),
                               extract_features(encoder, test_x), atol=1e-5)


def test_finetune_trains_a_saved_model_encoder_as_it_trains_the_keras_one(exported):
    work, encoder = exported
    saved = SavedModelEncoder(work / "export")
    assert saved.image_size == (16, 16) and saved.output_dim == 24
    train_x, train_y = _coloured(64, 0, 128, seed=0)
    # The same fine-tuning of a Keras copy of the encoder (the path shown above to learn the task):
    # the SavedModel's variables must follow it step for step.
    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    args = (train_x, train_y, train_x[:16], train_y[:16], 2)
    kwargs = dict(epochs=2, batch_size=32, learning_rate=1.0)
    result, expected = finetune(saved, *args, **kwargs), finetune(copy, *args, **kwargs)
    moved = [np.abs(a - b).max() for a, b in zip(copy.get_weights(), encoder.get_weights())]
    assert max(moved) > 1e-3  # far above the tolerances below
    assert len(saved.trainable_variables) == len(copy.trainable_weights)
    for got, want in zip(saved.trainable_variables, copy.trainable_weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-6)
    assert result["train_loss"] == pytest.approx(expected["train_loss"], rel=1e-5)
    assert result["top1"] == expected["top1"]
    # The files are untouched: a fresh load still gives the Keras encoder's features.
    np.testing.assert_allclose(extract_features(SavedModelEncoder(work / "export"), train_x),
                               extract_features(encoder, train_x), atol=1e-5)


FASHION_MNIST_TEST = os.path.join(FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz")


@pytest.mark.skipif(not os.path.isfile(FASHION_MNIST_TEST),
                    reason=f"Fashion-MNIST not installed in {FASHION_MNIST_DIR} (apt-get install "
                           "dataset-fashion-mnist; .ci/run does it)")
def test_transfer_to_a_small_fashion_mnist_subset(exported, tmp_path):
    work, _ = exported
    out = tmp_path / "fashion"
    keras_ssl("eval", f"--encoder={work / 'export'}", "--data=fashion_mnist:",
              f"--output_dir={out}", "--max_train_examples=1000", "--max_test_examples=300",
              "--protocol=knn,linear,cluster")
    metrics = json.loads((out / "metrics.json").read_text())
    dataset = metrics["dataset"]
    assert dataset["source"] == "fashion_mnist:" and dataset["image_size"] == [16, 16]
    assert dataset["num_train"] == 1000 and dataset["num_test"] == 300
    assert dataset["classes"][0] == "T-shirt/top"
    # Chance is 0.1; even random conv features of grey clothes are far above it.
    assert metrics["knn_top1"] > 0.3 and metrics["linear_top1"] > 0.3


def test_eval_of_a_workdir_under_every_protocol(tmp_path):
    from keras_ssl.cli import builders
    from keras_ssl.cli.config import base_config
    from keras_ssl.cli.workdir import Workdir

    root = _write_folder(tmp_path / "images", {"train": 40, "test": 10})
    config = base_config("simclr")
    config.data.source = f"folder:{root}"
    config.data.image_size = 16
    config.encoder.width_multiplier = 0.0625
    config.encoder.stem_stride = 2
    config.eval.linear_epochs = 3
    wd = Workdir(tmp_path / "run")
    wd.save_config(config)
    builders.build_encoder(config).save(wd.encoder_path)
    with open(wd.history_path, "w") as f:
        f.write("epoch,loss\n0,5.0\n1,4.0\n")
    keras_ssl("eval", f"--workdir={wd.path}", "--protocol=all", "--random_init=all",
              "--finetune_epochs=1", "--semi_epochs=1", "--finetune_batch_size=16",
              "--semi_fractions=0.25")
    metrics = json.loads(open(wd.metrics_path).read())
    for key in ("knn_top1", "linear_top1", "linear_top5", "random_init_knn_top1"):
        assert 0.0 <= metrics[key] <= 1.0, key
    semi = metrics["protocols"]["semi"]["encoder"]["subsets"]
    assert list(semi) == ["25%"] and semi["25%"]["num_labelled"] == 20
    assert semi["25%"]["subset_split"] == "train"
    for protocol in ("knn", "linear", "mlp", "finetune", "semi", "retrieval", "cluster"):
        per_protocol = json.loads(open(os.path.join(wd.path, f"metrics_{protocol}.json")).read())
        assert set(per_protocol["results"]) == {"encoder", "random_init"}, protocol
        assert per_protocol["dataset"]["num_test"] == 20
        assert per_protocol["transfer"] is False
    text = open(os.path.join(wd.path, "report.md")).read()
    assert "| trained encoder |" in text and "| random init (same architecture) |" in text
    assert "pretraining_curves.png" in text
