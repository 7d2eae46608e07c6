"""Fine-tuning evaluation: the whole network trained with labels, on all or some of them.

SimCLR's protocol (Chen et al. 2020, App. B.5): a linear head is put on the
encoder and both are trained with cross-entropy by SGD with Nesterov momentum
0.9 and learning rate 0.05 x batch / 256, with no warm-up and no weight decay;
the only augmentation is a random resized crop with a random left-right flip.
For semi-supervised evaluation the same is done on a class-balanced 1% or 10% of
the train labels (see :mod:`keras_ssl.evaluation.subsets`), for 60 and 30 epochs.
The learning rate follows a cosine decay to zero, as SimCLR's code does.

`finetune` takes images in memory; `finetune_split` (what `keras-ssl eval` runs) takes labelled
splits, which may be streamed: then the train images are read batch by batch every epoch and the
test split is scored from its features, so any number of images can be fine-tuned on.
"""

import posixpath

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_ssl.augment import random_flip, random_resized_crop
from keras_ssl.data.sources import split_file_names
from keras_ssl.evaluation import _probe, _progress, _validation, protocols
from keras_ssl.evaluation.features import encoder_image_size, extract_features, split_features
from keras_ssl.evaluation.subsets import balanced_subset, read_subset_file


def finetune(encoder, train_images, train_labels, test_images, test_labels, num_classes,
             subset=None, epochs=30, batch_size=256, learning_rate=None, momentum=0.9,
             weight_decay=0.0, crop_scale=(0.08, 1.0), seed=0, eval_batch_size=512,
             num_train_split=None, verbose=False):
    """Fine-tunes ``encoder`` with a linear head on labelled train images; reports test accuracy.

    The encoder's weights are changed in place (pass a fresh copy to keep the
    original): its trainable variables and the head's are updated, and batch-norm
    layers run in training mode (batch statistics, moving averages updated).
    Test images are scored unaugmented, with the encoder in inference mode.

    Example:

    >>> encoder = keras.models.load_model("runs/simclr/encoder.keras")      # doctest: +SKIP
    >>> subset = balanced_subset(train_labels, 0.01, seed=0)                 # doctest: +SKIP
    >>> finetune(encoder, train_images, train_labels, test_images, test_labels,
    ...          num_classes=10, subset=subset, epochs=60)["top1"]           # doctest: +SKIP

    Args:
        encoder: a Keras encoder or a
            :class:`~keras_ssl.evaluation.SavedModelEncoder`: ``encoder(x, training)``
            maps float32 [B, H, W, 3] in [0, 1] to [B, D] and has ``trainable_variables``.
        train_images: uint8 [N, H, W, 3] of the train split.
        train_labels: int [N].
        test_images: uint8 [M, H, W, 3].
        test_labels: int [M].
        num_classes: number of classes C.
        subset: indices into the train split of the labelled examples to use
            (see :mod:`~keras_ssl.evaluation.subsets`); None uses all of them.
        epochs: passes over the labelled examples.
        batch_size: examples per SGD step (the last step of an epoch may be smaller).
        learning_rate: peak learning rate; default SimCLR's 0.05 * batch_size / 256.
        momentum: Nesterov momentum.
        weight_decay: decoupled weight decay (SimCLR uses none).
        crop_scale: area range of the random resized crop.
        seed: seed of the shuffling and the augmentations.
        eval_batch_size: images per forward pass when scoring the test split.
        num_train_split: the size of the train split when ``train_images`` are already a subset
            of it (for the reported label fraction); default ``len(train_images)``.
        verbose: show a progress bar over the steps.

    Returns:
        dict with ``top1`` / ``top5`` test accuracies, ``train_loss`` (mean over the
        last epoch) and the protocol settings, all plain python values.

    Raises:
        ValueError: on malformed images / labels / subset or bad settings.
    """
    train_images, test_images = np.asarray(train_images), np.asarray(test_images)
    for name, images in (("train_images", train_images), ("test_images", test_images)):
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"`{name}` must be uint8 [N, H, W, 3], got {images.dtype} "
                             f"{images.shape}.")
    num_classes = _validation.check_positive_int("num_classes", num_classes)
    train_labels = _validation.check_labels("train_labels", train_labels, len(train_images),
                                            num_classes)
    test_labels = _validation.check_labels("test_labels", test_labels, len(test_images),
                                           num_classes)
    batch_size = _validation.check_positive_int("batch_size", batch_size)

    def test_split():
        return extract_features(encoder, test_images, eval_batch_size), test_labels

    return _finetune(encoder, _sliced(train_images, train_labels, batch_size), len(train_images),
                     tuple(train_images.shape[1:3]), test_split, num_classes, subset, epochs,
                     batch_size, learning_rate, momentum, weight_decay, crop_scale, seed,
                     num_train_split, verbose)


