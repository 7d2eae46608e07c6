"""Tests of keras_ssl.data: sources (folders, arrays, tfds) and tf.data pipelines."""

import io
import os
import sys
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_ssl.data import (eval_dataset, load_arrays, parse_source, pretraining_dataset,
                            unpack_image_folder)


def _save(path, array, mode=None, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array, mode).save(path, **kwargs)


def _noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_folder_decodes_jpeg_grey_rgba_bmp_gif_to_rgb(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[...] = (200, 60, 30)
    grey = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    rgba = np.concatenate([_noise(8, 8, 1), np.full((8, 8, 1), 7, np.uint8)], axis=-1)
    # Classes come out sorted: "a" < "b" < "c".
    _save(tmp_path / "train/c/rgb.jpg", rgb, quality=100)
    _save(tmp_path / "train/a/grey.png", grey, "L")
    _save(tmp_path / "train/a/rgba.png", rgba, "RGBA")
    _save(tmp_path / "train/b/noise.bmp", _noise(8, 8, 2))
    _save(tmp_path / "train/b/grey.gif", grey, "L")
    (tmp_path / "train/b/notes.txt").write_text("not an image, ignored")

    images, labels, class_names = load_arrays(f"folder:{tmp_path}")

    assert class_names == ["a", "b", "c"]
    assert images.dtype == np.uint8 and images.shape == (5, 8, 8, 3)
    assert labels.dtype == np.int32 and labels.tolist() == [0, 0, 1, 1, 2]
    # Files are in sorted order within a class: grey.png, rgba.png | grey.gif, noise.bmp | rgb.jpg.
    np.testing.assert_array_equal(images[0], np.repeat(grey[..., None], 3, axis=-1))
    np.testing.assert_array_equal(images[1], rgba[..., :3])  # Alpha dropped, colours untouched.
    np.testing.assert_array_equal(images[2], np.repeat(grey[..., None], 3, axis=-1))
    np.testing.assert_array_equal(images[3], _noise(8, 8, 2))
    assert np.abs(images[4].astype(int) - rgb).max() <= 3  # JPEG is lossy.


def test_folder_resizes_other_sizes_to_image_size(tmp_path):
    small, big = _noise(8, 6, 1), _noise(16, 12, 2)
    _save(tmp_path / "train/a/0.png", small)
    _save(tmp_path / "train/a/1.png", big)

    images, _, _ = load_arrays(f"folder:{tmp_path}", image_size=(8, 6))

    assert images.shape == (2, 8, 6, 3)
    np.testing.assert_array_equal(images[0], small)
    # PIL's bilinear filter also widens with the downscale factor (antialias).
    reference = np.asarray(Image.fromarray(big).resize((6, 8), Image.BILINEAR)).astype(int)
    assert np.abs(images[1].astype(int) - reference).max() <= 1


def test_folder_mixed_sizes_without_image_size_names_file(tmp_path):
    _save(tmp_path / "train/a/0.png", _noise(8, 8))
    _save(tmp_path / "train/a/1.png", _noise(10, 8))
    with pytest.raises(ValueError, match="image_size") as info:
        load_arrays(f"folder:{tmp_path}")
    assert str(tmp_path / "train/a/1.png") in str(info.value)


@pytest.mark.parametrize("content", [b"not an image at all", "truncated"])
def test_folder_corrupt_image_error_names_file(tmp_path, content):
    for i in range(5):
        _save(tmp_path / f"train/a/{i}.jpg", _noise(8, 8, i))
    bad = tmp_path / "train/b/bad.jpg"
    if content == "truncated":
        buffer = io.BytesIO()
        Image.fromarray(_noise(8, 8)).save(buffer, "JPEG")
        content = buffer.getvalue()[:200]
    os.makedirs(bad.parent)
    bad.write_bytes(content)
    _save(tmp_path / "train/b/good.jpg", _noise(8, 8))
    with pytest.raises(ValueError, match="not a readable JPEG/PNG/BMP/GIF") as info:
        load_arrays(f"folder:{tmp_path}")
    assert str(bad) in str(info.value)


def _layout_cases(tmp_path):
    os.makedirs(tmp_path / "empty")
    _save(tmp_path / "no_classes/train/0.png", _noise(4, 4))
    _save(tmp_path / "no_split/test/a/0.png", _noise(4, 4))
    _save(tmp_path / "empty_class/train/a/0.png", _noise(4, 4))
    os.makedirs(tmp_path / "empty_class/train/b")
    return {
        "missing": (tmp_path / "missing", tmp_path / "missing"),
        "empty": (tmp_path / "empty", tmp_path / "empty"),
        "no class folders": (tmp_path / "no_classes", tmp_path / "no_classes/train"),
        "no split folder": (tmp_path / "no_split", tmp_path / "no_split"),
        "class without images": (tmp_path / "empty_class", tmp_path / "empty_class/train/b"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "empty", "no class folders", "no split folder", "class without images"]
)
def test_folder_bad_layout_errors_name_path_and_layout(tmp_path, case):
    root, named = _layout_cases(tmp_path)[case]
    with pytest.raises(ValueError, match="<root>/<split>/<class>/<image>") as info:
        load_arrays(f"folder:{root}")
    assert str(named) in str(info.value)


def test_folder_splits_with_different_classes_error(tmp_path):
    _save(tmp_path / "train/a/0.png", _noise(4, 4))
    _save(tmp_path / "train/b/0.png", _noise(4, 4))
    _save(tmp_path / "test/b/0.png", _noise(4, 4))
    with pytest.raises(ValueError, match=r"different class folders \(\['a'\]"):
        load_arrays(f"folder:{tmp_path}", split="test")


def test_folder_max_examples_is_fixed_subset_across_classes(tmp_path):
    for label in "abcd":
        for i in range(25):
            _save(tmp_path / f"train/{label}/{i:02d}.png", np.full((2, 2, 3), i, np.uint8))
    images, labels, _ = load_arrays(f"folder:{tmp_path}", max_examples=40)
    again, _, _ = load_arrays(f"folder:{tmp_path}", max_examples=40)
    assert images.shape == (40, 2, 2, 3)
    assert set(labels.tolist()) == {0, 1, 2, 3}  # The first 40 files would be classes a, b only.
    np.testing.assert_array_equal(images, again)


def test_arrays_sources():
    x_train = np.arange(6 * 4 * 4 * 3, dtype=np.int64).reshape(6, 4, 4, 3).astype(np.uint8)
    x_test = np.zeros((2, 4, 4), np.uint8)  # Grey.
    source = {"train": (x_train, np.array([[0], [1], [2], [0], [1], [2]])), "test": (x_test, [4, 0])}

    images, labels, class_names = load_arrays(source, "test")
    assert images.shape == (2, 4, 4, 3) and labels.tolist() == [4, 0]
    assert class_names == ["0", "1", "2", "3", "4"]  # Shared by all splits.
    images, labels, _ = load_arrays(source, "train")
    np.testing.assert_array_equal(images, x_train)
    assert labels.dtype == np.int32 and labels.tolist() == [0, 1, 2, 0, 1, 2]

    images, _, _ = load_arrays((np.full((3, 4, 4, 3), 9, np.uint8), [0, 1, 1]), image_size=2)
    np.testing.assert_array_equal(images, np.full((3, 2, 2, 3), 9, np.uint8))
    with pytest.raises(ValueError, match="no split 'test'"):
        load_arrays((x_train, np.zeros(6, int)), "test")
    with pytest.raises(ValueError, match="uint8"):
        parse_source((x_train.astype(np.float32), np.zeros(6, int)))
    with pytest.raises(ValueError, match=r"expected \[6\]"):
        parse_source((x_train, np.zeros(5, int)))


def test_parse_source_forms_and_unknown_prefix():
    assert parse_source("tfds:cifar10") == ("tfds", "cifar10", None)
    assert parse_source("folder:/data/x") == ("folder", "/data/x", None)
    for bad in ["cifar10", "hf:cifar10", "/data/cifar10", 3]:
        with pytest.raises(ValueError, match="'tfds:NAME'.*'folder:/path'"):
            parse_source(bad)
    with pytest.raises(ValueError, match="no dataset name"):
        parse_source("tfds:")


def test_tfds_unprepared_raises_without_downloading(tmp_path):
    data_dir = tmp_path / "no_tfds_here"
    with pytest.raises(ValueError, match="not prepared.*tfds build cifar10"):
        load_arrays("tfds:cifar10", data_dir=str(data_dir))
    assert not data_dir.exists()  # A download would have created it.
    with pytest.raises(ValueError, match="no dataset 'no_such_dataset_xyz'"):
        load_arrays("tfds:no_such_dataset_xyz", data_dir=str(data_dir))


def _indexed_arrays(n):
    """Images whose every pixel is their index, labels = index too, to trace examples."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 2, 2, 3)).copy()
    return images, np.arange(n)


def _epochs(ds, count):
    return [[tuple(np.asarray(t) for t in tf.nest.flatten(b)) for b in ds] for _ in range(count)]


def test_pretraining_dataset_shapes_and_drop_remainder():
    seen = []

    def transform(images, labels, seed):
        seen.append((images.shape, labels.shape, seed.shape, seed.dtype))
        return tf.cast(images, tf.float32) / 255.0, labels, seed

    ds = pretraining_dataset(None, 4, transform, with_labels=True, arrays=_indexed_arrays(10))
    assert set(seen) == {((4, 2, 2, 3), (4,), (2,), tf.int64)}  # Static shapes in the traced transform.
    assert ds.element_spec[0].shape == (4, 2, 2, 3)
    batches = list(ds)
    assert len(batches) == 2  # 10 // 4; the partial batch is dropped.
    index = np.concatenate([b[1].numpy() for b in batches])
    assert len(set(index.tolist())) == 8  # No example twice in one epoch.
    for images, labels, _ in batches:  # Labels stay paired with their images.
        np.testing.assert_allclose(images.numpy()[:, 0, 0, 0] * 255.0, labels.numpy(), atol=1e-4)


def test_pretraining_dataset_without_transform_yields_uint8():
    ds = pretraining_dataset((np.zeros((5, 3, 3, 3), np.uint8), np.zeros(5, int)), 2)
    assert ds.element_spec == tf.TensorSpec((2, 3, 3, 3), tf.uint8)
    ds = pretraining_dataset(None, 2, with_labels=True, arrays=_indexed_arrays(5))
    images, labels = next(iter(ds))
    np.testing.assert_array_equal(images.numpy()[:, 0, 0, 0], labels.numpy())


def test_pretraining_dataset_seed_reproducible_and_fresh_each_epoch():
    arrays = _indexed_arrays(32)

    def transform(images, seed):
        return images[:, 0, 0, 0], seed

    first = _epochs(pretraining_dataset(None, 8, transform, seed=3, arrays=arrays), 2)
    second = _epochs(pretraining_dataset(None, 8, transform, seed=3, arrays=arrays), 2)
    other = _epochs(pretraining_dataset(None, 8, transform, seed=4, arrays=arrays), 1)

    for epoch_a, epoch_b in zip(first, second):
        for (index_a, seed_a), (index_b, seed_b) in zip(epoch_a, epoch_b):
            np.testing.assert_array_equal(index_a, index_b)
            np.testing.assert_array_equal(seed_a, seed_b)
    order = [np.concatenate([index for index, _ in epoch]) for epoch in first]
    assert sorted(order[0].tolist()) == list(range(32))
    assert not np.array_equal(order[0], order[1])  # Reshuffled each epoch.
    assert not np.array_equal(order[0], np.concatenate([index for index, _ in other[0]]))
    seeds = [tuple(seed.tolist()) for epoch in first for _, seed in epoch]
    assert len(set(seeds)) == len(seeds) == 8  # A fresh seed per batch and epoch.


def _niceness_by_thread():
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    return {t: os.getpriority(os.PRIO_PROCESS, t) for t in tids}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness per thread is Linux's")
def test_background_priority_gives_the_same_batches_from_low_priority_threads_of_its_own():
    from keras_ssl.augment import SimCLRTransform

    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    arrays = (images, np.zeros(64, np.int32))
    transform = SimCLRTransform(8, color_strength=0.5)

    def batches(background, threads_while_iterating=None):
        iterator = iter(pretraining_dataset(None, 16, transform, seed=5, arrays=arrays, epochs=2,
                                            background_priority=background))
        out = [next(iterator).numpy() for _ in range(4)]
        if threads_while_iterating is not None:  # the pool's threads end with the iterator
            threads_while_iterating.update(_niceness_by_thread())
        return out + [b.numpy() for b in iterator]

    before, after = _niceness_by_thread(), {}
    background = batches(True, after)
    foreground = batches(False)
    assert len(background) == len(foreground) == 8
    for a, b in zip(background, foreground):
        np.testing.assert_array_equal(a, b)
    lowered = {t for t, nice in after.items() if nice == 19 and before.get(t) != 19}
    assert lowered, "no thread of the pipeline lowered its priority"
    assert not lowered & set(before), "a thread that existed before the pipeline was lowered"
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before[
        threading.get_native_id()]


def test_pretraining_dataset_bad_batch_size():
    arrays = _indexed_arrays(10)
    with pytest.raises(ValueError, match="batch_size 11 is larger than the 10 examples"):
        pretraining_dataset(None, 11, arrays=arrays)
    for bad in [0, -1, 2.0, True]:
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            pretraining_dataset(None, bad, arrays=arrays)


def test_eval_dataset_keeps_order_and_last_batch():
    images, labels = _indexed_arrays(10)
    batches = list(eval_dataset(images, labels, 4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    got = np.concatenate([b[0].numpy()[:, 0, 0, 0] for b in batches])
    np.testing.assert_array_equal(got, np.arange(10))
    assert batches[0][1].dtype == tf.int32


def test_cifar10_test_split_from_folder(cifar10_dir):
    images, labels, class_names = load_arrays(f"folder:{cifar10_dir}", split="test")
    assert images.shape == (10000, 32, 32, 3) and images.dtype == np.uint8
    assert class_names == [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
    ]
    assert np.bincount(labels).tolist() == [1000] * 10
    # Published CIFAR-10 test-set channel means; JPEG re-encoding moves them slightly.
    mean = images.reshape(-1, 3).mean(axis=0) / 255.0
    np.testing.assert_allclose(mean, [0.4942, 0.4851, 0.4504], atol=0.02)


@pytest.mark.skipif(sys.platform == "win32", reason="no flock")
def test_unpack_waits_for_a_concurrent_extraction_and_unpacks_once(tmp_path):
    _save(str(tmp_path / "src" / "train" / "cat" / "a.png"), np.full((4, 4, 3), 7, np.uint8))
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "train", arcname="train")
    destination = str(tmp_path / "cache" / "images")
    os.makedirs(destination)
    import fcntl

    done = threading.Event()
    with open(destination + ".lock", "w") as lock:  # another process is extracting
        fcntl.flock(lock, fcntl.LOCK_EX)
        thread = threading.Thread(target=lambda: (unpack_image_folder(archive, destination),
                                                  done.set()))
        thread.start()
        assert not done.wait(1.0), "unpacked while another process held the lock"
        open(os.path.join(destination, ".unpacked"), "w").close()  # ... and finished
    thread.join(10)
    assert done.is_set()
    assert not os.path.exists(os.path.join(destination, "train")), "extracted a second time"
    assert unpack_image_folder(archive, str(tmp_path / "fresh")) == str(tmp_path / "fresh")
    assert os.path.isfile(tmp_path / "fresh" / "train" / "cat" / "a.png")


def test_tfds_prepared_dataset_loads_grey_as_rgb(tmp_path):
    import tensorflow_datasets as tfds

    grey = (np.arange(5)[:, None, None, None] * 40 + np.zeros((5, 6, 6, 1))).astype(np.uint8)

    class KerasSslTinyGrey(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(6, 6, 1)),
                    "label": tfds.features.ClassLabel(names=["x", "y"]),
                }
            )
            return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i in range(5):
                yield i, {"image": grey[i], "label": i % 2}

    KerasSslTinyGrey(data_dir=str(tmp_path)).download_and_prepare()

    images, labels, class_names = load_arrays("tfds:keras_ssl_tiny_grey", data_dir=str(tmp_path))
    assert class_names == ["x", "y"]
    assert images.shape == (5, 6, 6, 3) and images.dtype == np.uint8 and labels.dtype == np.int32
    order = np.argsort(images[:, 0, 0, 0])  # TFDS stores examples shuffled.
    np.testing.assert_array_equal(images[order], np.repeat(grey, 3, axis=-1))
    assert labels[order].tolist() == [0, 1, 0, 1, 0]
    images, _, _ = load_arrays(
        "tfds:keras_ssl_tiny_grey", data_dir=str(tmp_path), image_size=3, max_examples=2
    )
    assert images.shape == (2, 3, 3, 3)
