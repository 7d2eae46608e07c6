"""tf.data pipelines over in-memory arrays: shuffled pre-training batches and eval batches."""

import tensorflow as tf

from keras_ssl.data.sources import check_arrays, is_positive_int, load_arrays


def _check_batch_size(batch_size):
    if not is_positive_int(batch_size):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    return int(batch_size)


def pretraining_dataset(
    source,
    batch_size,
    transform=None,
    split="train",
    seed=0,
    image_size=None,
    shuffle_buffer=None,
    with_labels=False,
    max_examples=None,
    arrays=None,
    data_dir=None,
):
    """Shuffled, fixed-size batches for pre-training, each with a fresh random seed.

    Every batch (of every epoch) is passed to ``transform`` with its own stateless seed
    pair, so augmentations are reproducible for a given ``seed`` yet differ between
    batches and epochs. Shuffling is redone each epoch, also from ``seed``. The last
    partial batch is dropped so batch shapes are static.

    Args:
      source: see `keras_ssl.data.parse_source`; ignored when ``arrays`` is given.
      batch_size: examples per batch; at most the number of examples.
      transform: ``transform(images, seed) -> anything`` (or
        ``transform(images, labels, seed)`` if ``with_labels``), with uint8 images
        ``[B, H, W, 3]``, int32 labels ``[B]`` and an int64 seed ``[2]`` for
        ``tf.random.stateless_*`` ops. Traced by tf.data, so it must be TF code.
        None yields the uint8 images (and labels if ``with_labels``).
      split, image_size, max_examples, data_dir: passed to `load_arrays`.
      seed: int seed of shuffling and of the per-batch seeds.
      shuffle_buffer: shuffle buffer size; default the whole dataset (a full shuffle).
      with_labels: also pass labels to ``transform`` (or yield them).
      arrays: already loaded ``(images, labels)``, to avoid decoding a source twice.

    Returns:
      A `tf.data.Dataset` of ``transform`` outputs, prefetched.

    Example:

    >>> def two_flips(images, seed):
    ...     x = tf.image.convert_image_dtype(images, tf.float32)
    ...     return tf.image.stateless_random_flip_left_right(x, seed), x
    >>> ds = pretraining_dataset("folder:/data/cifar10", 256, two_flips)
    >>> view_a, view_b = next(iter(ds))  # float32 [256, 32, 32, 3] each.
    """
    batch_size = _check_batch_size(batch_size)
    if arrays is None:
        images, labels, _ = load_arrays(source, split, image_size, max_examples, data_dir)
    else:
        images, labels = check_arrays(arrays, "arrays")
    if batch_size > len(images):
        raise ValueError(
            f"batch_size {batch_size} is larger than the {len(images)} examples; no full batch "
            "could be made (the last partial batch is dropped). Use a smaller batch_size."
        )
    if shuffle_buffer is not None and not is_positive_int(shuffle_buffer):
        raise ValueError(f"shuffle_buffer must be a positive int or None, got {shuffle_buffer!r}.")
    images, labels = tf.constant(images), tf.constant(labels)

    # Shuffling indices and gathering whole batches avoids per-example slicing.
    indices = tf.data.Dataset.range(len(images))
    indices = indices.shuffle(shuffle_buffer or len(images), seed=seed, reshuffle_each_iteration=True)
    indices = indices.batch(batch_size, drop_remainder=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)

    def make_batch(index, batch_seed):
        batch = (tf.gather(images, index),) + ((tf.gather(labels, index),) if with_labels else ())
        if transform is not None:
            return transform(*batch, batch_seed)
        return batch if with_labels else batch[0]

    ds = tf.data.Dataset.zip(indices, seeds)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(images, labels, batch_size):
    """Batches of ``(images uint8, labels int32)`` in order, the last one possibly smaller.

    Example:

    >>> images, labels, _ = load_arrays("folder:/data/cifar10", split="test")
    >>> for x, y in eval_dataset(images, labels, 512): ...
    """
    batch_size = _check_batch_size(batch_size)
    images, labels = check_arrays((images, labels), "eval_dataset")
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