def finetune_split(encoder, train, test, num_classes, subset=None, epochs=30, batch_size=256,
                   learning_rate=None, momentum=0.9, weight_decay=0.0, crop_scale=(0.08, 1.0),
                   seed=0, eval_batch_size=512, verbose=False):
    """`finetune` on labelled splits (`keras_ssl.data.LabelledSplit`), in memory or streamed.

    A split in memory is fine-tuned on as `finetune` does. A streamed train split is read batch
    by batch (`LabelledSplit.training_batches`): from a folder the same rows in the same order,
    so the run equals the in-memory one; from records the epoch's rows are shuffled in windows
    (see there). A streamed test split is scored from its features alone (`split_features`).
    Memory then holds the encoder, the batches in flight, the epoch's row order (8 bytes a row)
    and the test features, whatever the number of images.

    Example:

    >>> data = LabelledData("folder:/data/imagenet", ("train", "val"), (224, 224), settings,
    ...                     memory_limit_mb=1024)                          # doctest: +SKIP
    >>> subset = balanced_subset(data.train.listed_labels, 0.01, seed=0)     # doctest: +SKIP
    >>> finetune_split(encoder, data.train, data.test, data.num_classes, subset,
    ...                epochs=60)["top1"]                                    # doctest: +SKIP

    Args:
        encoder: as `finetune`.
        train: a `LabelledSplit` at the encoder's image size.
        test: another.
        num_classes: number of classes C.
        subset: indices into the train split's `listed_labels` (None: all of them).
        epochs: as `finetune`, like the remaining arguments (`learning_rate`, `momentum`,
            `weight_decay`, `crop_scale`, `seed`, `eval_batch_size`, `verbose`).
        batch_size: examples per SGD step (the last step of an epoch may be smaller).

    Returns:
        As `finetune`.
    """
    num_classes = _validation.check_positive_int("num_classes", num_classes)
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    train_labels = _validation.check_labels("train labels", train.listed_labels,
                                            len(train.listed_labels), num_classes)
    if train.stream is None:
        batches = _sliced(train.images(), train_labels, batch_size)
    else:
        def batches(orders):
            return train.training_batches(((order, [seed, epoch]) for epoch, order in orders),
                                          batch_size).as_numpy_iterator()

    def test_split():
        features = split_features(encoder, test, eval_batch_size, verbose=verbose)
        return features, _validation.check_labels("test labels", test.labels, len(features),
                                                  num_classes)

    return _finetune(encoder, batches, len(train_labels), tuple(train.image_size), test_split,
                     num_classes, subset, epochs, batch_size, learning_rate, momentum,
                     weight_decay, crop_scale, seed, None, verbose)


