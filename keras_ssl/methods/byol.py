"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning")."""

import keras
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.heads import MLPHead
from keras_ssl.layers import MomentumNetwork, cosine_momentum
from keras_ssl.losses import byol_loss, embedding_std
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class BYOL(PretrainingMethod):
    """BYOL: an online network predicts a slowly moving target network's projection of another view.

    Trained with `model.fit` on a dataset yielding `(view1, view2)` float batches (BYOL's asymmetric
    pair: `MultiViewTransform` of two `SimCLRTransform`s, blur 1.0 / 0.1, solarize 0.0 / 0.2).
    Each step (section 3.1):

    - online: encoder f, projector g, predictor q; target: momentum copies of f and g, without
      gradient (`keras_ssl.layers.MomentumNetwork`);
    - loss `byol_loss(q(g(f(v1))), g'(f'(v2))) + byol_loss(q(g(f(v2))), g'(f'(v1)))`, the symmetrised
      2 - 2 cos (eq. 2), each view through the networks as its own batch as in the paper's code;
    - after the optimizer step, every target weight (BN moving statistics included) moves to
      tau_k * target + (1 - tau_k) * online, tau_k = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2 over
      the K = `total_steps` steps of training (section 3.2). The step k is a model variable, so
      a resumed run continues the schedule.

    Logs `embedding_std` (`keras_ssl.losses.embedding_std`) of the online projections of both
    views: near 0 when the representation collapses.

    Projector and predictor are Linear(4096) - BN - ReLU - Linear(256) (section 3.3). Train with
    LARS excluding batch norm and biases from weight decay and adaptation (`keras_ssl.optim.LARS`'s
    default). `model(images)` and `model.encoder` are the online encoder, the one to evaluate and
    export.

    Args:
        encoder: a Keras model mapping images to features.
        projection_hidden_dims, projection_dim: the projector (4096, 256).
        prediction_hidden_dims: the predictor's hidden widths (4096); its output is projection_dim.
        base_momentum: tau_base (0.996).
        total_steps: K; None keeps tau at tau_base (no schedule).
        synchronized_bn: batch norm of the heads over all replicas (BYOL's, as its encoder's).

    Example:
    ```python
    model = keras_ssl.methods.BYOL(keras_ssl.encoders.ResNet50(stem="imagenet"),
                                   total_steps=epochs * steps_per_epoch)
    model.compile(optimizer=keras_ssl.optim.LARS(schedule, weight_decay=1.5e-6))
    model.fit(dataset, epochs=epochs)
    ```
    """

    metric_names = ("loss", "target_momentum", "embedding_std")
    _projector_output_batch_norm = False  # MoCo v3's projector ends in batch norm

    def __init__(self, encoder, projection_hidden_dims=(4096,), projection_dim=256,
                 prediction_hidden_dims=(4096,), base_momentum=0.996, total_steps=None,
                 synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        if not 0 <= base_momentum <= 1:
            raise ValueError(f"base_momentum must be in [0, 1], got {base_momentum!r}.")
        if total_steps is not None and (not isinstance(total_steps, int) or total_steps < 1):
            raise ValueError(f"total_steps must be a positive integer or None, got "
                             f"{total_steps!r}.")
        self.projection_hidden_dims = tuple(projection_hidden_dims)
        self.projection_dim = projection_dim
        self.prediction_hidden_dims = tuple(prediction_hidden_dims)
        self.base_momentum = base_momentum
        self.total_steps = total_steps
        self.synchronized_bn = synchronized_bn
        self.projector = MLPHead(self.projection_hidden_dims, projection_dim, batch_norm=True,
                                 synchronized_bn=synchronized_bn,
                                 output_batch_norm=self._projector_output_batch_norm,
                                 name="projector")
        self.predictor = MLPHead(self.prediction_hidden_dims, projection_dim, batch_norm=True,
                                 synchronized_bn=synchronized_bn, name="predictor")
        self.target_network = MomentumNetwork([encoder, self.projector], name="target_network")

    def build(self, input_shape):
        super().build(input_shape)
        self.target_network.build(input_shape)

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)
        self.predictor.build(self.projector.compute_output_shape(feature_shape))

    def target_momentum(self):
        """tau_k for the current step k."""
        if self.total_steps is None:
            return keras.ops.convert_to_tensor(self.base_momentum, "float32")
        return cosine_momentum(self.target_network.step, self.total_steps, self.base_momentum)

    def _project(self, images, training):
        return self.projector(self.encoder(images, training=training), training=training)

    def _forward(self, data, training):
        """Online projections z, predictions p and target projections t of both views."""
        view1, view2 = data
        self.target_network.synchronize([self.encoder, self.projector])
        z1, z2 = self._project(view1, training), self._project(view2, training)
        p1, p2 = self.predictor(z1, training=training), self.predictor(z2, training=training)
        t1 = self.target_network(view1, training=training)
        t2 = self.target_network(view2, training=training)
        metrics = {"target_momentum": self.target_momentum(),
                   "embedding_std": embedding_std(tf.concat([z1, z2], axis=0))}
        return (p1, p2), (t1, t2), metrics

    def compute_objective(self, data, training):
        (p1, p2), (t1, t2), metrics = self._forward(data, training)
        return byol_loss(p1, t2) + byol_loss(p2, t1), metrics

    def after_step(self):
        self.target_network.update([self.encoder, self.projector], self.target_momentum())

    def get_config(self):
        config = super().get_config()
        config.update(projection_hidden_dims=self.projection_hidden_dims,
                      projection_dim=self.projection_dim,
                      prediction_hidden_dims=self.prediction_hidden_dims,
                      base_momentum=self.base_momentum, total_steps=self.total_steps,
                      synchronized_bn=self.synchronized_bn)
        return config


#: BYOL's asymmetric pair (appendix B, table 6), which MoCo v3 and NNCLR train with too.
BYOL_AUGMENT = dict(crop_scale=(0.08, 1.0), crop_ratio=(3.0 / 4.0, 4.0 / 3.0), flip_probability=0.5,
                    color_jitter=(0.4, 0.4, 0.2, 0.1), color_jitter_probability=0.8,
                    grayscale_probability=0.2, blur_probabilities=(1.0, 0.1),
                    solarize_probabilities=(0.0, 0.2))


def byol_views(config):
    """BYOL's asymmetric pair (appendix B, table 6): the views differ in blur and solarize."""
    a = config.augment
    shared = dict(crop_scale=tuple(a.crop_scale), crop_ratio=tuple(a.crop_ratio),
                  flip_probability=a.flip_probability, color_jitter=tuple(a.color_jitter),
                  color_jitter_probability=a.color_jitter_probability,
                  grayscale_probability=a.grayscale_probability)
    return augment.MultiViewTransform([
        augment.SimCLRTransform(config.data.image_size, blur_probability=blur,
                                solarize_probability=solarize, **shared)
        for blur, solarize in zip(a.blur_probabilities, a.solarize_probabilities)])


