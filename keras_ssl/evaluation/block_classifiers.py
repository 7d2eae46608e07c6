"""RotNet's classifiers on frozen convolutional feature maps.

Gidaris, Singh & Komodakis 2018, "Unsupervised Representation Learning by
Predicting Image Rotations" (ICLR), section 4.1, evaluate each convolutional
block of a RotNet by training a classifier on its frozen feature maps (192 x 8 x 8
maps for the blocks after the first on CIFAR-10), not on pooled vectors:

- "RotNet + non-linear" (tables 1 and 2): :func:`nonlinear_classifier`, three
  fully connected layers on the flattened map, the two hidden ones of width
  min(20 * classes, 2048) (200 for CIFAR-10) with batch norm and ReLU;
- "RotNet + conv" (table 2): :func:`conv_classifier`, a third NIN block
  (3x3 then two 1x1 convolutions of 192 channels, each with batch norm and ReLU),
  global average pooling and a linear layer.

Both follow the authors' code (github.com/gidariss/FeatureLearningRotNet):
``architectures/NonLinearClassifier.py`` (``cls_type`` 'MultLayer' and
'NIN_ConvBlock3'), trained as in
``config/CIFAR10_MultLayerClassifier_on_RotNet_NIN4blocks_Conv2_feats.py`` and
``config/CIFAR10_ConvClassifier_on_RotNet_NIN4blocks_Conv2_feats.py`` by
``algorithms/Algorithm.py``: SGD, batch 128, momentum 0.9 (Nesterov), weight
decay 5e-4, 100 epochs, and a step learning-rate table read per epoch.

Where this differs from the authors' runs:

- Maps are extracted once and the classifier trains on those fixed maps. The
  authors recompute the maps at every step from augmented images (random
  32x32 crops of 4-pixel padded images and horizontal flips on the CIFAR-10
  train split, ``dataloader.py``) through the frozen extractor in eval mode;
  without augmentation the classifiers overfit more, so expect somewhat lower
  test accuracy than the paper's.
- The authors keep the epoch with the best *test* top-1 (``best_metric: prec1``,
  ``Algorithm.keep_record_of_best_model``); the result here is the last epoch's.
- ``epochs`` below 100 compresses the authors' table proportionally (a CPU cannot
  afford 100 epochs of 50,000 maps); ``epochs=None`` is theirs.
"""

import keras
import numpy as np

from keras_ssl.evaluation import _probe, _validation, protocols

#: The authors' settings shared by both classifiers (their two configs).
AUTHORS_EPOCHS = 100
WEIGHT_DECAY = 5e-4
MOMENTUM = 0.9
#: Their ``LUT_lr`` tables: (epoch the rate ends at, learning rate), read by
#: ``Algorithm.adjust_learning_rates``: epoch e takes the first rate whose end is
#: > e, and the last rate once the table runs out.
NONLINEAR_LR_TABLE = ((20, 0.1), (40, 0.02), (45, 0.004), (50, 0.0008))
CONV_LR_TABLE = ((35, 0.1), (70, 0.02), (85, 0.004), (100, 0.0008))
CONV_CHANNELS = 192
_BN = {"momentum": 0.9, "epsilon": 1e-5}  # PyTorch's BatchNorm defaults (its momentum 0.1)