def _finetune(encoder, batches, num_rows, size, test_split, num_classes, subset, epochs,
              batch_size, learning_rate, momentum, weight_decay, crop_scale, seed,
              num_train_split, verbose):
    """The fine-tuning loop of `finetune` and `finetune_split` over `num_rows` train rows.

    `batches(orders)` yields the `(epoch, uint8 images, int32 labels)` batches of each
    `(epoch, order)` of `orders`, the train rows in the epoch's order; `test_split()` gives the
    fine-tuned encoder's test features and the test labels.
    """
    epochs = _validation.check_positive_int("epochs", epochs)
    num_train_split = num_rows if num_train_split is None else int(num_train_split)
    if subset is not None:
        subset = np.asarray(subset)
        if (subset.ndim != 1 or len(subset) == 0 or not np.issubdtype(subset.dtype, np.integer)
                or subset.min() < 0 or subset.max() >= num_rows):
            raise ValueError(f"`subset` must be a non-empty 1-D array of indices into the "
                             f"{num_rows} train images, got {subset.dtype} {subset.shape}.")
    rows = np.arange(num_rows) if subset is None else subset.astype(np.int64)
    learning_rate = 0.05 * batch_size / 256 if learning_rate is None else float(learning_rate)
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    num_train = len(rows)
    steps_per_epoch = -(-num_train // batch_size)
    if encoder_image_size(encoder) not in (None, size):
        raise ValueError(f"The images are {size[0]}x{size[1]} but the encoder takes "
                         f"{encoder_image_size(encoder)}; load them at the encoder's size.")

    head = keras.layers.Dense(num_classes, kernel_initializer="zeros", dtype="float32",
                              name="finetune_head")
    features = encoder(tf.zeros((1, *size, 3)), training=False)
    head.build(features.shape)
    optimizer = keras.optimizers.SGD(
        keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps_per_epoch),
        momentum=momentum, nesterov=True, weight_decay=weight_decay or None)
    variables = list(encoder.trainable_variables) + list(head.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(autograph=False, input_signature=[
        tf.TensorSpec([None, *size, 3], tf.uint8), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([2], tf.int64)])
    def train_step(images, labels, step_seed):
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(step_seed, 2))
        x = random_resized_crop(tf.cast(images, tf.float32) / 255.0, size, crop_seed,
                                scale=tuple(crop_scale))
        x = random_flip(x, flip_seed)
        with tf.GradientTape() as tape:
            logits = head(tf.cast(encoder(x, training=True), tf.float32))
            loss = loss_fn(labels, logits)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    bar = (_progress.progbar(epochs * steps_per_epoch, f"Fine-tuning on {num_train} labelled "
                             f"images for {epochs} epochs", "step", stateful_metrics=["loss"])
           if verbose else None)
    orders = ((epoch, rows[np.random.default_rng([seed, epoch]).permutation(num_train)])
              for epoch in range(epochs))
    last_epoch = None
    for epoch, images, labels in batches(orders):
        if epoch != last_epoch:
            last_epoch, step, losses = epoch, epoch * steps_per_epoch, []
        losses.append(float(train_step(images, labels, tf.constant([seed, step], tf.int64))))
        step += 1
        if bar is not None:
            bar.update(step, [("loss", losses[-1])])

    test_features, test_labels = test_split()
    top5_k = min(5, num_classes)
    ranking = _probe.ranking(head(test_features).numpy(), top5_k)
    return {
        "protocol": "finetune",
        "top1": float(np.mean(ranking[:, 0] == test_labels)),
        "top5": float(np.mean(np.any(ranking == test_labels[:, None], axis=1))),
        "top5_k": top5_k,
        "train_loss": float(np.mean(losses)),
        "label_fraction": num_train / num_train_split,
        "num_labelled": int(num_train),
        "num_train_split": int(num_train_split),
        "num_test": int(len(test_labels)),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": f"sgd_nesterov(momentum={momentum})",
        "schedule": "cosine without warm-up",
        "weight_decay": float(weight_decay),
        "augmentation": f"random_resized_crop(scale={tuple(crop_scale)}) + horizontal flip",
        "seed": int(seed),
        "num_classes": num_classes,
    }


def _sliced(images, labels, batch_size):
    """`batches(orders)` of `_finetune` over images and labels in memory."""
    def batches(orders):
        for epoch, order in orders:
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                yield epoch, images[rows], labels[rows]
    return batches


def _run(data, loader, seed, options, subset=None, epochs=None, **_):
    """SimCLR's fine-tuning of a fresh copy of the encoder on the train split's `subset` rows,
    the splits in memory or streamed."""
    return finetune_split(loader(), data.train, data.test, data.num_classes, subset=subset,
                          epochs=epochs or options.finetune_epochs,
                          batch_size=options.finetune_batch_size,
                          learning_rate=options.finetune_learning_rate, seed=seed, verbose=True)


def _run_semi(data, loader, seed, options, **_):
    """Fine-tuning on each label subset: class-balanced fractions, or a subset file, chosen from
    the train split's listed labels (a streamed split decodes no image for them)."""
    labels = data.train.listed_labels
    try:
        if options.subset_file:
            subset = read_subset_file(options.subset_file, len(labels),
                                      split_file_names(data.source, data.splits[0]))
            subsets = {posixpath.basename(options.subset_file): (
                subset, options.semi_epochs or 30, options.subset_file)}
        else:
            subsets = {f"{fraction:.0%}": (
                balanced_subset(labels, fraction, seed),
                options.semi_epochs or (60 if fraction <= 0.01 else 30),
                f"class-balanced {fraction:g} of the train split, seed {seed}")
                for fraction in options.semi_fractions}
    except ValueError as err:  # A bad subset file or fraction.
        raise protocols.ProtocolError(str(err)) from err
    results = {}
    for name, (subset, epochs, origin) in subsets.items():
        logging.info("semi-supervised fine-tuning on %s: %d labelled train images", name,
                     len(subset))
        results[name] = {**_run(data, loader, seed, options, subset, epochs),
                         "subset": origin, "subset_split": data.splits[0]}
    return {"protocol": "semi", "subsets": results}


_FINETUNE = protocols.register("finetune", 40, _run, lambda r: {"fine-tune top-1": r["top1"]},
                               scores=r"top\d|train_loss", frozen_features=False)
protocols.register(
    "semi", 50, _run_semi,
    lambda r: {f"semi {name} top-1": s["top1"] for name, s in r["subsets"].items()},
    scores=_FINETUNE.scores, frozen_features=False,
    settings=lambda r: {name: _FINETUNE.report_settings(s) for name, s in r["subsets"].items()})
