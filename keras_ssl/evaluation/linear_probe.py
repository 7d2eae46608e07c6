"""Linear evaluation: a softmax classifier trained on frozen features.

The standard protocol for self-supervised representations (Zhang et al. 2016,
"Colorful Image Colorization"; Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", Sec. 4 / App. B.6): the encoder
is frozen, and only a linear layer on its features is trained with
cross-entropy; test top-1 / top-5 measure how linearly separable the classes are.
"""

from keras_ssl.evaluation import _probe, protocols


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
    verbose=False,
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
        verbose: show a progress bar over the epochs.

    Returns:
        dict with ``top1`` and ``top5`` test accuracies (``top5`` is top-min(5, C)),
        ``train_top1``, and the protocol settings (``protocol``, ``hidden_dims``,
        ``dropout``, ``epochs``, ``batch_size``, ``learning_rate``, ``weight_decay``,
        ``optimizer``, ``schedule``, ``standardize``, ``seed``, ``num_train``,
        ``num_test``, ``feature_dim``, ``num_classes``), all plain python values,
        ready for JSON.

    Raises:
        ValueError: on malformed shapes / labels or bad settings.
    """
    return _probe.fit_probe(
        train_features, train_labels, test_features, test_labels, num_classes,
        protocol="linear_probe", hidden_dims=(), dropout=0.0, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay, seed=seed,
        verbose=verbose)


def _run(data, features, ev, seed, **_):
    return linear_probe(features[0], data.train.labels, features[1], data.test.labels,
                        data.num_classes, epochs=ev.linear_epochs, seed=seed, verbose=True)


protocols.register(
    "linear", 20, _run, lambda r: {"linear top-1": r["top1"], "linear top-5": r["top5"]},
    scores=r"top\d|train_top1", default=True,
    legacy=protocols.LegacyKeys({"linear_top1": "top1", "linear_top5": "top5"}, {},
                                "linear_probe"))