def nonlinear_classifier(train_maps, train_labels, test_maps, test_labels, num_classes,
                         epochs=None, batch_size=128, seed=0, verbose=False):
    """Trains RotNet's non-linear classifier on frozen feature maps; reports test accuracy.

    The model is :func:`nonlinear_classifier_model`; training is described in
    :func:`conv_classifier` (the learning-rate table here is the authors'
    'MultLayer' one, ``NONLINEAR_LR_TABLE``: 0.1, then 0.02 from epoch 20, 0.004
    from 40 and 0.0008 from 45 to 100; their config runs 100 epochs although the
    table ends at 50, and their code keeps its last rate after it).

    Example (the class is the quadrant holding a spot: only the layout tells):

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 4, 600)
    >>> maps = 0.1 * rng.standard_normal((600, 4, 4, 2)).astype("float32")
    >>> maps[np.arange(600), 2 * (labels // 2), 2 * (labels % 2), 0] += 3
    >>> result = nonlinear_classifier(maps[:500], labels[:500], maps[500:], labels[500:],
    ...                               num_classes=4, epochs=5, batch_size=50)
    >>> result["top1"], result["hidden_dims"]
    (1.0, [80, 80])

    Args:
        train_maps: float array [N, h, w, C] (channels last): the frozen feature
            maps of one block (the encoder cut after it, in inference mode).
        train_labels: int array [N], class ids in [0, num_classes).
        test_maps: float array [M, h, w, C].
        test_labels: int array [M].
        num_classes: number of classes K; the hidden width is min(20 K, 2048).
        epochs: passes over the train maps; ``None`` is the authors' 100, fewer
            compress their learning-rate table proportionally.
        batch_size: maps per SGD step (128 as the authors).
        seed: seed of the initialisation and of the shuffling; equal seeds give
            equal results.
        verbose: show a progress bar over the epochs.

    Returns:
        dict with ``protocol="rotnet_nonlinear"``, test ``top1`` and ``top5``
        (top-``top5_k``, k = min(5, K)), ``train_top1``, and the settings
        (``hidden_dims``, ``epochs``, ``authors_epochs``, ``batch_size``,
        ``steps_per_epoch``, ``learning_rate_table`` as [first step, rate] pairs and
        the authors' ``authors_learning_rate_table`` as [end epoch, rate] pairs,
        ``optimizer``, ``momentum``, ``nesterov``, ``weight_decay``,
        ``augmentation``, ``seed``, ``num_train``, ``num_test``, ``map_shape``,
        ``num_classes``), all plain python values, ready for JSON.

    Raises:
        ValueError: on malformed maps / labels (pooled [N, D] vectors included)
            or bad settings.
    """
    return _fit_block_classifier(
        "rotnet_nonlinear", nonlinear_classifier_model, NONLINEAR_LR_TABLE,
        "Training RotNet's non-linear classifier", train_maps, train_labels, test_maps,
        test_labels, num_classes, epochs, batch_size, seed, verbose)


def conv_classifier(train_maps, train_labels, test_maps, test_labels, num_classes,
                    epochs=None, batch_size=128, seed=0, verbose=False):
    """Trains RotNet's convolutional classifier on frozen feature maps; reports test accuracy.

    The model is :func:`conv_classifier_model`, trained from the authors'
    initialisation with softmax cross-entropy by SGD with Nesterov momentum 0.9 on
    mini-batches of ``batch_size`` maps reshuffled every epoch (with ``seed``).
    The maps are used as given (the authors do not normalise them either; batch
    norm follows the first layer).

    Learning rate: the authors' per-epoch table ``CONV_LR_TABLE`` (0.1, then
    0.02 from epoch 35, 0.004 from 70 and 0.0008 from 85 to 100) as a
    ``keras.optimizers.schedules.PiecewiseConstantDecay`` over steps: the rate
    whose table entry starts at epoch e starts at step
    ``floor(e * epochs * steps_per_epoch / 100)``, which is ``e * steps_per_epoch``
    for the authors' 100 epochs and the same fractions of training for fewer.

    Weight decay: PyTorch's ``SGD(weight_decay=5e-4)`` adds ``5e-4 * p`` to the
    gradient of every parameter (kernels, biases, batch-norm scales and offsets)
    before the momentum, which is the gradient of ``5e-4 / 2 * ||p||^2`` added to
    the loss; so every trainable variable carries ``keras.regularizers.L2(2.5e-4)``.
    Keras' own ``SGD(weight_decay=...)`` is not that: it shrinks the weights apart
    from the momentum (decoupled, as AdamW). Keras also keeps the learning rate
    inside the momentum buffer where PyTorch applies it outside; the two agree at a
    constant rate, and after each rate drop Keras' buffer carries the previous rate
    for the few tens of steps momentum 0.9 takes to forget it.

    Everything computes in float32 whatever the global mixed-precision policy.

    Example (the class is whether a spot of channel 0 has its channel-1 partner to
    its right or below: the per-channel sums are the same for both):

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 2, 600)
    >>> maps = 0.1 * rng.standard_normal((600, 5, 5, 2)).astype("float32")
    >>> row, col = rng.integers(0, 4, (2, 600))
    >>> maps[np.arange(600), row, col, 0] += 3
    >>> maps[np.arange(600), row + labels, col + 1 - labels, 1] += 3
    >>> result = conv_classifier(maps[:500], labels[:500], maps[500:], labels[500:],
    ...                          num_classes=2, epochs=5, batch_size=50)
    >>> result["top1"] > 0.95
    True

    Arguments: as for :func:`nonlinear_classifier`.

    Returns:
        dict as :func:`nonlinear_classifier` returns, with
        ``protocol="rotnet_conv"`` and, instead of ``hidden_dims``,
        ``conv_channels=[192, 192, 192]`` and ``conv_kernel_sizes=[3, 1, 1]``.

    Raises:
        ValueError: on malformed maps / labels (pooled [N, D] vectors included)
            or bad settings.
    """
    return _fit_block_classifier(
        "rotnet_conv", conv_classifier_model, CONV_LR_TABLE,
        "Training RotNet's convolutional classifier", train_maps, train_labels, test_maps,
        test_labels, num_classes, epochs, batch_size, seed, verbose)


