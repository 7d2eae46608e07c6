"""Tests of streaming sources and pipelines: layouts, crops from the original image, resume,
shards, bad images, TFRecord / TFDS / ram:// sources, and the unchanged in-memory transforms."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_ssl import augment
from keras_ssl.augment._random import split_seed
from keras_ssl.data import (BadImages, BadImagesLogger, encoded_source, eval_dataset,
                            list_image_folder, load_arrays, streaming_eval_dataset,
                            streaming_pretraining_dataset)
from keras_ssl.data.decode import decode_crops

SEED = tf.constant([3, 4], tf.int64)


def _save(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def _indexed_folder(root, n, pattern="{i:02d}.png"):
    """n 4x4 PNGs whose every pixel is their index (to trace images through a pipeline)."""
    for i in range(n):
        _save(os.path.join(root, pattern.format(i=i, c=i % 2)), np.full((4, 4, 3), i, np.uint8))
    return root


def _ids(batch):
    return np.asarray(batch)[:, 0, 0, 0].tolist()


def _coordinate_image(size=512):
    """R = x // 2, G = y // 2: every pixel says where it is in the original."""
    y, x = np.mgrid[:size, :size]
    return np.stack([x // 2, y // 2, np.zeros_like(x)], -1).astype(np.uint8)


@pytest.mark.parametrize("scale", [0.08, 0.25, 0.6])
def test_crop_box_is_sampled_on_the_original_size(tmp_path, scale):
    for i in range(2):
        _save(str(tmp_path / f"train/{i}.png"), _coordinate_image())
    transform = augment.SimCLRTransform(32, crop_scale=(scale, scale), crop_ratio=(1.0, 1.0),
                                        flip_probability=0.0, color_jitter_probability=0.0,
                                        grayscale_probability=0.0)
    ds = streaming_pretraining_dataset(f"folder:{tmp_path}", 2, transform, seed=5)
    for view in next(iter(ds)).numpy() * 255.0:
        # The crop's extent in original pixels, read off its coordinate colours.
        width = (view[..., 0].max() - view[..., 0].min() + 1) * 2
        height = (view[..., 1].max() - view[..., 1].min() + 1) * 2
        assert width * height / 512**2 == pytest.approx(scale, rel=0.08)
        assert 0.9 < width / height < 1.1


def test_sample_crop_window_stays_inside_and_respects_scale():
    for i in range(50):
        y0, x0, h, w = augment.sample_crop_window(300, 200, tf.constant([i, 7]), (0.2, 0.5)).numpy()
        assert 0 <= y0 and y0 + h <= 300 and 0 <= x0 and x0 + w <= 200
        assert 0.2 * 0.97 <= h * w / 60000 <= 0.5 * 1.03


def test_jpeg_partial_decode_gives_the_decode_then_crop_crop():
    y, x = np.mgrid[:240, :320]
    smooth = np.stack([x % 256, y, (x + y) % 256], -1).astype(np.uint8)
    contents = tf.io.encode_jpeg(smooth, quality=90)
    transform = augment.MultiViewTransform([augment.SimCLRTransform(48)] * 2)
    for i in range(5):
        seed = tf.constant([i, 1])
        windows = lambda h, w: transform.crop_windows(h, w, seed)  # noqa: E731
        partial = decode_crops(contents, windows, [(48, 48)] * 2, partial_decode_max_crops=2)
        whole = decode_crops(contents, windows, [(48, 48)] * 2, partial_decode_max_crops=0)
        for a, b in zip(partial, whole):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_resume_at_epoch_and_step_sees_the_uninterrupted_batches(tiny_cifar10):
    source = f"folder:{tiny_cifar10}"  # 80 images: 10 batches of 8 per epoch
    views = augment.MultiViewTransform([augment.SimCLRTransform(16)] * 2)
    full = [tuple(v.numpy() for v in b) for b in
            streaming_pretraining_dataset(source, 8, views, seed=2, epochs=3)]
    resumed = [tuple(v.numpy() for v in b) for b in streaming_pretraining_dataset(
        source, 8, views, seed=2, epochs=3, initial_epoch=1, initial_step=4)]
    assert len(full) == 30 and len(resumed) == 16
    for a, b in zip(full[14:], resumed):
        for view_a, view_b in zip(a, b):
            np.testing.assert_array_equal(view_a, view_b)
    assert not np.array_equal(full[0][0], full[10][0])  # Each epoch is reshuffled / reseeded.


def test_each_epoch_reads_every_image_once_in_a_new_order(tmp_path):
    source = f"folder:{_indexed_folder(str(tmp_path / 'train/x'), 12)}".replace("/train/x", "")
    epochs = [[_ids(b) for b in ds] for ds in [streaming_pretraining_dataset(
        source, 4, image_size=4, seed=1, epochs=2)]][0]
    first, second = sum(epochs[:3], []), sum(epochs[3:], [])
    assert sorted(first) == sorted(second) == list(range(12))
    assert first != second


def _write_tfrecords(folder, n, files, label=True):
    os.makedirs(folder, exist_ok=True)
    writers = [tf.io.TFRecordWriter(os.path.join(folder, f"part-{j}.tfrecord")) for j in range(files)]
    for i in range(n):
        feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[tf.io.encode_png(np.full((4, 4, 3), i, np.uint8)).numpy()]))}
        if label:
            feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3]))
        writers[i % files].write(tf.train.Example(
            features=tf.train.Features(feature=feature)).SerializeToString())
    for w in writers:
        w.close()
    return f"tfrecord:{folder}/part-*.tfrecord"


