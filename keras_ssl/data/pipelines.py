"""tf.data pipelines over in-memory arrays: shuffled pre-training batches and eval batches."""

import tensorflow as tf

from keras_ssl.data.device_augmentation import augment_element, check_augment_on
from keras_ssl.data.priority import after_yielding_cores, background_options
from keras_ssl.data.sources import check_arrays, is_positive_int, load_arrays


def check_batch_size(batch_size):
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
    with_labels=False,
    max_examples=None,
    arrays=None,
    data_dir=None,
    epochs=None,
    initial_epoch=0,
    initial_step=0,
    input_context=None,
    background_priority=True,
    augment_on="host",
):
    """Shuffled, fixed-size batches for pre-training, each with a fresh random seed.

    Every batch (of every epoch) is passed to ``transform`` with its own stateless seed
    pair, so augmentations are reproducible for a given ``seed`` yet differ between
    batches and epochs. Each epoch is a fresh full permutation of the examples. The last
    partial batch is dropped so batch shapes are static.

    Epochs: by default the dataset is one epoch, reshuffled with new seeds each time it is
    iterated (as ``model.fit(dataset, epochs=...)`` does). With ``epochs`` it holds epochs
    ``initial_epoch .. epochs - 1`` in one pass, each shuffled and seeded from ``(seed,
    epoch)`` alone, the first starting at batch ``initial_step``: a run resumed from a
    checkpoint at ``(epoch, step)`` sees exactly the batches and augmentations an
    uninterrupted run would. Pass ``steps_per_epoch = num_examples // batch_size`` to ``fit``.

    Replicas: with a ``tf.distribute.InputContext`` (``strategy.distribute_datasets_from_function``
    passes one) ``batch_size`` is the global batch; the dataset yields per-replica batches for
    the replicas this input pipeline feeds, one element per replica and step, in replica order.
    Every pipeline draws the same global permutation and keeps its replicas' slices, so
    workers see disjoint data whose union is the global batch, and each replica's slice is
    transformed with its own seed (augmentations differ between replicas even for equal
    images). Without a context the whole batch is one slice.

    Args:
      source: see `keras_ssl.data.parse_source`; ignored when ``arrays`` is given.
      batch_size: examples per (global) batch; at most the number of examples.
      transform: ``transform(images, seed) -> anything`` (or
        ``transform(images, labels, seed)`` if ``with_labels``), with uint8 images
        ``[B, H, W, 3]``, int32 labels ``[B]`` and an int64 seed ``[2]`` for
        ``tf.random.stateless_*`` ops. Traced by tf.data, so it must be TF code.
        None yields the uint8 images (and labels if ``with_labels``). A transform with a
        true ``uses_image_index`` attribute is called with ``image_index=`` int32 ``[B]`` too:
        each image's row in the source's arrays, the same in every epoch (a stable identity,
        e.g. Exemplar-CNN's surrogate class).
      split, image_size, max_examples, data_dir: passed to `load_arrays`.
      seed: int seed of shuffling and of the per-batch seeds.
      with_labels: also pass labels to ``transform`` (or yield them).
      arrays: already loaded ``(images, labels)``, to avoid decoding a source twice.
      epochs, initial_epoch, initial_step: a fixed run of epochs, and where to start it.
      input_context: a ``tf.distribute.InputContext`` (see Replicas above).
      background_priority: make the batches on the pipeline's own threads at low priority
        (`keras_ssl.data.priority`), so that on a CPU they take the time the train step leaves
        idle rather than its cores; the batches are the same either way.
      augment_on: ``"host"`` runs ``transform`` here; ``"device"`` yields its inputs instead,
        ``{"images": uint8, "seed": int64 [2]}`` (and ``"image_index"``) per replica batch, for
        the train step's `keras_ssl.data.DeviceAugmentation` (``model.device_augmentation``),
        which calls ``transform`` on them: the same views, computed on the accelerator.

    Returns:
      A `tf.data.Dataset` of ``transform`` outputs, prefetched.

    Example:

    >>> def two_flips(images, seed):
    ...     x = tf.image.convert_image_dtype(images, tf.float32)
    ...     return tf.image.stateless_random_flip_left_right(x, seed), x
    >>> ds = pretraining_dataset("folder:/data/cifar10", 256, two_flips)
    >>> view_a, view_b = next(iter(ds))  # float32 [256, 32, 32, 3] each.
    >>> # Under a strategy, resuming at epoch 3, batch 17 of a 100-epoch run:
    >>> dist = strategy.distribute_datasets_from_function(lambda ctx: pretraining_dataset(
    ...     "folder:/data/cifar10", 256, two_flips, epochs=100, initial_epoch=3,
    ...     initial_step=17, input_context=ctx))
    """
    batch_size = check_batch_size(batch_size)
    on_device = check_augment_on(augment_on, transform, with_labels)
    if arrays is None:
        images, labels, _ = load_arrays(source, split, image_size, max_examples, data_dir)
    else:
        images, labels = check_arrays(arrays, "arrays")
    if batch_size > len(images):
        raise ValueError(
            f"batch_size {batch_size} is larger than the {len(images)} examples; no full batch "
            "could be made (the last partial batch is dropped). Use a smaller batch_size."
        )
    steps = len(images) // batch_size
    epoch_keys = epoch_key_dataset(seed, epochs, initial_epoch, initial_step, steps)
    replicas, per_replica, local, first = replica_slots(input_context, batch_size)
    images, labels = tf.constant(images), tf.constant(labels)

    def epoch_plan(key):
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(key, tf.int64)])
        order_key, seed_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        order = tf.random.experimental.stateless_shuffle(tf.range(len(images)), seed=order_key)
        index = tf.reshape(order[:steps * batch_size], [steps, replicas, per_replica])
        seeds = batch_seeds(seed_key, steps, replicas)
        return tf.data.Dataset.from_tensor_slices(
            (index[:, first:first + local], seeds[:, first:first + local]))

    def replica_batches(index, batch_seeds):
        if background_priority:
            index = after_yielding_cores(index)
        outputs = []
        for r in range(local):
            batch = (tf.gather(images, index[r]),) + (
                (tf.gather(labels, index[r]),) if with_labels else ())
            # A transform that labels by image (Exemplar-CNN's surrogate classes) is also
            # given each image's row in `images`, the same in every epoch.
            index_arg = ({"image_index": index[r]}
                         if getattr(transform, "uses_image_index", False) else {})
            if transform is None:
                outputs.append(batch if with_labels else batch[0])
            elif with_labels:
                outputs.append(transform(*batch, batch_seeds[r], **index_arg))
            else:
                element = {"images": batch[0], "seed": batch_seeds[r], **index_arg}
                outputs.append(element if on_device else augment_element(transform, element))
        return tf.nest.map_structure(lambda *xs: tf.stack(xs), *outputs)

    plan = epoch_keys.flat_map(epoch_plan).skip(initial_step)
    ds = plan.map(replica_batches, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.flat_map(lambda *x: tf.data.Dataset.from_tensor_slices(x[0] if len(x) == 1 else x))
    ds = with_length(ds, steps, epochs, initial_epoch, initial_step, local)
    return ds.with_options(background_options()) if background_priority else ds


def epoch_key_dataset(seed, epochs, initial_epoch, initial_step, steps):
    """The epochs a pipeline runs, as a dataset of int64 keys (see `pretraining_dataset`)."""
    if epochs is None:
        if initial_epoch or initial_step:
            raise ValueError("initial_epoch and initial_step need epochs (the run's length).")
        # One epoch per iteration, keyed by a number drawn afresh for each iteration.
        return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    if not (is_positive_int(epochs) and isinstance(initial_epoch, int)
            and 0 <= initial_epoch < epochs):
        raise ValueError(f"need 0 <= initial_epoch < epochs, got initial_epoch="
                         f"{initial_epoch!r}, epochs={epochs!r}.")
    if not (isinstance(initial_step, int) and 0 <= initial_step < steps):
        raise ValueError(f"initial_step must be in [0, {steps}) (batches per epoch), got "
                         f"{initial_step!r}.")
    return tf.data.Dataset.range(initial_epoch, epochs)


def batch_seeds(seed_key, steps, replicas):
    """int64 [steps, replicas, 2]: the transform's seed for every batch slice of an epoch."""
    return tf.random.stateless_uniform([steps, replicas, 2], seed=seed_key, minval=None,
                                       maxval=None, dtype=tf.int64)


def replica_slots(input_context, batch_size):
    """(replicas in sync, per-replica batch, replicas this pipeline feeds, its first replica)."""
    context = input_context or tf.distribute.InputContext()
    replicas = context.num_replicas_in_sync
    local = replicas // context.num_input_pipelines
    return (replicas, context.get_per_replica_batch_size(batch_size), local,
            context.input_pipeline_id * local)


def with_length(ds, steps, epochs, initial_epoch, initial_step, local):
    """Declares the number of per-replica batches and prefetches."""
    # flat_map hides the length, which Keras needs for its progress bar and to end epochs cleanly.
    batches = steps if epochs is None else (epochs - initial_epoch) * steps - initial_step
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches * local))
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(images, labels, batch_size):
    """Batches of ``(images uint8, labels int32)`` in order, the last one possibly smaller.

    Example:

    >>> images, labels, _ = load_arrays("folder:/data/cifar10", split="test")
    >>> for x, y in eval_dataset(images, labels, 512): ...
    """
    batch_size = check_batch_size(batch_size)
    images, labels = check_arrays((images, labels), "eval_dataset")
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