def check_byol_views(config):
    """Checks of the `augment` section of `byol_views` (BYOL's, MoCo v3's,
    NNCLR's, Barlow Twins' and VICReg's)."""
    a = config.augment
    config_checks.crop_scale("augment.crop_scale", a.crop_scale)
    config_checks.check(len(a.color_jitter) == 4 and min(a.color_jitter) >= 0,
                        "augment.color_jitter", a.color_jitter,
                        "4 numbers >= 0: (brightness, contrast, saturation, hue)")
    for key in ("blur_probabilities", "solarize_probabilities"):
        values = a[key]
        config_checks.check(
            len(values) == 2 and all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in values),
            f"augment.{key}", values, "two numbers in [0, 1], one per view")


def _checks(config):
    m = config.model
    config_checks.positive_int("model.projection_dim", m.projection_dim)
    config_checks.check(0 <= m.base_momentum <= 1, "model.base_momentum", m.base_momentum,
                        "a number in [0, 1]")
    config_checks.same_synchronized_bn(config)
    check_byol_views(config)


def momentum_schedule_length(config, steps_per_epoch):
    """A momentum cosine schedule runs over the whole run (BYOL section 3.2, MoCo v3's
    `--moco-m-cos`): its `total_steps`."""
    if steps_per_epoch is None:
        raise ValueError(f"{config.method}'s momentum follows a cosine schedule over the whole "
                         "run: pass steps_per_epoch.")
    return {"total_steps": config.train.epochs * steps_per_epoch}


registry.register(
    "byol", BYOL,
    # Section 3.3 and appendix B.
    model=dict(projection_hidden_dims=(4096,), projection_dim=256, prediction_hidden_dims=(4096,),
               base_momentum=0.996, synchronized_bn=False),
    augment=BYOL_AUGMENT, views=byol_views, checks=_checks,
    run_arguments=momentum_schedule_length)
