"""Memory or streaming, for every kind of source: the answers of training's choice, of an
evaluation's labelled split and of `streaming_eval_dataset`, as a table (issue 23 moved the three
rules into one function; these answers were written down before it and must not move, but for
one on purpose: "auto" now streams a `tfrecord:` training split, which `load_arrays` cannot read)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.cli import UsageError, builders
from keras_ssl.cli.config import data_config, load_recipe, validate_config
from keras_ssl.data import LabelledSplit, streaming, streaming_eval_dataset

BIG, SMALL = 1024.0, 0.1  # memory_limit_mb; 80 images of 32x32 are 0.23 MB decoded
SERVICE = "grpc://localhost:5050"


def _records(path, n, labelled):
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(n):
            image = np.full((32, 32, 3), i, np.uint8)
            feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[tf.io.encode_png(image).numpy()]))}
            if labelled:
                feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2]))
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())


def _idx(root, n):
    for prefix in ("train", "t10k"):
        images = np.zeros((n, 28, 28), np.uint8)
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(
            b"\0\0\x08\x03" + np.array([n, 28, 28], ">i4").tobytes() + images.tobytes())
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(
            b"\0\0\x08\x01" + np.array([n], ">i4").tobytes() + (np.arange(n) % 2).astype(
                np.uint8).tobytes())


@pytest.fixture(scope="module")
def sources(tiny_cifar10, tmp_path_factory):
    """Source values by name: 80 train images of 32x32 each (8 for IDX)."""
    root = tmp_path_factory.mktemp("choice")
    for split in ("train", "test"):
        _records(str(root / f"{split}-labelled.tfrecord"), 80, True)
        _records(str(root / f"{split}-unlabelled.tfrecord"), 80, False)
    flat = root / "flat"
    flat.mkdir()
    for i in range(80):
        tf.io.write_file(str(flat / f"{i}.png"), tf.io.encode_png(np.zeros((32, 32, 3), np.uint8)))
    (root / "idx").mkdir()
    _idx(root / "idx", 8)
    return {"folder": f"folder:{tiny_cifar10}", "flat folder": f"folder:{flat}",
            "tfrecord": f"tfrecord:{root}/{{split}}-labelled.tfrecord",
            "unlabelled tfrecord": f"tfrecord:{root}/{{split}}-unlabelled.tfrecord",
            "idx": f"idx:{root / 'idx'}"}


def _label_key(source):
    return None if "unlabelled" in source else "label"  # records declare their label feature


def train_pipeline(source, pipeline, limit, image_size=32, service=None, max_examples=None):
    """Training's choice for the train split (`keras-ssl train`)."""
    config = load_recipe("quickstart_simclr")
    config.data.update(dict(source=source.replace("{split}", "train"), pipeline=pipeline,
                            memory_limit_mb=limit, image_size=image_size, service=service,
                            max_train_examples=max_examples, label_key=_label_key(source)))
    return builders.choose_pipeline(validate_config(config))


def eval_pipeline(source, pipeline, limit, image_size=32, max_examples=None):
    """An evaluation's choice for its train split (`keras-ssl eval`); "error" for a refusal."""
    d = data_config()
    d.pipeline, d.label_key = pipeline, _label_key(source)
    try:
        return LabelledSplit(source, "train", (image_size,) * 2, max_examples, d, limit).pipeline
    except (UsageError, ValueError):
        return "error"


# (source, pipeline, memory_limit_mb, image_size, service, max_examples) -> today's answer.
TRAIN = [
    *[(source, pipeline, limit, 32, None, None, pipeline)
      for source in ("folder", "flat folder", "tfrecord", "unlabelled tfrecord", "idx")
      for pipeline in ("memory", "streaming") for limit in (BIG, SMALL)],
    *[(source, pipeline, BIG, 32, SERVICE, None, "streaming")
      for source in ("folder", "tfrecord", "idx") for pipeline in ("auto", "streaming")],
    ("folder", "auto", BIG, 32, None, None, "memory"),
    ("folder", "auto", SMALL, 32, None, None, "streaming"),
    ("folder", "auto", SMALL, 32, None, 20, "streaming"),  # max_train_examples is not counted
    ("folder", "auto", BIG, 16, None, None, "streaming"),  # images not at image_size
    ("flat folder", "auto", BIG, 32, None, None, "streaming"),  # no labels to load
    ("tfrecord", "auto", BIG, 32, None, None, "streaming"),  # load_arrays cannot read records
    ("tfrecord", "auto", SMALL, 32, None, None, "streaming"),
    ("tfrecord", "auto", BIG, 16, None, None, "streaming"),
    ("unlabelled tfrecord", "auto", BIG, 32, None, None, "streaming"),
    ("idx", "auto", BIG, 32, None, None, "memory"),
    ("idx", "auto", SMALL / 1000, 32, None, None, "memory"),
]

# (source, pipeline, memory_limit_mb, image_size, max_examples) -> today's answer.
EVAL = [
    *[("folder", pipeline, limit, size, None, pipeline)
      for pipeline in ("memory", "streaming") for limit in (BIG, SMALL) for size in (32, 16)],
    ("folder", "auto", BIG, 32, None, "memory"),
    ("folder", "auto", BIG, 16, None, "memory"),  # eval resizes in both pipelines
    ("folder", "auto", SMALL, 32, None, "streaming"),
    ("folder", "auto", SMALL, 32, 20, "memory"),  # 20 images: 0.06 MB
    ("folder", "auto", SMALL, 16, None, "memory"),  # 80 images of 16x16: 0.06 MB
    *[("tfrecord", pipeline, limit, 32, None, "streaming")  # load_arrays cannot read records
      for pipeline in ("auto", "memory", "streaming") for limit in (BIG, SMALL)],
    *[("idx", pipeline, limit, 32, None, "memory")  # read into memory only
      for pipeline in ("auto", "memory", "streaming") for limit in (BIG, SMALL / 1000)],
    *[(source, pipeline, BIG, 32, None, "error")  # evaluation needs labels
      for source in ("flat folder", "unlabelled tfrecord") for pipeline in ("auto", "memory")],
]


@pytest.mark.parametrize("name,pipeline,limit,size,service,max_examples,expected", TRAIN)
def test_training_choice(sources, name, pipeline, limit, size, service, max_examples, expected):
    assert train_pipeline(sources[name], pipeline, limit, size, service, max_examples) == expected


@pytest.mark.parametrize("name,pipeline,limit,size,max_examples,expected", EVAL)
def test_evaluation_choice(sources, name, pipeline, limit, size, max_examples, expected):
    assert eval_pipeline(sources[name], pipeline, limit, size, max_examples) == expected


def test_a_record_pattern_without_split_is_refused_in_evaluation(sources):
    assert eval_pipeline(sources["tfrecord"].replace("{split}", "train"), "auto", BIG) == "error"


@pytest.mark.parametrize("name,expected", [
    ("folder", "streaming"), ("tfrecord", "streaming"), ("idx", "memory")])
def test_streaming_eval_dataset_choice(sources, monkeypatch, name, expected):
    loaded = []
    load_arrays = streaming.load_arrays
    monkeypatch.setattr(streaming, "load_arrays", lambda *a, **k: loaded.append(1) or load_arrays(
        *a, **k))
    ds = streaming_eval_dataset(sources[name].replace("{split}", "train"), 8, 32, split="train")
    images, labels = next(iter(ds))
    assert images.shape == (8, 32, 32, 3) and labels.shape == (8,)
    assert ("memory" if loaded else "streaming") == expected
