"""Input checks shared by the evaluation protocols.

Each check raises ``ValueError`` naming the argument, what it got and what was
expected, so a wrong call never produces a silently wrong metric.
"""

import numpy as np


def check_features(name, features, dim=None):
    """Returns ``features`` as a finite float32 array of shape [N, D]."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(
            f"`{name}` must have shape [N, D] (one feature vector per row), "
            f"got shape {features.shape}."
        )
    _check_real_nonempty(name, features)
    if dim is not None and features.shape[1] != dim:
        raise ValueError(
            f"`{name}` has feature dimension {features.shape[1]} but the train features have "
            f"{dim}; both must come from the same encoder."
        )
    return _finite_float32(name, features)


def check_maps(name, maps, map_shape=None):
    """Returns ``maps`` as a finite float32 array of shape [N, h, w, C] (channels last)."""
    maps = np.asarray(maps)
    if maps.ndim != 4:
        hint = (" These look like pooled feature vectors; these classifiers need the block's "
                "feature maps (use linear_probe / mlp_probe on vectors)." if maps.ndim == 2 else "")
        raise ValueError(
            f"`{name}` must have shape [N, h, w, C] (one channels-last feature map per row), "
            f"got shape {maps.shape}.{hint}"
        )
    _check_real_nonempty(name, maps)
    if map_shape is not None and maps.shape[1:] != tuple(map_shape):
        raise ValueError(
            f"`{name}` has maps of shape {maps.shape[1:]} (h, w, C) but the train maps have "
            f"{tuple(map_shape)}; both must come from the same layer of the same encoder."
        )
    return _finite_float32(name, maps)


def _check_real_nonempty(name, array):
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"`{name}` must be a real numeric array, got dtype {array.dtype}.")
    if array.shape[0] == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}); need at least one row.")


def _finite_float32(name, array):
    """`array` as float32 (no copy if it already is), refused if any value is NaN or Inf."""
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or Inf values; check the encoder output.")
    return array


def check_labels(name, labels, num_rows, num_classes):
    """Returns ``labels`` as an int32 array of shape [num_rows] with values in [0, num_classes)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"`{name}` must be a 1-D array of integer class ids, got shape {labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer class ids, got dtype {labels.dtype}.")
    if labels.shape[0] != num_rows:
        raise ValueError(
            f"`{name}` has {labels.shape[0]} entries but the matching features have "
            f"{num_rows} rows; they must be aligned one label per row."
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"`{name}` values must lie in [0, num_classes={num_classes}), got range "
            f"[{labels.min()}, {labels.max()}]."
        )
    return labels.astype(np.int32, copy=False)


def check_positive_int(name, value):
    """Returns ``value`` as a positive python int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)
