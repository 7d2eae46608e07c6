"""Linear evaluation: a softmax classifier trained on frozen features.

The standard protocol for self-supervised representations (Zhang et al. 2016,
"Colorful Image Colorization"; Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", Sec. 4 / App. B.6): the encoder
is frozen, and only a linear layer on its features is trained with
cross-entropy; test top-1 / top-5 measure how linearly separable the classes are.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.evaluation import _validation


def linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes,
    epochs=30,
    batch_size=1024,
    learning_rate=0.1,
    weight_decay=1e-5,
    seed=0,
):
    """Trains a linear softmax classifier on frozen features and reports test accuracy.

    Features are standardised with the mean / std of the *train* features only
    (constant dimensions are left unscaled). A single ``keras.layers.Dense``
    layer, zero-initialised, is trained with softmax cross-entropy plus the L2
    penalty ``weight_decay * ||W||^2`` by Adam with a cosine-decayed learning
    rate (Loshchilov & Hutter 2017), on mini-batches shuffled with ``seed``.
    The objective is convex, so the result depends little on these settings;
    they are returned so they can be stored with the metrics.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 600)
    >>> features = np.eye(3)[labels] * 10 + rng.standard_normal((600, 3))
    >>> result = linear_probe(features[:500], labels[:500], features[500:],
    ...                       labels[500:], num_classes=3, epochs=5)
    >>> result["top1"]
    1.0

    Args:
        train_features: float array [N, D].
        train_labels: int array [N], class ids in [0, num_classes).
        test_features: float array [M, D].
        test_labels: int array [M].
        num_classes: number of classes C.
        epochs: passes over the train features.
        batch_size: train features per Adam step.
        learning_rate: peak Adam learning rate, decayed to 0 by a cosine.
        weight_decay: L2 coefficient on the Dense kernel (bias not penalised).
        seed: seed of the mini-batch shuffling; equal seeds give equal results.

    Returns:
        dict with ``top1`` and ``top5`` test accuracies (``top5`` is top-min(5, C)),
        ``train_top1``, and the protocol settings (``protocol``, ``epochs``,
        ``batch_size``, ``learning_rate``, ``weight_decay``, ``optimizer``,
        ``schedule``, ``seed``, ``num_train``, ``num_test``, ``feature_dim``,
        ``num_classes``), all plain python values, ready for JSON.

    Raises:
        ValueError: on malformed shapes / labels or bad settings.
    """
    num_classes = _validation.check_positive_int("num_classes", num_classes)
    epochs = _validation.check_positive_int("epochs", epochs)
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    if not weight_decay >= 0:
        raise ValueError(f"`weight_decay` must be >= 0, got {weight_decay!r}.")
    train_features = _validation.check_features("train_features", train_features)
    num_train, dim = train_features.shape
    train_labels = _validation.check_labels("train_labels", train_labels, num_train, num_classes)
    test_features = _validation.check_features("test_features", test_features, dim=dim)
    test_labels = _validation.check_labels(
        "test_labels", test_labels, len(test_features), num_classes
    )

    mean = train_features.mean(axis=0)
    std = train_features.std(axis=0)
    std[std == 0] = 1.0
    train_features = (train_features - mean) / std
    test_features = (test_features - mean) / std

    steps_per_epoch = -(-num_train // batch_size)
    # float32 regardless of a global mixed-precision policy: the probe is cheap
    # and float16 logits would cost accuracy.
    model = keras.Sequential(
        [
            keras.Input((dim,)),
            keras.layers.Dense(
                num_classes,
                kernel_initializer="zeros",
                kernel_regularizer=keras.regularizers.L2(weight_decay),
                dtype="float32",
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps_per_epoch)
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # One graph call per epoch: per-step dispatch would dominate a linear layer.
        steps_per_execution=steps_per_epoch,
    )
    features_tensor = tf.constant(train_features)
    labels_tensor = tf.constant(train_labels)
    # Shuffling row indices and gathering is faster than shuffling whole rows.
    dataset = (
        tf.data.Dataset.range(num_train)
        .shuffle(num_train, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(lambda rows: (tf.gather(features_tensor, rows), tf.gather(labels_tensor, rows)))
        .prefetch(tf.data.AUTOTUNE)
    )
    model.fit(dataset, epochs=epochs, shuffle=False, verbose=0)

    top5_k = min(5, num_classes)
    test_ranking = _ranking(model.predict(test_features, batch_size=4096, verbose=0), top5_k)
    train_ranking = _ranking(model.predict(train_features, batch_size=4096, verbose=0), 1)
    return {
        "protocol": "linear_probe",
        "top1": float(np.mean(test_ranking[:, 0] == test_labels)),
        "top5": float(np.mean(np.any(test_ranking == test_labels[:, None], axis=1))),
        "top5_k": top5_k,
        "train_top1": float(np.mean(train_ranking[:, 0] == train_labels)),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": float(learning_rate),
        "weight_decay": float(weight_decay),
        "optimizer": "adam",
        "schedule": "cosine",
        "standardize": "train_mean_std",
        "seed": int(seed),
        "num_train": int(num_train),
        "num_test": int(len(test_features)),
        "feature_dim": int(dim),
        "num_classes": num_classes,
    }


def _ranking(logits, k):
    """The k best classes per row, best first; ties go to the lower class id like argmax.

    (``tf.math.in_top_k`` counts every tied class as a hit, which would score a
    constant classifier as perfect.)
    """
    return np.argsort(-logits, axis=1, kind="stable")[:, :k]