@pytest.mark.parametrize("pipelines", [2, 3])
@pytest.mark.parametrize("kind", ["folder", "one tfrecord file", "six tfrecord files"])
def test_pipeline_shards_are_disjoint_and_complete(tmp_path, pipelines, kind):
    n = 24
    if kind == "folder":
        source = "folder:" + _indexed_folder(str(tmp_path), n, "train/{i:02d}.png").rsplit("/train", 1)[0]
    else:
        source = _write_tfrecords(str(tmp_path / "rec"), n, 1 if kind.startswith("one") else 6)
    seen = []
    for pipeline in range(pipelines):
        context = tf.distribute.InputContext(pipelines, pipeline, pipelines)
        ds = streaming_pretraining_dataset(source, 2 * pipelines, image_size=4, seed=3, epochs=1,
                                           input_context=context, shuffle_window=5)
        seen.append(sum((_ids(b) for b in ds), []))
    assert all(len(s) == n // pipelines for s in seen)
    assert sorted(sum(seen, [])) == list(range(n))  # disjoint and complete


def test_an_epoch_of_records_reads_64_files_round_robin_in_a_new_file_order(tmp_path):
    """A window of records mixes 64 files, a few consecutive records of each (`_CYCLE`)."""
    stream = encoded_source(_write_tfrecords(str(tmp_path), 140, 70))  # 2 records a file
    firsts = []
    for epoch in range(2):
        names = [name.decode() for name, *_ in stream.examples(
            tf.constant([0, epoch], tf.int64), 0, 1).as_numpy_iterator()]
        assert len(set(names)) == len(names) == 140  # every record once
        files = [name.rsplit(":", 1)[0] for name in names]
        assert len(set(files[:64])) == 64  # the first 64 records, one from each of 64 files
        firsts.append(files[:64])
    assert firsts[0] != firsts[1]  # the file order is drawn per epoch


def test_folder_layouts_are_detected(tmp_path):
    _indexed_folder(str(tmp_path / "labelled"), 4, "train/{c}/{i}.png")
    _indexed_folder(str(tmp_path / "flat"), 3)
    _indexed_folder(str(tmp_path / "nested"), 6, "unlabeled/{c}/deeper/{i}.png")
    _save(str(tmp_path / "nested/unlabeled/top.png"), np.zeros((4, 4, 3), np.uint8))
    labelled = list_image_folder(str(tmp_path / "labelled"), "train")
    assert labelled.layout == "labelled" and labelled.class_names == ["0", "1"]
    assert labelled.labels.tolist() == [0, 0, 1, 1]
    flat = list_image_folder(str(tmp_path / "flat"), "train")
    assert flat.layout == "flat" and len(flat.paths) == 3 and flat.labels is None
    nested = list_image_folder(str(tmp_path / "nested"), "unlabeled")
    assert nested.layout == "unlabeled" and len(nested.paths) == 7
    forced = list_image_folder(str(tmp_path / "labelled"), "train", labeled=False)
    assert forced.layout == "unlabeled" and len(forced.paths) == 4


def test_unlabeled_folders_stream_for_pretraining_and_eval_asks_for_labels(tmp_path):
    flat = _indexed_folder(str(tmp_path / "flat"), 6)
    nested = _indexed_folder(str(tmp_path / "nested"), 6, "train/{c}/a/{i}.png")
    for root, order in ((flat, [0, 1, 2, 3, 4, 5]), (nested, [0, 2, 4, 1, 3, 5])):
        batches = list(streaming_pretraining_dataset(f"folder:{root}", 3, image_size=4))
        assert sorted(sum((_ids(b) for b in batches), [])) == list(range(6))
        with pytest.raises(ValueError, match="needs labels.*unlabeled.*<root>/<split>/<class>"):
            streaming_eval_dataset(f"folder:{root}", 4, 4, split="train")
        images = np.concatenate(list(streaming_eval_dataset(
            f"folder:{root}", 4, 4, split="train", with_labels=False)))
        assert _ids(images) == order  # in sorted path order


@pytest.mark.parametrize("case", ["missing", "empty", "ambiguous", "no images", "no split"])
def test_bad_layouts_fail_before_training_naming_path_and_layouts(tmp_path, case):
    root = tmp_path / "root"
    if case == "empty":
        os.makedirs(root)
    if case == "ambiguous":
        _save(str(root / "a.png"), np.zeros((4, 4, 3), np.uint8))
        _save(str(root / "test/b.png"), np.zeros((4, 4, 3), np.uint8))
    if case == "no images":
        os.makedirs(root / "train/x/y")
    if case == "no split":
        _save(str(root / "test/b/0.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="<root>/<split>/\\*\\*/<image>.*<root>/<image>") as info:
        streaming_pretraining_dataset(f"folder:{root}", 2)
    assert str(root) in str(info.value)


def test_eval_stream_equals_load_arrays_and_keeps_order(small_cifar10):
    images, labels, _ = load_arrays(f"folder:{small_cifar10}", "test", image_size=24)
    batches = list(streaming_eval_dataset(f"folder:{small_cifar10}", 32, 24, split="test"))
    assert [len(b[0]) for b in batches] == [32, 32, 32, 4]  # the last batch is kept
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), images)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), labels)
    arrays = list(streaming_eval_dataset((images, labels), 32, 24, split="train"))
    np.testing.assert_array_equal(arrays[0][0], list(eval_dataset(images, labels, 32))[0][0])


