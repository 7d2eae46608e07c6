"""RotNet (Gidaris et al. 2018, "Unsupervised Representation Learning by Predicting Image Rotations")."""

import keras
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.augment import NUM_ROTATIONS
from keras_ssl.heads import MLPHead
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class RotNet(PretrainingMethod):
    """Predict which of the four rotations (0/90/180/270 degrees) an image was given.

    Trained with `model.fit` on a dataset yielding `(images [4B, S, S, 3], rotation labels [4B])`,
    e.g. from `keras_ssl.augment.RotationTransform`: every image appears in all four rotations in the
    same batch, as in the paper (section 2.2). A classifier on the pooled encoder features predicts the
    rotation with softmax cross-entropy.

    Args:
        encoder: a Keras model mapping images to features.
        head_hidden_dims: hidden widths of the rotation classifier (default: linear).

    Example:
    ```python
    model = keras_ssl.methods.RotNet(keras_ssl.encoders.ResNet18(stem="cifar"))
    model.compile(optimizer="sgd")
    model.fit(dataset, epochs=30)
    ```
    """

    metric_names = ("loss", "rotation_accuracy")

    def __init__(self, encoder, head_hidden_dims=(), **kwargs):
        super().__init__(encoder, **kwargs)
        self.head_hidden_dims = tuple(head_hidden_dims)
        self.classifier = MLPHead(self.head_hidden_dims, NUM_ROTATIONS, batch_norm=True,
                                  name="rotation_classifier")

    def build_heads(self, feature_shape):
        self.classifier.build(feature_shape)

    def compute_objective(self, data, training):
        images, labels = data
        logits = self.classifier(self.encoder(images, training=training), training=training)
        logits = tf.cast(logits, tf.float32)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        hits = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), labels)
        return loss, {"rotation_accuracy": tf.reduce_mean(tf.cast(hits, tf.float32))}

    def get_config(self):
        config = super().get_config()
        config.update(head_hidden_dims=self.head_hidden_dims)
        return config


def rotnet_views(config):
    """Each image padded-cropped and flipped, then in all four rotations (section 2.2)."""
    return augment.RotationTransform(augment.PaddedCropFlipTransform(**config.augment))


def _checks(config):
    config_checks.check(isinstance(config.augment.padding, int) and config.augment.padding >= 0,
                        "augment.padding", config.augment.padding, "an integer >= 0")


registry.register(
    "rotnet", RotNet,
    model=dict(head_hidden_dims=()),
    # The standard CIFAR augmentation (He et al. 2016): 4-pixel padded crop and flip.
    augment=dict(padding=4, flip_probability=0.5),
    views=rotnet_views, checks=_checks)
