"""NNCLR (Dwibedi et al. 2021, "With a Little Help from My Friends: Nearest-Neighbor Contrastive
Learning of Visual Representations")."""

import keras
import tensorflow as tf

from keras_ssl import config_checks
from keras_ssl.distribute import cross_replica_concat
from keras_ssl.heads import MLPHead
from keras_ssl.layers import FeatureQueue
from keras_ssl.losses import embedding_std, nearest_neighbours, nnclr_loss
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod
from keras_ssl.methods.byol import BYOL_AUGMENT, byol_views, check_byol_views


@keras.saving.register_keras_serializable(package="keras_ssl")
class NNCLR(PretrainingMethod):
    """NNCLR: SimCLR whose positive is the nearest neighbour of a view's embedding in a support set
    of past embeddings, not the view itself.

    Trained with `model.fit` on a dataset yielding `(view1, view2)` float batches (BYOL's asymmetric
    pair; the paper follows BYOL's augmentations). Each step:

    - z = g(f(view)) for both views (one batch through the encoder, so batch norm sees all 2N
      images as in SimCLR's code), and predictions p = h(z) (section 3.2: a prediction head);
    - NN(z), the support set's row of largest cosine similarity to z (`nearest_neighbours`), is
      the positive of the other view's prediction: `nnclr_loss`, eq. 2 symmetrised (section 3.2),
      each row against the predictions / neighbours of the whole global batch (gathered across
      replicas: solo-learn#229 reported NNCLR's loss on the local batch only);
    - after the loss has read it, the support set (a FIFO queue, `keras_ssl.layers.FeatureQueue`)
      takes the normalised view-1 embeddings of the whole global batch (gathered from every
      replica, so the support set is the same on every replica), as the authors do (one view,
      per VISSL's NNCLR loss "following original authors").

    Defaults (section 4.1): support set of 98,304, embeddings of d = 256, temperature 0.1,
    projector of three layers 2048 - 2048 - 256 with batch norm, predictor 4096 - 256. The
    projector's output batch norm here has no scale and shift (MoCo v3's `last_bn`;
    solo-learn's NNCLR has an affine one): the embeddings are L2-normalised after it anyway.

    Logs `embedding_std` (`keras_ssl.losses.embedding_std`) of the projections of both views:
    near 0 when the representation collapses. `model(images)` and `model.encoder` are the
    encoder, the one to evaluate and export.

    Args:
        encoder: a Keras model mapping images to features.
        projection_hidden_dims, projection_dim: the projector (2048, 2048), 256.
        prediction_hidden_dims: the predictor's hidden widths (4096); its output is
            projection_dim.
        temperature: t (0.1).
        support_size: embeddings in the support set (98,304); at least the global batch.
        synchronized_bn: batch norm of the heads over all replicas.

    Example:
    ```python
    model = keras_ssl.methods.NNCLR(keras_ssl.encoders.ResNet50(stem="imagenet"))
    model.compile(optimizer=keras_ssl.optim.LARS(schedule, weight_decay=1e-6))
    model.fit(dataset, epochs=1000)
    ```
    """

    metric_names = ("loss", "contrastive_accuracy", "embedding_std")

    def __init__(self, encoder, projection_hidden_dims=(2048, 2048), projection_dim=256,
                 prediction_hidden_dims=(4096,), temperature=0.1, support_size=98304,
                 synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}.")
        self.projection_hidden_dims = tuple(projection_hidden_dims)
        self.projection_dim = projection_dim
        self.prediction_hidden_dims = tuple(prediction_hidden_dims)
        self.temperature = temperature
        self.support_size = support_size
        self.synchronized_bn = synchronized_bn
        self.projector = MLPHead(self.projection_hidden_dims, projection_dim, batch_norm=True,
                                 synchronized_bn=synchronized_bn, output_batch_norm=True,
                                 name="projector")
        self.predictor = MLPHead(self.prediction_hidden_dims, projection_dim, batch_norm=True,
                                 synchronized_bn=synchronized_bn, name="predictor")
        self.support_set = FeatureQueue(support_size, projection_dim, name="support_set")

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)
        self.predictor.build(self.projector.compute_output_shape(feature_shape))

    def compute_objective(self, data, training):
        view1, view2 = data
        features = self.encoder(tf.concat([view1, view2], axis=0), training=training)
        z = self.projector(features, training=training)
        p1, p2 = tf.split(self.predictor(z, training=training), 2, axis=0)
        z1, z2 = tf.split(z, 2, axis=0)
        support = self.support_set.rows()
        loss, accuracy = nnclr_loss(nearest_neighbours(z1, support),
                                    nearest_neighbours(z2, support), p1, p2, self.temperature)
        if training:
            # After the loss has read the support set (ops on one variable run in program order).
            self.support_set.enqueue(cross_replica_concat(
                tf.math.l2_normalize(tf.stop_gradient(tf.cast(z1, tf.float32)), axis=1)))
        return loss, {"contrastive_accuracy": accuracy, "embedding_std": embedding_std(z)}

    def get_config(self):
        config = super().get_config()
        config.update(projection_hidden_dims=self.projection_hidden_dims,
                      projection_dim=self.projection_dim,
                      prediction_hidden_dims=self.prediction_hidden_dims,
                      temperature=self.temperature, support_size=self.support_size,
                      synchronized_bn=self.synchronized_bn)
        return config


def _checks(config):
    m, t = config.model, config.train
    config_checks.positive_int("model.projection_dim", m.projection_dim)
    config_checks.positive("model.temperature", m.temperature)
    config_checks.positive_int("model.support_size", m.support_size)
    config_checks.check(m.support_size >= t.batch_size, "model.support_size", m.support_size,
                        f"at least train.batch_size ({t.batch_size}): every step adds the "
                        "embeddings of the whole global batch")
    config_checks.same_synchronized_bn(config)
    check_byol_views(config)


registry.register(
    "nnclr", NNCLR,
    # Section 4.1 (implementation details).
    model=dict(projection_hidden_dims=(2048, 2048), projection_dim=256,
               prediction_hidden_dims=(4096,), temperature=0.1, support_size=98304,
               synchronized_bn=False),
    augment=BYOL_AUGMENT, views=byol_views, checks=_checks)
