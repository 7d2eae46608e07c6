"""Per-replica input pipelines (`pretraining_dataset(..., input_context=...)`) and resumable epochs.

No strategy is needed: `tf.distribute.InputContext` describes the pipelines a strategy would make
(`distribute_datasets_from_function` calls the function once per worker with such a context).
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import augment
from keras_ssl.data import pretraining_dataset

N = 32


def _indexed_arrays(n=N):
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 3)).copy()
    return images, np.arange(n)


def _trace(images, seed):
    """Which examples a batch holds, and the seed it was given."""
    return images[:, 0, 0, 0], seed


def _elements(ds):
    return [tuple(np.asarray(t) for t in element) for element in ds]


def _pipeline(pipelines, index, replicas=4, batch=8, **kwargs):
    context = tf.distribute.InputContext(pipelines, index, replicas)
    return pretraining_dataset(None, batch, _trace, arrays=_indexed_arrays(), seed=5,
                               input_context=context, **kwargs)


def test_pipelines_partition_the_global_batch_in_replica_order():
    """4 replicas, global batch 8: one pipeline yields replicas 0..3 of each step in turn; with two
    pipelines (two workers), pipeline p yields exactly replicas 2p, 2p+1 of the same steps."""
    single = _elements(_pipeline(1, 0))
    assert len(single) == 4 * 4  # 4 steps per epoch x 4 replicas
    assert all(index.shape == (2,) for index, _ in single)
    for step in range(4):
        rows = np.concatenate([single[4 * step + r][0] for r in range(4)])
        assert len(set(rows.tolist())) == 8
    assert sorted(np.concatenate([index for index, _ in single]).tolist()) == list(range(N))

    for p in range(2):
        part = _elements(_pipeline(2, p))
        expected = [single[4 * step + r] for step in range(4) for r in (2 * p, 2 * p + 1)]
        assert len(part) == len(expected)
        for (index, seed), (index_ref, seed_ref) in zip(part, expected):
            np.testing.assert_array_equal(index, index_ref)
            np.testing.assert_array_equal(seed, seed_ref)


def test_every_replica_gets_its_own_augmentation_seed():
    """Identical images on every replica still get different crops/colours per replica."""
    images = np.full((N, 16, 16, 3), 0, np.uint8)
    images[:, 4:12, 4:12] = [200, 30, 90]
    views = augment.MultiViewTransform([augment.SimCLRTransform(16)] * 2)
    ds = pretraining_dataset(None, 8, views, arrays=(images, np.zeros(N, int)),
                             input_context=tf.distribute.InputContext(1, 0, 2))
    replica0, replica1 = [np.asarray(view1) for view1, _ in ds.take(2)]
    assert np.abs(replica0 - replica1).max() > 0.1
    seeds = [seed for _, seed in _elements(_pipeline(1, 0))]
    assert len({tuple(s.tolist()) for s in seeds}) == len(seeds)


def test_resumed_dataset_continues_where_the_full_run_was():
    """Epochs 0..2 in one pass; starting at (epoch 1, step 3) gives the same elements from there on,
    and every epoch is a different permutation."""
    full = _elements(_pipeline(1, 0, epochs=3))
    assert len(full) == 3 * 4 * 4
    resumed = _elements(_pipeline(1, 0, epochs=3, initial_epoch=1, initial_step=3))
    assert len(resumed) == len(full) - (1 * 4 + 3) * 4
    for (index, seed), (index_ref, seed_ref) in zip(resumed, full[(1 * 4 + 3) * 4:]):
        np.testing.assert_array_equal(index, index_ref)
        np.testing.assert_array_equal(seed, seed_ref)
    order = [np.concatenate([index for index, _ in full[e * 16:(e + 1) * 16]]) for e in range(3)]
    assert not np.array_equal(order[0], order[1]) and not np.array_equal(order[1], order[2])


def test_static_shapes_for_xla_and_tpus():
    views = augment.MultiViewTransform([augment.SimCLRTransform(16)] * 2)
    ds = pretraining_dataset(None, 8, views, arrays=(np.zeros((N, 16, 16, 3), np.uint8),
                                                     np.zeros(N, int)),
                             input_context=tf.distribute.InputContext(1, 0, 4))
    assert [spec.shape for spec in ds.element_spec] == [(2, 16, 16, 3)] * 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(initial_step=1), "need epochs"),
    (dict(epochs=2, initial_epoch=2), "0 <= initial_epoch < epochs"),
    (dict(epochs=2, initial_step=4), r"initial_step must be in \[0, 4\)"),
])
def test_bad_start_positions_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pretraining_dataset(None, 8, _trace, arrays=_indexed_arrays(), **kwargs)


def test_global_batch_must_split_over_replicas():
    with pytest.raises(ValueError, match="not divisible"):
        _pipeline(1, 0, replicas=3, batch=8)
