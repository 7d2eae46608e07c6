"""The classifier trained on frozen features, shared by the linear and the MLP probe, and its
training loop, shared with RotNet's classifiers on feature maps (`block_classifiers`)."""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.evaluation import _progress, _validation


def fit_probe(train_features, train_labels, test_features, test_labels, num_classes, *, protocol,
              hidden_dims, dropout, epochs, batch_size, learning_rate, weight_decay, seed,
              verbose):
    """Trains a softmax classifier with `hidden_dims` hidden layers on frozen features.

    Features are standardised with the mean / std of the *train* features only (constant
    dimensions are left unscaled). Each hidden layer is Dense (no bias) -> BatchNorm -> ReLU, and
    dropout with rate `dropout` is applied before every Dense layer, as in AMDIM's classifiers
    (Bachman et al. 2019). The output layer is zero-initialised. Training minimises softmax
    cross-entropy plus `weight_decay * ||W||^2` on every kernel with Adam and a cosine-decayed
    learning rate (Loshchilov & Hutter 2017), on mini-batches shuffled with `seed`.

    Returns the test top-1 / top-5 and train top-1 with the settings, all JSON-ready.
    """
    num_classes = _validation.check_positive_int("num_classes", num_classes)
    epochs = _validation.check_positive_int("epochs", epochs)
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    hidden_dims = tuple(_validation.check_positive_int("hidden_dims", d) for d in hidden_dims)
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    if not weight_decay >= 0:
        raise ValueError(f"`weight_decay` must be >= 0, got {weight_decay!r}.")
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
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

    # float32 regardless of a global mixed-precision policy: the probe is cheap
    # and float16 logits would cost accuracy.
    layers = [keras.Input((dim,))]
    for i, width in enumerate(hidden_dims):
        layers += [
            keras.layers.Dropout(dropout, seed=seed + i, dtype="float32"),
            keras.layers.Dense(width, use_bias=False, dtype="float32",
                               kernel_initializer=keras.initializers.GlorotUniform(seed + i),
                               kernel_regularizer=keras.regularizers.L2(weight_decay)),
            keras.layers.BatchNormalization(dtype="float32"),
            keras.layers.ReLU(dtype="float32"),
        ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout, seed=seed + len(hidden_dims), dtype="float32"))
    layers.append(keras.layers.Dense(num_classes, kernel_initializer="zeros", dtype="float32",
                                     kernel_regularizer=keras.regularizers.L2(weight_decay)))
    model = keras.Sequential(layers)
    scores = fit_and_score(
        model,
        keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
            learning_rate, epochs * steps_per_epoch(num_train, batch_size))),
        train_features, train_labels, test_features, test_labels, num_classes,
        epochs=epochs, batch_size=batch_size, seed=seed,
        title=f"Training the {protocol}" if verbose else None)
    return {
        "protocol": protocol,
        **scores,
        "hidden_dims": list(hidden_dims),
        "dropout": float(dropout),
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


def steps_per_epoch(num_train, batch_size):
    """Mini-batches per pass over `num_train` rows (the last one may be smaller)."""
    return -(-num_train // batch_size)


def fit_and_score(model, optimizer, train_x, train_y, test_x, test_y, num_classes, *, epochs,
                  batch_size, seed, title=None, auto_scale_loss=True, predict_batch_size=4096):
    """Trains `model` on (train_x, train_y) with softmax cross-entropy, then scores it.

    Mini-batches of `batch_size` rows are drawn without replacement, reshuffled every epoch
    with `seed`; each epoch runs as one graph call. `title` shows a progress bar over the
    epochs; `auto_scale_loss` is passed to ``compile`` (a model computing in float32 has no
    need of loss scaling).

    Returns the test ``top1`` / ``top5`` (top-``top5_k``, k = min(5, num_classes)) and the
    ``train_top1`` of the trained model, as python floats.
    """
    num_train = len(train_x)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # One graph call per epoch: per-step dispatch would dominate a small probe.
        steps_per_execution=steps_per_epoch(num_train, batch_size),
        auto_scale_loss=auto_scale_loss,
    )
    inputs_tensor = tf.constant(train_x)
    labels_tensor = tf.constant(train_y)
    # Shuffling row indices and gathering is faster than shuffling whole rows.
    dataset = (
        tf.data.Dataset.range(num_train)
        .shuffle(num_train, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(lambda rows: (tf.gather(inputs_tensor, rows), tf.gather(labels_tensor, rows)))
        .prefetch(tf.data.AUTOTUNE)
    )
    callbacks = [_progress.EpochProgress(title, epochs)] if title else []
    model.fit(dataset, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)

    top5_k = min(5, num_classes)
    test_ranking = ranking(model.predict(test_x, batch_size=predict_batch_size, verbose=0),
                           top5_k)
    train_ranking = ranking(model.predict(train_x, batch_size=predict_batch_size, verbose=0), 1)
    return {
        "top1": float(np.mean(test_ranking[:, 0] == test_y)),
        "top5": float(np.mean(np.any(test_ranking == test_y[:, None], axis=1))),
        "top5_k": top5_k,
        "train_top1": float(np.mean(train_ranking[:, 0] == train_y)),
    }


def ranking(logits, k):
    """The k best classes per row, best first; ties go to the lower class id like argmax.

    (``tf.math.in_top_k`` counts every tied class as a hit, which would score a
    constant classifier as perfect.)
    """
    return np.argsort(-np.asarray(logits), axis=1, kind="stable")[:, :k]
