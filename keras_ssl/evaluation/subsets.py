"""Labelled subsets of the train split for semi-supervised evaluation.

SimCLR (Chen et al. 2020, Sec. 6 / App. B.5) fine-tunes on 1% and 10% of the
ImageNet train labels, "sampled in a class-balanced way (around 12.8 and 128
images per class)", and ships the subsets as files of image names. Both are
supported: :func:`balanced_subset` draws such a subset from the train labels,
deterministically per seed, and :func:`read_subset_file` reads a user's file. Both
only ever index the train split, so the test split cannot leak into fine-tuning.
"""

import os

import numpy as np
import tensorflow as tf

from keras_ssl.evaluation import _validation


def balanced_subset(labels, fraction, seed=0):
    """Indices of a class-balanced subset holding about ``fraction`` of the train examples.

    Every class gets ``max(1, round(fraction * N / C))`` examples, drawn without
    replacement by a generator seeded with ``(seed, class)``. The same seed gives
    the same subset, and for one seed a smaller fraction's subset is contained in
    a larger one's (each class takes a prefix of the same permutation).

    Example:

    >>> labels = np.repeat(np.arange(3), 100)
    >>> subset = balanced_subset(labels, 0.1, seed=0)
    >>> len(subset), np.bincount(labels[subset]).tolist()
    (30, [10, 10, 10])

    Args:
        labels: int array [N] of the *train* split's class ids (0 .. C-1, all present).
        fraction: in (0, 1].
        seed: int; the subset is a function of (labels, fraction, seed).

    Returns:
        sorted int64 array of indices into the train split.

    Raises:
        ValueError: on a bad fraction, or a class with fewer examples than its share.
    """
    labels = np.asarray(labels)
    if not 0 < fraction <= 1:
        raise ValueError(f"`fraction` must be in (0, 1], got {fraction!r} (e.g. 0.01 for 1%).")
    if len(labels) == 0:
        raise ValueError("`labels` is empty; pass the train split's labels.")
    num_classes = int(labels.max()) + 1
    labels = _validation.check_labels("labels", labels, len(labels), num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    per_class = max(1, round(fraction * len(labels) / num_classes))
    short = np.flatnonzero(counts < per_class)
    if len(short):
        raise ValueError(
            f"A class-balanced {fraction:g} subset needs {per_class} examples per class but "
            f"class {short[0]} has {counts[short[0]]}; use a smaller fraction or pass your own "
            "subset file.")
    chosen = [
        np.random.default_rng([seed, c]).permutation(np.flatnonzero(labels == c))[:per_class]
        for c in range(num_classes)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def read_subset_file(path, num_examples, file_names=None):
    """Reads a user's subset of the train split: one train index or image file name per line.

    Empty lines and lines starting with ``#`` are skipped. A line is either an
    integer index into the train split or a file name matched against the end of
    the train split's file paths (``n01440764_10026.JPEG`` as in SimCLR's ImageNet
    files, or ``cat/0001.jpg`` where a base name occurs in several class folders).
    A name that is not in the train split -- for instance a test image -- is an error.

    Example:

    >>> names = ["/d/train/cat/1.jpg", "/d/train/dog/1.jpg", "/d/train/dog/2.jpg"]
    >>> with open("subset.txt", "w") as f:                   # doctest: +SKIP
    ...     f.write("dog/1.jpg\\n2.jpg\\n")
    >>> read_subset_file("subset.txt", 3, names)             # doctest: +SKIP
    array([1, 2])

    Args:
        path: the text file (any `tf.io.gfile` path: local, ``gs://``, ``ram://``).
        num_examples: size of the train split (bounds the indices).
        file_names: the train split's file paths in load order (see
            ``keras_ssl.data.split_file_names``); needed for names, not for indices.

    Returns:
        sorted int64 array of distinct indices into the train split.

    Raises:
        ValueError: on a missing file, an empty subset, an index out of range, a
            duplicate, or a name that matches no (or more than one) train file.
    """
    if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
        raise ValueError(f"Subset file {path} does not exist; pass a text file with one train "
                         "index or image file name per line.")
    with tf.io.gfile.GFile(path) as f:
        entries = [line.strip() for line in f]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise ValueError(f"Subset file {path} lists no examples.")
    if all(e.lstrip("-").isdigit() for e in entries):
        indices = np.array([int(e) for e in entries], np.int64)
        bad = indices[(indices < 0) | (indices >= num_examples)]
        if len(bad):
            raise ValueError(f"Subset file {path} holds index {bad[0]}, outside the train split "
                             f"[0, {num_examples}).")
    else:
        indices = _match_names(path, entries, file_names, num_examples)
    unique, counts = np.unique(indices, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"Subset file {path} lists train example {unique[counts > 1][0]} more "
                         "than once.")
    return unique


def _match_names(path, entries, file_names, num_examples):
    if file_names is None:
        raise ValueError(f"Subset file {path} lists file names, which need an image-folder "
                         "source ('folder:/path'); with other sources list train indices.")
    if len(file_names) != num_examples:
        raise ValueError(f"{len(file_names)} file names were given for a train split of "
                         f"{num_examples} examples; load the whole train split.")
    by_base = {}
    for index, name in enumerate(file_names):
        by_base.setdefault(os.path.basename(name), []).append(index)
    indices = []
    for entry in entries:
        entry_path = entry.lstrip("/")
        matches = [i for i in by_base.get(os.path.basename(entry_path), [])
                   if file_names[i].endswith("/" + entry_path)]
        if not matches:
            raise ValueError(f"Subset file {path}: {entry!r} is not a file of the train split; "
                             "the subset must name train images only.")
        if len(matches) > 1:
            raise ValueError(
                f"Subset file {path}: {entry!r} matches {len(matches)} train files (e.g. "
                f"{file_names[matches[0]]}); write it with its class folder, e.g. "
                f"{'/'.join(file_names[matches[0]].split('/')[-2:])!r}.")
        indices.append(matches[0])
    return np.array(indices, np.int64)