def nonlinear_classifier_model(map_shape, num_classes, seed=0, weight_decay=WEIGHT_DECAY):
    """The authors' 'MultLayer' classifier on maps of shape ``map_shape`` = (h, w, C).

    Flatten -> Dense(F, no bias) -> BatchNorm -> ReLU -> Dense(F, no bias) ->
    BatchNorm -> ReLU -> Dense(num_classes), with F = min(20 * num_classes, 2048).
    (The authors apply ``BatchNorm2d`` to the [N, F] activations, which old PyTorch
    accepted and computed as a per-feature batch norm, as here. They flatten
    channels-first maps; the order of a fully connected layer's inputs does not
    matter.) Kernels are drawn from N(0, 2 / fan_out), biases are zero, and every
    trainable variable gets the L2 penalty ``weight_decay / 2 * ||p||^2``.
    """
    width = min(20 * num_classes, 2048)
    init = _Initializers(seed)
    layers = [keras.Input(tuple(map_shape), dtype="float32"),
              keras.layers.Flatten(dtype="float32", name="flatten")]
    for i in (1, 2):
        layers += [
            keras.layers.Dense(width, use_bias=False, kernel_initializer=init(),
                               **_decay(weight_decay), dtype="float32", name=f"linear_{i}"),
            keras.layers.BatchNormalization(**_BN, **_decay(weight_decay, batch_norm=True),
                                            dtype="float32", name=f"batch_norm_{i}"),
            keras.layers.ReLU(dtype="float32", name=f"relu_{i}"),
        ]
    layers.append(keras.layers.Dense(num_classes, kernel_initializer=init(),
                                     **_decay(weight_decay, bias=True), dtype="float32",
                                     name="logits"))
    return keras.Sequential(layers, name="rotnet_nonlinear_classifier")


def conv_classifier_model(map_shape, num_classes, seed=0, weight_decay=WEIGHT_DECAY):
    """The authors' 'NIN_ConvBlock3' classifier on maps of shape ``map_shape`` = (h, w, C).

    Three blocks Conv2D(192, no bias, 'same' padding) -> BatchNorm -> ReLU with
    kernel sizes 3, 1, 1, then global average pooling and Dense(num_classes).
    (The authors' pooling asserts square maps; any h x w is accepted here.)
    Initialisation and penalty as :func:`nonlinear_classifier_model`.
    """
    init = _Initializers(seed)
    layers = [keras.Input(tuple(map_shape), dtype="float32")]
    for i, size in enumerate((3, 1, 1), start=1):
        layers += [
            keras.layers.Conv2D(CONV_CHANNELS, size, padding="same", use_bias=False,
                                kernel_initializer=init(), **_decay(weight_decay),
                                dtype="float32", name=f"conv_{i}"),
            keras.layers.BatchNormalization(**_BN, **_decay(weight_decay, batch_norm=True),
                                            dtype="float32", name=f"batch_norm_{i}"),
            keras.layers.ReLU(dtype="float32", name=f"relu_{i}"),
        ]
    layers += [
        keras.layers.GlobalAveragePooling2D(dtype="float32", name="global_average_pool"),
        keras.layers.Dense(num_classes, kernel_initializer=init(),
                           **_decay(weight_decay, bias=True), dtype="float32", name="logits"),
    ]
    return keras.Sequential(layers, name="rotnet_conv_classifier")


