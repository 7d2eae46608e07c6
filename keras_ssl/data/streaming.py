"""Streaming tf.data pipelines: images are read and decoded batch by batch, never held decoded.

Pre-training: file list (or record files) -> per-epoch order drawn from (seed, epoch) -> the
input pipeline's shard -> parallel read + decode -> per image, the transform's crop boxes drawn
on the original image, cut (for JPEG by `tf.image.decode_and_crop_jpeg`) and resized -> batch
(drop_remainder) -> the rest of the transform per batch -> prefetch. Eval: the same reading, in
source order, whole images resized.

Memory holds the file list (or record file names), a window of encoded records and the batches
in flight: it does not grow with the number of images.
"""

import tensorflow as tf

from keras_ssl.augment.crop import full_window
from keras_ssl.data.bad_images import ON_BAD_IMAGE, BadImages
from keras_ssl.data.choice import choose_pipeline
from keras_ssl.data.folders import FOLDER_LAYOUT
from keras_ssl.data.pipelines import (batch_seeds, check_batch_size, epoch_key_dataset,
                                      eval_dataset, replica_slots, with_length)
from keras_ssl.data.records import DEFAULT_IMAGE_KEY, DEFAULT_LABEL_KEY
from keras_ssl.data.service import EpochTally, check_service_address, distribute_to_service
from keras_ssl.data.decode import decode_crops
from keras_ssl.data.device_augmentation import augment_element, check_augment_on, to_uint8
from keras_ssl.data.sources import check_image_size, load_arrays
from keras_ssl.data.streams import encoded_source

NEEDS_LABELS = (f"a labelled source: 'folder:/path' laid out as {FOLDER_LAYOUT}, a 'tfds:NAME' "
                "with labels, or 'tfrecord:PATTERN' with an int64 label feature (label_key)")


