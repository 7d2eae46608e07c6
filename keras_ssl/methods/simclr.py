"""SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations")."""

import keras
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.heads import MLPHead
from keras_ssl.losses import embedding_std, nt_xent
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCLR(PretrainingMethod):
    """SimCLR: two augmented views -> encoder f -> projection g -> NT-Xent (the paper's Algorithm 1).

    Trained with `model.fit` on a dataset yielding `(view1, view2)` float batches, e.g.
    `keras_ssl.data.pretraining_dataset(..., transform=MultiViewTransform([SimCLRTransform(32)] * 2))`.
    Negatives are the other 2(N - 1) examples of the global batch, gathered across replicas. Both views
    go through the encoder as one batch, so batch norm sees all 2N images as in the paper's code.
    Logs `embedding_std` (`keras_ssl.losses.embedding_std`) of the projections: near 0 when the
    representation collapses.

    Args:
        encoder: a Keras model mapping images to features (e.g. `keras_ssl.encoders.ResNet`).
        projection_hidden_dims: hidden widths of g (default: one layer as wide as the encoder output).
        projection_dim: output size of g (128 in the paper).
        temperature: NT-Xent's tau (0.5 on CIFAR-10, appendix B.9).
        synchronized_bn: batch norm of g over all replicas (global BN, section 2.3).

    Example:
    ```python
    model = keras_ssl.methods.SimCLR(keras_ssl.encoders.ResNet18(stem="cifar"), temperature=0.5)
    model.compile(optimizer=keras_ssl.optim.LARS(schedule, weight_decay=1e-6))
    model.fit(dataset, epochs=100)
    ```
    """

    metric_names = ("loss", "contrastive_accuracy", "embedding_std")

    def __init__(self, encoder, projection_hidden_dims=None, projection_dim=128, temperature=0.5,
                 synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        if projection_hidden_dims is None:
            projection_hidden_dims = (encoder.output_shape[-1],)
        self.projection_hidden_dims = tuple(projection_hidden_dims)
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.synchronized_bn = synchronized_bn
        self.projector = MLPHead(self.projection_hidden_dims, projection_dim, batch_norm=True,
                                 synchronized_bn=synchronized_bn, name="projector")

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)

    def compute_objective(self, data, training):
        view1, view2 = data
        features = self.encoder(tf.concat([view1, view2], axis=0), training=training)
        z = self.projector(features, training=training)
        loss, accuracy = nt_xent(*tf.split(z, 2, axis=0), self.temperature)
        return loss, {"contrastive_accuracy": accuracy, "embedding_std": embedding_std(z)}

    def get_config(self):
        config = super().get_config()
        config.update(projection_hidden_dims=self.projection_hidden_dims,
                      projection_dim=self.projection_dim, temperature=self.temperature,
                      synchronized_bn=self.synchronized_bn)
        return config


def simclr_views(config):
    """Two views, each SimCLR's augmentation with the `augment` section's parameters."""
    view = augment.SimCLRTransform(config.data.image_size, **config.augment)
    return augment.MultiViewTransform([view, view])


def _checks(config):
    config_checks.positive("model.temperature", config.model.temperature)
    config_checks.positive_int("model.projection_dim", config.model.projection_dim)
    config_checks.check(config.augment.color_strength >= 0, "augment.color_strength",
                        config.augment.color_strength, "a number >= 0")
    config_checks.crop_scale("augment.crop_scale", config.augment.crop_scale)
    config_checks.same_synchronized_bn(config)


registry.register(
    "simclr", SimCLR,
    # g is one hidden layer as wide as f's output (512 for a ResNet-18) and 128 out (section 4.2).
    model=dict(projection_hidden_dims=(512,), projection_dim=128, temperature=0.5,
               synchronized_bn=False),
    # Section 3 and appendix A: crop (0.08, 1), colour strength 1, jitter 0.8, grey 0.2, blur 0.5.
    augment=dict(crop_scale=(0.08, 1.0), crop_ratio=(3.0 / 4.0, 4.0 / 3.0), flip_probability=0.5,
                 color_strength=1.0, color_jitter_probability=0.8, grayscale_probability=0.2,
                 blur_probability=0.5, solarize_probability=0.0),
    views=simclr_views, checks=_checks)