def test_tfrecord_streaming_reads_images_and_labels(tmp_path):
    source = _write_tfrecords(str(tmp_path), 10, 3)
    images, labels = (np.concatenate(x) for x in zip(*streaming_eval_dataset(source, 4, 4)))
    assert sorted(_ids(images)) == list(range(10))
    np.testing.assert_array_equal(labels, np.asarray(_ids(images)) % 3)  # paired with its image
    ds = streaming_pretraining_dataset(source, 5, image_size=4, with_labels=True, epochs=2)
    for batch, batch_labels in ds:
        np.testing.assert_array_equal(batch_labels, np.asarray(_ids(batch)) % 3)
    unlabeled = _write_tfrecords(str(tmp_path / "u"), 4, 1, label=False)
    with pytest.raises(ValueError, match="needs labels"):
        streaming_eval_dataset(unlabeled, 4, 4, label_key=None)
    assert len(list(streaming_pretraining_dataset(unlabeled, 2, image_size=4, label_key=None))) == 2
    with pytest.raises(ValueError, match="matches no files"):
        streaming_eval_dataset(f"tfrecord:{tmp_path}/none-*", 4, 4)


def test_tfds_streaming_reads_the_prepared_files(tmp_path):
    import tensorflow_datasets as tfds

    class KerasSslTinyStream(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(names=["even", "odd"])})
            return tfds.core.DatasetInfo(builder=self, features=features,
                                         supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i in range(8):  # assorted sizes: streaming resizes per image
                yield i, {"image": np.full((4 + i, 6, 3), i * 10, np.uint8), "label": i % 2}

    KerasSslTinyStream(data_dir=str(tmp_path)).download_and_prepare()
    source = "tfds:keras_ssl_tiny_stream"
    images, labels = (np.concatenate(x) for x in zip(*streaming_eval_dataset(
        source, 3, 5, split="train", data_dir=str(tmp_path))))
    ids = np.asarray(_ids(images)) // 10
    assert sorted(ids.tolist()) == list(range(8)) and images.shape == (8, 5, 5, 3)
    np.testing.assert_array_equal(labels, ids % 2)
    part = list(streaming_eval_dataset(source, 8, 5, split="train[:50%]", data_dir=str(tmp_path)))
    assert len(part[0][0]) == 4
    views = augment.MultiViewTransform([augment.SimCLRTransform(8)] * 2)
    batch = next(iter(streaming_pretraining_dataset(source, 4, views, data_dir=str(tmp_path))))
    assert [v.shape for v in batch] == [(4, 8, 8, 3)] * 2


def test_ram_filesystem_folder():
    root = "ram://keras_ssl_test_stream"
    for i in range(6):
        tf.io.gfile.makedirs(f"{root}/train/c{i % 2}")
        tf.io.write_file(f"{root}/train/c{i % 2}/{i}.png",
                         tf.io.encode_png(np.full((4, 4, 3), i, np.uint8)))
    images, labels = next(iter(streaming_eval_dataset(f"folder:{root}", 6, 4, split="train")))
    assert _ids(images) == [0, 2, 4, 1, 3, 5] and labels.numpy().tolist() == [0, 0, 0, 1, 1, 1]
    batches = list(streaming_pretraining_dataset(f"folder:{root}", 3, image_size=4, seed=0))
    assert sorted(sum((_ids(b) for b in batches), [])) == list(range(6))


def _folder_with_bad_image(root, good=9):
    _indexed_folder(str(root), good, "train/{i}.png")
    os.makedirs(root / "train" / "z", exist_ok=True)
    (root / "train" / "z" / "bad.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return f"folder:{root}", str(root / "train" / "z" / "bad.jpg")


def test_bad_images_are_skipped_counted_and_named(tmp_path):
    source, bad_path = _folder_with_bad_image(tmp_path)
    bad = BadImages()
    ds = streaming_pretraining_dataset(source, 3, image_size=4, epochs=2, bad_images=bad,
                                       max_bad_fraction=0.1)
    epochs = [[_ids(b) for b in ds]]
    assert sum(len(b) for b in epochs[0]) == 18  # 9 good images twice; the bad one skipped
    assert bad.count == 2 and bad.names == {bad_path}  # once per epoch, named once
    logger, logs = BadImagesLogger(bad), [{}, {}]
    logger.on_epoch_end(0, logs[0])
    logger.on_epoch_end(1, logs[1])
    assert [epoch["bad_images"] for epoch in logs] == [1, 1]  # each in its own epoch
    with pytest.raises(tf.errors.OpError, match=f"{bad_path}.*on_bad_image='error'"):
        list(streaming_pretraining_dataset(source, 3, image_size=4, on_bad_image="error"))
    with pytest.raises(tf.errors.OpError, match="more than the allowed 0"):
        list(streaming_pretraining_dataset(source, 3, image_size=4, max_bad_fraction=0.05))
    images = np.concatenate(list(streaming_eval_dataset(
        source, 4, 4, split="train", with_labels=False, max_bad_fraction=0.1)))
    assert _ids(images) == list(range(9))


GOLDEN = {  # sums and one value of the outputs before the crop stage was split out
    "simclr": ([2907.7892], 0.41671741008758545),
    "cifar": ([6182.4001], 0.5411764979362488),
    "multi_view": ([3519.0167, 1836.8302], 1.0),
    "rotation": ([24729.6005], 0.5411764979362488),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_in_memory_transforms_are_unchanged_and_equal_their_two_stages(name):
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    transform = {
        "simclr": augment.SimCLRTransform(24, color_strength=0.5, blur_probability=0.5,
                                          solarize_probability=0.2),
        "cifar": augment.PaddedCropFlipTransform(),
        "multi_view": augment.MultiViewTransform([augment.SimCLRTransform(24),
                                                  augment.SimCLRTransform(16, blur_probability=1.0)]),
        "rotation": augment.RotationTransform(augment.PaddedCropFlipTransform()),
    }[name]
    out = transform(images, SEED)
    views = [np.asarray(v) for v in (out if name == "multi_view" else [out[0]] if name == "rotation"
                                      else [out])]
    sums, value = GOLDEN[name]
    np.testing.assert_allclose([v.astype(np.float64).sum() for v in views], sums, atol=1e-3)
    assert views[0].ravel()[1000] == pytest.approx(value, abs=1e-6)
    if name == "simclr":  # The batched crop, then the streaming stage: the same output.
        crop = augment.random_resized_crop(images / 255.0, 24, split_seed(SEED, 5)[0])
        np.testing.assert_array_equal(transform.augment_crops([crop], SEED), out)


@pytest.mark.parametrize("crop,size", [((60, 90), (224, 224)), ((224, 224), (224, 224)),
                                       ((240, 100), (224, 224)), ((30, 40), (16, 16))])
def test_crops_are_resized_as_the_antialiased_bilinear_resize(crop, size):
    # Enlarged crops take the plain bilinear kernel (faster), which is the antialiased one when
    # enlarging; a crop shrunk along either side keeps the antialiased resize.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (256, 256, 3)).astype(np.uint8)
    contents = tf.io.encode_png(image)
    window = lambda h, w: tf.constant([[5, 7, crop[0], crop[1]]])  # noqa: E731
    (out,) = decode_crops(contents, window, [size])
    region = image[5:5 + crop[0], 7:7 + crop[1]].astype(np.float32)
    expected = tf.image.resize(region, size, method="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(out.numpy(), np.clip(expected, 0, 255), atol=1e-3)
    shrunk = crop[0] > size[0] or crop[1] > size[1]
    plain = tf.image.resize(region, size, method="bilinear").numpy()
    assert shrunk == (np.abs(plain - expected).max() > 1.0)  # the cases do differ where shrunk