def streaming_pretraining_dataset(
    source,
    batch_size,
    transform=None,
    split="train",
    seed=0,
    image_size=None,
    with_labels=False,
    data_dir=None,
    epochs=None,
    initial_epoch=0,
    initial_step=0,
    input_context=None,
    on_bad_image="skip",
    max_bad_fraction=0.01,
    bad_images=None,
    labeled=None,
    image_key=DEFAULT_IMAGE_KEY,
    label_key=DEFAULT_LABEL_KEY,
    shuffle_window=1024,
    service=None,
    job_name=None,
    augment_on="host",
):
    """Pre-training batches streamed from ``folder:``, ``tfrecord:`` or ``tfds:`` sources.

    The semantics of `pretraining_dataset` (fixed-size batches, a fresh stateless seed per batch
    slice drawn from ``(seed, epoch)``, ``epochs`` / ``initial_epoch`` / ``initial_step`` for an
    exact mid-epoch resume, global ``batch_size`` under an ``input_context``), but read from
    files: each epoch's order is drawn from ``(seed, epoch)``; every input pipeline reads a
    disjoint shard (every n-th image of a folder; every n-th record file, or every n-th record
    when there are fewer files than pipelines); crops are cut from the original-resolution image.

    Order: a folder epoch is one permutation of all images. Records: the file order is
    permuted, 64 files are read round-robin and each window of ``shuffle_window`` records is
    permuted. Steps per epoch: `streaming_steps_per_epoch`.

    Bad images (unreadable files, undecodable bytes): ``on_bad_image="skip"`` drops the image,
    counts it in ``bad_images`` and logs its name once; ``"error"`` stops with the name; more
    distinct bad images than ``max_bad_fraction`` of the source stops with a message. A resume
    is exact unless bad images were skipped before the resume point of its epoch (later images
    then move up by as many places).

    Args:
      source: ``"folder:/path"`` (any `tf.io.gfile` path: local, ``gs://``, ``ram://``; labelled,
        unlabeled or flat, see `keras_ssl.data.folders`), ``"tfrecord:PATTERN"`` or
        ``"tfds:NAME"`` (prepared; images read undecoded).
      batch_size: examples per (global) batch.
      transform: a transform with a crop stage (`SimCLRTransform`, `MultiViewTransform`,
        `PaddedCropFlipTransform`, `RotationTransform`): ``crop_windows(height, width, seed)``,
        ``crop_sizes(image_size)`` and ``augment_crops(crops, seed)``; its output is what
        ``transform(images, seed)`` gives in memory. None yields uint8 images resized to
        ``image_size``.
      image_size: output size for transforms that keep the size they get (padded crop,
        rotation, None); SimCLR crops use their own.
      with_labels: yield ``(transform output, labels int32)``; needs a labelled source.
      split, data_dir, labeled, image_key, label_key: see `keras_ssl.data.encoded_source`.
      epochs, initial_epoch, initial_step, input_context: as `pretraining_dataset`.
      on_bad_image, max_bad_fraction, bad_images: bad-image policy and a `BadImages` counter
        (e.g. for `BadImagesLogger`).
      shuffle_window: records permuted together (record sources).
      service, job_name: ``"grpc://host:port"`` of a tf.data service dispatcher: read, decode
        and augment on its workers (see `keras_ssl.data.service.distribute_to_service`, which
        says what is supported). Needs ``epochs``. Bad images are reported by this process;
        batches lost with a worker stop the iteration with `LostBatches` (see its module).
      augment_on: ``"host"`` runs ``augment_crops`` here; ``"device"`` stops after the crops and
        yields ``{"crops": (uint8 [B, h, w, 3], ...), "seed": int64 [2]}`` per replica batch, for
        the train step's `keras_ssl.data.DeviceAugmentation` (``model.device_augmentation``).
        Either way the crops are rounded to uint8 before ``augment_crops`` (as in-memory images
        are), so both give the same views.

    Returns:
      A `tf.data.Dataset` of per-replica batches, with its cardinality, prefetched.

    Example:

    >>> views = MultiViewTransform([SimCLRTransform(224)] * 2)
    >>> bad = BadImages()
    >>> ds = streaming_pretraining_dataset("folder:gs://bucket/photos", 256, views, bad_images=bad)
    >>> view_a, view_b = next(iter(ds))  # float32 [256, 224, 224, 3] each.
    """
    batch_size = check_batch_size(batch_size)
    on_device = check_augment_on(augment_on, transform, with_labels)
    _check_bad_image_policy(on_bad_image, max_bad_fraction)
    if service is not None:
        service = check_service_address(service)
        if epochs is None:  # the service splits the run's epochs among its workers
            raise ValueError("A tf.data service needs epochs (the run's length).")
    stream = encoded_source(source, split, data_dir, labeled, image_key, label_key)
    if with_labels and not stream.labeled:
        raise ValueError(f"with_labels needs labels but {stream.description} has none; use "
                         f"{NEEDS_LABELS}.")
    windows, sizes = _crop_stage(transform, check_image_size(image_size))
    context = input_context or tf.distribute.InputContext()
    replicas, per_replica, local, first = replica_slots(context, batch_size)
    pipelines, pipeline = context.num_input_pipelines, context.input_pipeline_id
    steps = streaming_steps_per_epoch(stream, batch_size, pipelines)
    if steps == 0:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {stream.num_examples} examples of "
            f"{stream.description} (over {pipelines} input pipelines); no full batch could be "
            "made (the last partial batch is dropped). Use a smaller batch_size.")
    epoch_keys = epoch_key_dataset(seed, epochs, initial_epoch, initial_step, steps)
    reader = _Reader(stream, on_bad_image, max_bad_fraction, bad_images, shuffle_window,
                     names_in_elements=service is not None)

    def one_epoch(epoch_key):
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch_key, tf.int64)])
        order_key, seed_key, image_key_ = tf.unstack(tf.random.experimental.stateless_split(key, 3))
        image_key_ = tf.random.experimental.stateless_fold_in(image_key_, pipeline)
        resume = tf.where(tf.equal(epoch_key, initial_epoch), initial_step, 0) if epochs else 0
        resume = tf.cast(resume, tf.int64) * local  # per-replica batches already seen

        def crops(contents, k):
            image_seed = tf.random.experimental.stateless_fold_in(image_key_, k)
            return to_uint8(decode_crops(contents, lambda h, w: windows(h, w, image_seed), sizes))

        examples = reader.decoded(order_key, pipeline, pipelines, resume * per_replica, crops,
                                  epoch=epoch_key if epochs else None)
        batches = examples.batch(per_replica, drop_remainder=True).take(steps * local - resume)
        seeds = tf.reshape(batch_seeds(seed_key, steps, replicas)[:, first:first + local], [-1, 2])
        parts = (batches, tf.data.Dataset.from_tensor_slices(seeds).skip(resume))
        if service is not None:  # each batch's (epoch, batch), for EpochTally
            parts += (tf.data.Dataset.range(resume, steps * local).map(
                lambda i: tf.stack([tf.cast(epoch_key, tf.int64), i])),)
        return tf.data.Dataset.zip(*parts)

    def finish(batch, batch_seed, *position):
        views, labels, *skipped = batch
        if transform is None:
            out = views[0]
        else:
            out = {"crops": views, "seed": batch_seed}
            out = out if on_device else augment_element(transform, out)
        out = (out, labels) if with_labels else out
        return (out, skipped[0], position[0]) if skipped else out

    ds = epoch_keys.flat_map(one_epoch)
    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if service is not None:
        if job_name is not None:  # A job serves one iteration: one per pipeline and resume point.
            job_name = f"{job_name}-pipeline{pipeline}-epoch{initial_epoch}-step{initial_step}"
        ds = distribute_to_service(ds, service, job_name)
        ds = EpochTally(initial_epoch, epochs, initial_step * local, steps * local,
                        reader.bad_images).checked(ds)

        def report(out, skipped):  # here, not on the workers, which cannot run Python
            with tf.control_dependencies([reader.report_joined(skipped)]):
                return tf.nest.map_structure(tf.identity, out)

        ds = ds.map(report)
    return with_length(ds, steps, epochs, initial_epoch, initial_step, local)


