"""MLP evaluation: a one-hidden-layer classifier trained on frozen features.

AMDIM (Bachman et al. 2019, "Learning Representations by Maximizing Mutual
Information Across Views", Sec. 4) reports, beside the linear probe, an MLP
probe: dropout -> Dense(1024, no bias) -> BatchNorm -> ReLU -> dropout -> Dense,
with dropout rate 0.2 (its public code, ``MLPClassifier(n_hidden=1024, p=0.2)``).
It measures what a small non-linear read-out recovers beyond linear separability.
"""

from keras_ssl.evaluation import _probe, protocols


def mlp_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes,
    hidden_dim=1024,
    dropout=0.2,
    epochs=30,
    batch_size=1024,
    learning_rate=0.01,
    weight_decay=1e-5,
    seed=0,
    verbose=False,
):
    """Trains AMDIM's one-hidden-layer probe on frozen features and reports test accuracy.

    Training is that of :func:`keras_ssl.evaluation.linear_probe` (train-set
    standardisation, Adam with cosine decay, L2 on the kernels, shuffling
    seeded by ``seed``; the seed also fixes the hidden layer's initialisation and
    the dropout masks), with the hidden layer between features and logits.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, (2000, 2))
    >>> labels = (x[:, 0] * x[:, 1] > 0).astype(int)   # XOR: not linearly separable
    >>> result = mlp_probe(x[:1500], labels[:1500], x[1500:], labels[1500:],
    ...                    num_classes=2, hidden_dim=64, epochs=30, batch_size=128)
    >>> result["top1"] > 0.9
    True

    Args:
        hidden_dim: width of the hidden layer (1024 in AMDIM).
        dropout: dropout rate before each Dense layer (0.2 in AMDIM).
        learning_rate: peak Adam learning rate, decayed to 0 by a cosine.
        The others: as for :func:`keras_ssl.evaluation.linear_probe`.

    Returns:
        dict as :func:`~keras_ssl.evaluation.linear_probe` returns, with
        ``protocol="mlp_probe"`` and ``hidden_dims=[hidden_dim]``.

    Raises:
        ValueError: on malformed shapes / labels or bad settings.
    """
    return _probe.fit_probe(
        train_features, train_labels, test_features, test_labels, num_classes,
        protocol="mlp_probe", hidden_dims=(hidden_dim,), dropout=dropout, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay, seed=seed,
        verbose=verbose)


def _run(data, features, ev, seed, **_):
    return mlp_probe(features[0], data.train.labels, features[1], data.test.labels,
                     data.num_classes, epochs=ev.linear_epochs, seed=seed, verbose=True)


protocols.register("mlp", 30, _run, lambda r: {"MLP top-1": r["top1"]},
                   scores=r"top\d|train_top1")
