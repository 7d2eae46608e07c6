"""MoCo v2: momentum contrast (He et al. 2020, "Momentum Contrast for Unsupervised Visual Representation
Learning") with the improvements of Chen et al. 2020, "Improved Baselines with Momentum Contrastive
Learning" (MLP head, stronger augmentation with blur, temperature 0.2, cosine learning rate)."""

import keras
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.distribute import (apply_in_sub_batches, cross_replica_concat, local_rows,
                                  shuffled_apply)
from keras_ssl.heads import MLPHead
from keras_ssl.layers import FeatureQueue, MomentumNetwork
from keras_ssl.losses import embedding_std, info_nce
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod

_SHUFFLE_STREAM = 1  # second word of the shuffle seed (the first is the step)


@keras.saving.register_keras_serializable(package="keras_ssl")
class MoCoV2(PretrainingMethod):
    """MoCo v2: a query encoder trained against a momentum key encoder and a queue of past keys.

    Trained with `model.fit` on a dataset yielding `(query view, key view)` float batches. Each step
    (the paper's Algorithm 1):

    - queries q = g(f(view 1)) from the encoder f and MLP head g (2 layers, ReLU, no BN);
    - keys k = g_k(f_k(view 2)) from the momentum copies, without gradient;
    - InfoNCE (`keras_ssl.losses.info_nce`) of each q against its key and the queue's K keys;
    - the keys of the whole global batch (gathered from every replica) replace the oldest rows of
      the queue, so the queue is the same on every replica;
    - after the optimizer step, every key-encoder weight (BN moving statistics included) moves to
      m * key + (1 - m) * query (`keras_ssl.layers.MomentumNetwork`).

    Batch norm (section 3.3): with `shuffle_bn`, keys are computed on the global batch shuffled
    across replicas and un-shuffled afterwards, so a query and its key are normalised over different
    examples and cannot "cheat" through the batch statistics. On one device, `bn_splits` > 1 gives
    the same effect: queries and keys are normalised over `bn_splits` sub-batches each, and the keys
    are shuffled across the sub-batches (the official MoCo CIFAR-10 demo's SplitBatchNorm). The
    alternative is synchronized batch norm over all replicas (`synchronized_bn=True` in the encoder,
    as SimCLR's global BN; then `shuffle_bn=False`): the statistics of the whole global batch carry
    no per-example signal either.

    Logs `embedding_std` (`keras_ssl.losses.embedding_std`) of the queries: near 0 when the
    representation collapses.

    `model(images)` and `model.encoder` are the query encoder, the representation to evaluate and
    export; the momentum encoder is `model.key_network`.

    Args:
        encoder: a Keras model mapping images to features (e.g. `keras_ssl.encoders.ResNet`).
        projection_hidden_dims: hidden widths of the MLP head (default: one layer as wide as the
            encoder output, 2048 for a ResNet-50 as in MoCo v2).
        projection_dim: output size of the head and of the queue's keys (128).
        temperature: InfoNCE's t (0.2 in MoCo v2).
        queue_size: K, keys in the queue (65,536 on ImageNet); at least the global batch.
        momentum: m of the key encoder's update (0.999).
        shuffle_bn: shuffle the key batch across replicas (and `bn_splits`) for batch norm.
        bn_splits: sub-batches per replica that batch norm normalises separately (1: per replica).

    Example:
    ```python
    model = keras_ssl.methods.MoCoV2(keras_ssl.encoders.ResNet50(stem="imagenet"))
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=1e-4))
    model.fit(dataset, epochs=200)
    ```
    """

    metric_names = ("loss", "contrastive_accuracy", "embedding_std")

    def __init__(self, encoder, projection_hidden_dims=None, projection_dim=128, temperature=0.2,
                 queue_size=65536, momentum=0.999, shuffle_bn=True, bn_splits=1, **kwargs):
        super().__init__(encoder, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"MoCo momentum must be in [0, 1], got {momentum!r}.")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}.")
        if not isinstance(bn_splits, int) or isinstance(bn_splits, bool) or bn_splits < 1:
            raise ValueError(f"bn_splits must be a positive integer, got {bn_splits!r}.")
        if projection_hidden_dims is None:
            projection_hidden_dims = (encoder.output_shape[-1],)
        self.projection_hidden_dims = tuple(projection_hidden_dims)
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.queue_size = queue_size
        self.momentum = momentum
        self.shuffle_bn = shuffle_bn
        self.bn_splits = bn_splits
        # MoCo v2's head: fc - ReLU - fc, without batch norm.
        self.projector = MLPHead(self.projection_hidden_dims, projection_dim, batch_norm=False,
                                 name="projector")
        self.key_network = MomentumNetwork([encoder, self.projector], name="key_network")
        self.queue = FeatureQueue(queue_size, projection_dim, name="queue")

    def build(self, input_shape):
        super().build(input_shape)
        self.key_network.build(input_shape)

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)

    def _query(self, images, training):
        return self.projector(self.encoder(images, training=training), training=training)

    def compute_objective(self, data, training):
        query_view, key_view = data
        online = [self.encoder, self.projector]
        self.key_network.synchronize(online)
        queries = apply_in_sub_batches(lambda x: self._query(x, training), query_view,
                                       self.bn_splits)

        def keys_of(images):
            return self.key_network(images, training=training)

        if self.shuffle_bn:
            # The same permutation on every replica: the seed is the (mirrored) step counter.
            seed = tf.stack([self.key_network.step.value, tf.constant(_SHUFFLE_STREAM, tf.int64)])
            keys = shuffled_apply(keys_of, key_view, seed, self.bn_splits)
        else:
            keys = cross_replica_concat(apply_in_sub_batches(keys_of, key_view, self.bn_splits))
        keys = tf.math.l2_normalize(tf.cast(keys, tf.float32), axis=1)  # [global batch, dim]
        loss, accuracy = info_nce(queries, local_rows(keys), self.queue.rows(), self.temperature)
        if training:
            # After the loss has read the queue (ops on one variable run in program order).
            self.queue.enqueue(keys)
        return loss, {"contrastive_accuracy": accuracy, "embedding_std": embedding_std(queries)}

    def after_step(self):
        self.key_network.update([self.encoder, self.projector], self.momentum)

    def get_config(self):
        config = super().get_config()
        config.update(projection_hidden_dims=self.projection_hidden_dims,
                      projection_dim=self.projection_dim, temperature=self.temperature,
                      queue_size=self.queue_size, momentum=self.momentum,
                      shuffle_bn=self.shuffle_bn, bn_splits=self.bn_splits)
        return config