def streaming_steps_per_epoch(stream, batch_size, num_input_pipelines=1):
    """The steps of an epoch of `streaming_pretraining_dataset` over `stream` (`encoded_source`):
    the examples of each input pipeline's shard (the smallest shard for records) // its share of
    the global `batch_size`; the rest of each shard fills in for skipped images.

    Example:

    >>> streaming_steps_per_epoch(encoded_source("folder:/data/photos"), 256, 2)  # doctest: +SKIP
    468
    """
    return stream.examples_per_pipeline(num_input_pipelines) // (batch_size // num_input_pipelines)


def streaming_eval_dataset(
    source,
    batch_size,
    image_size,
    split="test",
    data_dir=None,
    with_labels=True,
    on_bad_image="skip",
    max_bad_fraction=0.01,
    bad_images=None,
    labeled=None,
    image_key=DEFAULT_IMAGE_KEY,
    label_key=DEFAULT_LABEL_KEY,
):
    """Batches of ``(images uint8 [B, S, S, 3], labels int32 [B])`` in source order, read as needed.

    Every image is resized (bilinear, antialiased, as `load_arrays`) to ``image_size``; the last
    batch may be smaller. Only the batches in flight are in memory, so feature extraction keeps
    only the features. In-memory and IDX sources go through `load_arrays` and `eval_dataset`.
    Bad images follow ``on_bad_image`` as in `streaming_pretraining_dataset` (a skipped image
    is missing from the features: keep ``on_bad_image="error"`` where rows must match files).
    The other arguments are those of `streaming_pretraining_dataset`.

    Args:
      with_labels: False yields images only (an unlabeled source is then allowed).

    Example:

    >>> ds = streaming_eval_dataset("folder:/data/imagenet", 500, 224, split="val")
    >>> features = np.concatenate([encoder.predict_on_batch(x / 255.0) for x, _ in ds])
    """
    size = check_image_size(image_size)
    if size is None:
        raise ValueError("streaming_eval_dataset needs image_size (every image is resized to it).")
    if choose_pipeline(source, "streaming") == "memory":
        images, labels, _ = load_arrays(source, split, size, data_dir=data_dir)
        ds = eval_dataset(images, labels, batch_size)
        return ds if with_labels else ds.map(lambda x, _: x)
    batch_size = check_batch_size(batch_size)
    _check_bad_image_policy(on_bad_image, max_bad_fraction)
    stream = encoded_source(source, split, data_dir, labeled, image_key, label_key)
    if with_labels and not stream.labeled:
        raise ValueError(
            f"Evaluation needs labels but {stream.description} has none (an unlabeled layout). "
            f"Pass {NEEDS_LABELS}; or with_labels=False to read the images only.")
    reader = _Reader(stream, on_bad_image, max_bad_fraction, bad_images, shuffle_window=1024)

    def whole_image(contents, _):
        return (decode_crops(contents, lambda h, w: full_window(h, w)[None], [size], 0)[0],)

    def to_uint8(views, labels):
        image = tf.cast(tf.round(views[0]), tf.uint8)  # As load_arrays rounds its resize.
        return (image, labels) if with_labels else image

    ds = reader.decoded(None, 0, 1, 0, whole_image).map(to_uint8, tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _check_bad_image_policy(on_bad_image, max_bad_fraction):
    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(f"on_bad_image must be one of {ON_BAD_IMAGE}, got {on_bad_image!r}.")
    if not (isinstance(max_bad_fraction, (int, float)) and 0 <= max_bad_fraction <= 1):
        raise ValueError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction!r}.")


def _crop_stage(transform, size):
    """(crop_windows(h, w, seed), output sizes) of a transform."""
    if transform is None:
        sizes = [size]
        windows = lambda h, w, seed: full_window(h, w)[None]  # noqa: E731
    else:
        if not all(hasattr(transform, a) for a in ("crop_windows", "crop_sizes", "augment_crops")):
            raise ValueError(
                f"{type(transform).__name__} has no crop stage (crop_windows, crop_sizes, "
                "augment_crops), which streaming needs to crop the original image; use a "
                "keras_ssl.augment transform, or pretraining_dataset for in-memory data.")
        sizes = transform.crop_sizes(size)
        windows = transform.crop_windows
    if any(s is None for s in sizes):
        raise ValueError(f"{type(transform).__name__ if transform else 'No transform'} keeps the "
                         "size it is given: pass image_size to resize the images to.")
    return windows, [tuple(s) for s in sizes]