def learning_rate_schedule(table, epochs, steps_per_epoch, authors_epochs=AUTHORS_EPOCHS):
    """The authors' per-epoch learning-rate ``table`` as a schedule over optimizer steps.

    ``table`` holds (end epoch, rate) pairs for ``authors_epochs`` epochs; each
    rate starts where the previous ends (the first at 0) and the last one runs to
    the end of training. Start epochs e become start steps
    ``floor(e * epochs * steps_per_epoch / authors_epochs)``.

    Returns:
        (schedule, steps): a ``PiecewiseConstantDecay`` called with the number of
        steps already taken (as Keras' optimizers do) and the [first step, rate]
        pairs it follows.
    """
    total_steps = epochs * steps_per_epoch
    starts = [0] + [end * total_steps // authors_epochs for end, _ in table[:-1]]
    rates = [float(rate) for _, rate in table]
    # PiecewiseConstantDecay keeps rates[i] while step <= boundaries[i]: a rate starting at
    # step s ends the previous one at s - 1.
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        [start - 1 for start in starts[1:]], rates)
    return schedule, [[int(start), rate] for start, rate in zip(starts, rates)]


def _fit_block_classifier(protocol, build, table, title, train_maps, train_labels, test_maps,
                          test_labels, num_classes, epochs, batch_size, seed, verbose):
    num_classes = _validation.check_positive_int("num_classes", num_classes)
    epochs = AUTHORS_EPOCHS if epochs is None else _validation.check_positive_int(
        "epochs", epochs)
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer, got {seed!r}.")
    train_maps = _validation.check_maps("train_maps", train_maps)
    num_train, map_shape = len(train_maps), train_maps.shape[1:]
    train_labels = _validation.check_labels("train_labels", train_labels, num_train, num_classes)
    test_maps = _validation.check_maps("test_maps", test_maps, map_shape=map_shape)
    test_labels = _validation.check_labels("test_labels", test_labels, len(test_maps),
                                           num_classes)

    model = build(map_shape, num_classes, seed=int(seed))
    steps = _probe.steps_per_epoch(num_train, batch_size)
    schedule, lr_steps = learning_rate_schedule(table, epochs, steps)
    scores = _probe.fit_and_score(
        model, keras.optimizers.SGD(schedule, momentum=MOMENTUM, nesterov=True),
        train_maps, train_labels, test_maps, test_labels, num_classes, epochs=epochs,
        batch_size=batch_size, seed=int(seed), title=title if verbose else None,
        # float32 throughout, so no loss scaling even under a mixed_float16 policy.
        auto_scale_loss=False, predict_batch_size=1024)
    if protocol == "rotnet_nonlinear":
        architecture = {"hidden_dims": [min(20 * num_classes, 2048)] * 2}
    else:
        architecture = {"conv_channels": [CONV_CHANNELS] * 3, "conv_kernel_sizes": [3, 1, 1]}
    return {
        "protocol": protocol,
        **scores,
        **architecture,
        "epochs": epochs,
        "authors_epochs": AUTHORS_EPOCHS,
        "batch_size": batch_size,
        "steps_per_epoch": steps,
        "learning_rate_table": lr_steps,
        "authors_learning_rate_table": [[int(end), float(rate)] for end, rate in table],
        "optimizer": "sgd",
        "momentum": MOMENTUM,
        "nesterov": True,
        "weight_decay": WEIGHT_DECAY,
        "augmentation": "none (frozen maps extracted once)",
        "seed": int(seed),
        "num_train": int(num_train),
        "num_test": int(len(test_maps)),
        "map_shape": [int(d) for d in map_shape],
        "num_classes": num_classes,
    }


class _Initializers:
    """The authors' N(0, 2 / fan_out) kernels (fan_out = k * k * out for a convolution, out
    for a linear layer), untruncated, each layer with its own seed derived from `seed`."""

    def __init__(self, seed):
        self.seed = seed
        self.count = 0

    def __call__(self):
        self.count += 1
        return keras.initializers.VarianceScaling(
            2.0, mode="fan_out", distribution="untruncated_normal",
            seed=self.seed * 1000 + self.count)


def _decay(weight_decay, bias=False, batch_norm=False):
    """Regularizer arguments giving the gradient `weight_decay * p` on each variable."""
    l2 = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    if batch_norm:
        return {"gamma_regularizer": l2, "beta_regularizer": l2}
    return {"kernel_regularizer": l2, **({"bias_regularizer": l2} if bias else {})}


def _register(name, order, classifier):
    def run(data, features, seed, options, **_):
        return classifier(features[0], data.train.labels, features[1], data.test.labels,
                          data.num_classes, epochs=options.map_epochs, seed=seed, verbose=True)

    protocols.register(name, order, run, lambda r: {f"{name} top-1": r["top1"]},
                       scores=r"top\d|train_top1", feature_maps=True)


_register("nonlinear", 80, nonlinear_classifier)
_register("conv", 90, conv_classifier)