def mocov2_views(config):
    """Query and key views, both MoCo v2's augmentation (SimCLR's with blur; Chen et al. 2020)."""
    view = augment.SimCLRTransform(config.data.image_size, **config.augment)
    return augment.MultiViewTransform([view, view])


def _checks(config):
    m, a, t = config.model, config.augment, config.train
    config_checks.positive_int("model.projection_dim", m.projection_dim)
    config_checks.crop_scale("augment.crop_scale", a.crop_scale)
    config_checks.positive("model.temperature", m.temperature)
    config_checks.check(0 <= m.momentum <= 1, "model.momentum", m.momentum, "a number in [0, 1]")
    config_checks.positive_int("model.queue_size", m.queue_size)
    config_checks.check(m.queue_size >= t.batch_size, "model.queue_size", m.queue_size,
                        f"at least train.batch_size ({t.batch_size}): every step enqueues the keys "
                        "of the whole global batch")
    config_checks.positive_int("model.bn_splits", m.bn_splits)
    config_checks.check(t.batch_size % m.bn_splits == 0, "model.bn_splits", m.bn_splits,
                        f"a divisor of the per-replica batch (train.batch_size={t.batch_size})")
    config_checks.boolean("model.shuffle_bn", m.shuffle_bn)
    config_checks.check(
        not (m.shuffle_bn and config.encoder.synchronized_bn), "model.shuffle_bn", m.shuffle_bn,
        "False with encoder.synchronized_bn=True: shuffle BN and synchronized BN are alternatives "
        "(global statistics leave nothing to shuffle)")
    config_checks.check(a.color_strength >= 0, "augment.color_strength", a.color_strength,
                        "a number >= 0")


registry.register(
    "mocov2", MoCoV2,
    # He et al. 2020 / Chen et al. 2020 ("Improved baselines") on ImageNet.
    model=dict(projection_hidden_dims=(2048,), projection_dim=128, temperature=0.2,
               queue_size=65536, momentum=0.999, shuffle_bn=True, bn_splits=1),
    augment=dict(crop_scale=(0.2, 1.0), crop_ratio=(3.0 / 4.0, 4.0 / 3.0), flip_probability=0.5,
                 color_strength=0.5, color_jitter_probability=0.8, grayscale_probability=0.2,
                 blur_probability=0.5, solarize_probability=0.0),
    views=mocov2_views, checks=_checks)