class _Reader:
    """Reads and decodes a stream's examples, skipping (and reporting) the bad ones."""

    def __init__(self, stream, on_bad_image, max_bad_fraction, bad_images, shuffle_window,
                 names_in_elements=False):
        self.stream = stream
        self.names_in_elements = names_in_elements
        self.on_bad_image = on_bad_image
        self.max_bad = int(max_bad_fraction * stream.num_examples)
        self.bad_images = bad_images if bad_images is not None else BadImages()
        self.window = shuffle_window

    def decoded(self, order_key, pipeline, pipelines, skip, crops, epoch=None):
        """``(crops tuple, label)`` of the epoch's examples from position ``skip`` on.

        ``crops(contents, k)`` decodes the k-th example of the epoch (k counts skipped ones too,
        so seeds drawn from it do not move). Decode errors drop the element (`ignore_errors`);
        a scan over the positions sees the gap and reports the names it left, with their
        positions when the ``epoch`` (a training epoch's number) is given. With
        ``names_in_elements`` (pure TF, for tf.data service workers) the names are not reported
        but joined into a string that each element carries, ``(crops, label, names)``, for
        `report_joined`: a window's trailing names move on to the next window's first element.
        """
        stream, window = self.stream, self.window
        examples = stream.examples(order_key, pipeline, pipelines).batch(window).enumerate()

        def decode(k, data, label):
            contents, label = stream.read(data, label)
            return k, crops(contents, k), label

        def window_examples(index, window_examples):
            names, data, labels = window_examples
            n = tf.cast(tf.shape(names)[0], tf.int64)
            start = index * window
            if stream.window_shuffle and order_key is not None:
                perm = tf.random.experimental.stateless_shuffle(
                    tf.range(n), tf.random.experimental.stateless_fold_in(order_key, index))
                names, data, labels = (tf.gather(t, perm) for t in (names, data, labels))
            k = start + tf.range(n)
            ds = tf.data.Dataset.from_tensor_slices((k, data, labels)).filter(
                lambda k, *_: k >= skip)
            ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            ds = ds.ignore_errors()
            end = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), ds.element_spec)
            ds = ds.concatenate(tf.data.Dataset.from_tensors((start + n,) + end[1:]))

            def report(previous, element):
                k = element[0]
                names_skipped = names[previous + 1 - start:k - start]
                if self.names_in_elements:
                    joined = tf.strings.reduce_join(names_skipped, separator="\n")
                    return tf.identity(k), element + (joined, k < start + n)
                done = tf.cond(
                    k > previous + 1,
                    lambda: self._report(names_skipped, tf.range(previous + 1, k), epoch),
                    lambda: tf.constant(0, tf.int64))
                with tf.control_dependencies([done]):
                    return tf.identity(k), element

            first = tf.maximum(start, tf.cast(skip, tf.int64)) - 1
            ds = ds.scan(first, report)
            if self.names_in_elements:
                return ds.map(lambda k, *rest: rest)  # the end marker carries trailing names
            return ds.filter(lambda k, *_: k < start + n).map(lambda k, views, label: (views, label))

        def carry(pending, element):
            views, label, names, real = element
            names = tf.strings.reduce_join(tf.stack([pending, names]), separator="\n")
            return tf.where(real, "", names), (views, label, names, real)

        ds = examples.flat_map(window_examples)
        if self.names_in_elements:
            ds = ds.scan(tf.constant(""), carry).filter(lambda *e: e[3]).map(lambda *e: e[:3])
        return ds

    def report_joined(self, joined):
        """Reports the names `decoded(..)` joined into its elements (any shape of strings)."""
        names = tf.strings.split(tf.strings.reduce_join(joined, separator="\n"), "\n")
        names = tf.boolean_mask(names, tf.strings.length(names) > 0)
        return tf.cond(tf.size(names) > 0, lambda: self._report(names),
                       lambda: tf.constant(0, tf.int64))

    def _report(self, names, positions=None, epoch=None):
        def record(names, *where):
            # tf.data may pull again after the error; the element that carried it then looks
            # skipped too, so the first error is repeated instead of recording more names.
            if self.bad_images.error is not None:
                raise self.bad_images.error
            placed = dict(epoch=int(where[0]), positions=where[1].numpy().tolist()) if where \
                else {}
            self.bad_images.record([n.decode() for n in names.numpy()], self.on_bad_image,
                                   self.max_bad, self.stream.description, **placed)
            return 0

        where = [] if epoch is None else [epoch, positions]
        return tf.py_function(record, [names, *where], tf.int64)

