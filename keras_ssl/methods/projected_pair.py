"""The base of Barlow Twins and VICReg: one encoder and projector on two views, a loss of the
two views' projections over the global batch, no predictor, no momentum network, no negatives.

Both papers' projector is 8192-8192-8192 on ResNet-50: Linear - BN - ReLU twice, then a Linear
without bias (their losses standardise or centre each dimension over the batch, which would cancel
a bias), and both train on BYOL's asymmetric pair of views (`keras_ssl.methods.byol.byol_views`:
blur 1.0 / 0.1, solarize 0.0 / 0.2, as in both authors' augmentations).
"""

import tensorflow as tf

from keras_ssl import config_checks
from keras_ssl.heads import MLPHead
from keras_ssl.losses import embedding_std
from keras_ssl.methods.base import PretrainingMethod
from keras_ssl.methods.byol import BYOL_AUGMENT, check_byol_views


class ProjectedPair(PretrainingMethod):
    """Encoder f and projector g on each view (as its own batch, as both authors' code), then
    `self.pair_loss(z1, z2) -> (loss, {metric: value})`, which subclasses define.

    Logs `embedding_std` (`keras_ssl.losses.embedding_std`, SimSiam's fig. 2) of the
    l2-normalised projections of both views: about 1/sqrt(d) when healthy, 0 when collapsed.

    Args:
        encoder: a Keras model mapping images to features.
        projection_hidden_dims: the projector's hidden widths ((8192, 8192)).
        projection_dim: its output size (8192).
        synchronized_bn: batch norm of the projector over all replicas (both authors' code
            converts every batch norm to SyncBatchNorm).
    """

    metric_names = ("loss", "embedding_std")

    def __init__(self, encoder, projection_hidden_dims=(8192, 8192), projection_dim=8192,
                 synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        self.projection_hidden_dims = tuple(projection_hidden_dims)
        self.projection_dim = projection_dim
        self.synchronized_bn = synchronized_bn
        self.projector = MLPHead(self.projection_hidden_dims, projection_dim, batch_norm=True,
                                 synchronized_bn=synchronized_bn, output_bias=False,
                                 name="projector")

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)

    def pair_loss(self, z1, z2):
        raise NotImplementedError

    def compute_objective(self, data, training):
        view1, view2 = data
        z1 = self.projector(self.encoder(view1, training=training), training=training)
        z2 = self.projector(self.encoder(view2, training=training), training=training)
        loss, values = self.pair_loss(z1, z2)
        return loss, {**values, "embedding_std": embedding_std(tf.concat([z1, z2], axis=0))}

    def get_config(self):
        config = super().get_config()
        config.update(projection_hidden_dims=self.projection_hidden_dims,
                      projection_dim=self.projection_dim, synchronized_bn=self.synchronized_bn)
        return config


def projected_pair_checks(config):
    """The checks of the keys every `ProjectedPair` method has."""
    config_checks.positive_int("model.projection_dim", config.model.projection_dim)
    config_checks.same_synchronized_bn(config)
    check_byol_views(config)


#: Both papers' augmentation is BYOL's pair (Barlow Twins' `main.py` Transform, VICReg's
#: `augmentations.py` TrainTransform).
PAIR_AUGMENT = BYOL_AUGMENT
