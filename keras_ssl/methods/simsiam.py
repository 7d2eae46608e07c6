"""SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning")."""

import keras
import tensorflow as tf

from keras_ssl import augment, config_checks, optim
from keras_ssl.heads import MLPHead
from keras_ssl.losses import embedding_std, negative_cosine
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimSiam(PretrainingMethod):
    """SimSiam: one network predicts its own projection of another view, with a stop-gradient.

    Trained with `model.fit` on a dataset yielding `(view1, view2)` float batches (two views of
    the same augmentation: MoCo v2's, `SimCLRTransform` with colour jitter (0.4, 0.4, 0.4, 0.1)).
    Each step (Algorithm 1):

    - encoder f then projector g: z = g(f(x)); predictor h: p = h(z); each view through f and g as
      its own batch, as the authors' `builder.py`;
    - loss 0.5 * (D(p1, stopgrad(z2)) + D(p2, stopgrad(z1))), D the negative cosine
      (`keras_ssl.losses.negative_cosine`, eqs. 1-2): no negatives, no momentum encoder.

    Projector (section 3 "Projection MLP", the authors' `builder.py`): `len(projection_hidden_dims)
    + 1` layers, each hidden Linear (no bias) - BN - ReLU, the output Linear followed by BN without
    scale and offset (3 layers of 2048 on ImageNet; 2 on CIFAR-10, appendix D). Predictor
    (section 3 "Prediction MLP"): Linear(512) - BN - ReLU - Linear(2048), a bottleneck.

    The predictor learns at a fixed rate, the schedule's peak, while the rest follows the
    schedule (section 4.2, table 1; `--fix-pred-lr` of the authors' `main_simsiam.py`):
    `compile` holds it with `keras_ssl.optim.hold_learning_rate`, whatever the optimizer.

    Logged: `embedding_std`, the std over the batch of the l2-normalised predictions p of both
    views (`keras_ssl.losses.embedding_std`, the paper's fig. 2): about 1/sqrt(d) when healthy, 0
    when collapsed. The paper reads it on z; here z ends in a batch norm without scale and offset,
    which in training standardises every dimension over the batch and pins the value near
    1/sqrt(d) whatever the encoder does, so p (which regresses z, with no batch norm after it)
    stands for it.

    Args:
        encoder: a Keras model mapping images to features.
        projection_hidden_dims: the projector's hidden widths ((2048, 2048) on ImageNet).
        projection_dim: z's size (2048).
        prediction_hidden_dim: the predictor's bottleneck (512).
        fix_predictor_learning_rate: keep the predictor at the schedule's peak rate (True).
        synchronized_bn: batch norm of the heads over all replicas (the authors' SyncBatchNorm).

    Example:
    ```python
    model = keras_ssl.methods.SimSiam(keras_ssl.encoders.ResNet50(stem="imagenet"))
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=1e-4))
    model.fit(dataset, epochs=100)
    ```
    """

    metric_names = ("loss", "embedding_std")

    def __init__(self, encoder, projection_hidden_dims=(2048, 2048), projection_dim=2048,
                 prediction_hidden_dim=512, fix_predictor_learning_rate=True,
                 synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        self.projection_hidden_dims = tuple(projection_hidden_dims)
        self.projection_dim = projection_dim
        self.prediction_hidden_dim = prediction_hidden_dim
        self.fix_predictor_learning_rate = fix_predictor_learning_rate
        self.synchronized_bn = synchronized_bn
        self.projector = MLPHead(self.projection_hidden_dims, projection_dim, batch_norm=True,
                                 synchronized_bn=synchronized_bn, output_batch_norm=True,
                                 name="projector")
        self.predictor = MLPHead((prediction_hidden_dim,), projection_dim, batch_norm=True,
                                 synchronized_bn=synchronized_bn, name="predictor")

    def compile(self, optimizer="rmsprop", **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        if self.fix_predictor_learning_rate:
            optim.hold_learning_rate(self.optimizer, lambda: self.predictor.trainable_variables)

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)
        self.predictor.build(self.projector.compute_output_shape(feature_shape))

    def compute_objective(self, data, training):
        view1, view2 = data
        z1 = self.projector(self.encoder(view1, training=training), training=training)
        z2 = self.projector(self.encoder(view2, training=training), training=training)
        p1 = self.predictor(z1, training=training)
        p2 = self.predictor(z2, training=training)
        loss = 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))
        return loss, {"embedding_std": embedding_std(tf.concat([p1, p2], axis=0))}

    def get_config(self):
        config = super().get_config()
        config.update(projection_hidden_dims=self.projection_hidden_dims,
                      projection_dim=self.projection_dim,
                      prediction_hidden_dim=self.prediction_hidden_dim,
                      fix_predictor_learning_rate=self.fix_predictor_learning_rate,
                      synchronized_bn=self.synchronized_bn)
        return config


def simsiam_views(config):
    """Two views, each the `augment` section's `SimCLRTransform` (MoCo v2's augmentation)."""
    view = augment.SimCLRTransform(config.data.image_size, **config.augment)
    return augment.MultiViewTransform([view, view])


def _checks(config):
    m, a = config.model, config.augment
    config_checks.positive_int("model.projection_dim", m.projection_dim)
    config_checks.positive_int("model.prediction_hidden_dim", m.prediction_hidden_dim)
    config_checks.boolean("model.fix_predictor_learning_rate", m.fix_predictor_learning_rate)
    config_checks.crop_scale("augment.crop_scale", a.crop_scale)
    config_checks.check(len(a.color_jitter) == 4 and min(a.color_jitter) >= 0,
                        "augment.color_jitter", a.color_jitter,
                        "4 numbers >= 0: (brightness, contrast, saturation, hue)")
    config_checks.same_synchronized_bn(config)


registry.register(
    "simsiam", SimSiam,
    # Section 3 and the authors' builder.py: dim 2048, pred_dim 512, 3-layer projector.
    model=dict(projection_hidden_dims=(2048, 2048), projection_dim=2048,
               prediction_hidden_dim=512, fix_predictor_learning_rate=True,
               synchronized_bn=False),
    # main_simsiam.py: MoCo v2's augmentation, crop 20-100%, jitter (0.4, 0.4, 0.4, 0.1) with
    # probability 0.8, greyscale 0.2, blur 0.5, flip.
    augment=dict(crop_scale=(0.2, 1.0), crop_ratio=(3.0 / 4.0, 4.0 / 3.0), flip_probability=0.5,
                 color_jitter=(0.4, 0.4, 0.4, 0.1), color_jitter_probability=0.8,
                 grayscale_probability=0.2, blur_probability=0.5),
    views=simsiam_views, checks=_checks)
