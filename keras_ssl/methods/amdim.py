"""AMDIM (Bachman, Hjelm & Buchwalter 2019, "Learning Representations by Maximizing Mutual Information
Across Views", arXiv 1906.00910)."""

import keras
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.augment.amdim_views import SharedFlipViews, TranslateColorTransform
from keras_ssl.distribute import num_replicas, replica_id
from keras_ssl.heads.amdim import MixtureHeads, ResidualEmbedding
from keras_ssl.losses.amdim import amdim_loss
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class AMDIM(PretrainingMethod):
    """AMDIM: two augmented views -> multiscale encoder (f1, f5, f7) -> r1 = f1, r5 = phi_5(f5),
    r7 = phi_7(f7) in n_rkhs -> NCE for the scale pairs (1, 5), (1, 7), (5, 5) in both directions
    (eq. 5), with soft clipping and the score regulariser; optionally mixture-based f1 (section 3.7,
    eq. 6-7).

    r1 is f1 itself, as the authors' code (model.py: `rkhs_block_1 = NopNet()`; phi_5 and phi_7
    are its `FakeRKHSConvNet`): the encoder's last layer already maps to n_rkhs, and the vector the
    probes read is the one the NCE trains.

    Negatives are every location of every other image over the global batch (targets gathered across
    replicas, `keras_ssl.losses.amdim`). The (5, 5) source of each image is one f5 location drawn per
    step (as the authors' code), from a seed of the step and the image's global index, so it does not
    depend on the replica count. Both views go through the encoder as one batch. `model(images)` is
    the global feature f1, what the linear and MLP probes read (the paper's evaluation).

    Args:
        encoder: a `keras_ssl.encoders.AMDIMEncoder` (or any encoder with `feature_maps()` giving
            f1 [B, 1, 1, d1], f5 [B, 5, 5, d5], f7 [B, 7, 7, d7] and an `n_rkhs` attribute).
        clip: soft-clipping range c of c * tanh(s / c) (20, the paper's and the code's `tclip`).
        reg_weight: lambda of lambda * s^2: 5e-2, the authors' code (costs.py), which we follow as
            for r1 = f1; the paper's text says 4e-2.
        num_mixtures: k mixture components of f1 (1: the plain objective, the paper's main results).
        entropy_weight: alpha of eq. (6)'s alpha * H(q), > 0; q is eq. (6)'s maximiser
            softmax(s_nce / alpha) (eq. 7 with temperature 1 / alpha). alpha = 1 (ours: the paper
            gives no value we could find; the authors' public code has no mixtures) makes q the
            components' normalised NCE probabilities and the objective log sum_j exp(s_nce_j).
        hidden_bn: batch norm on the hidden layer of phi_5 / phi_7 (the code's use_bn).
        synchronized_bn: batch norm of the heads over all replicas.
        gather_negatives: False uses only this replica's images as negatives: a deliberate bug the
            distributed test uses to show that the comparison with one device detects it.

    Example:
    ```python
    encoder = keras_ssl.encoders.AMDIMEncoder(ndf=128, n_rkhs=1024, n_depth=10)
    model = keras_ssl.methods.AMDIM(encoder)
    model.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.8))
    model.fit(dataset_of_view_pairs, epochs=300)
    features = model.predict(images)   # f1, [N, 1024]
    ```
    """

    metric_names = ("loss", "nce_1t5", "nce_1t7", "nce_5t5", "score_reg", "entropy")

    def __init__(self, encoder, clip=20.0, reg_weight=5e-2, num_mixtures=1, entropy_weight=1.0,
                 hidden_bn=False, synchronized_bn=False, seed=0, gather_negatives=True,
                 **kwargs):
        super().__init__(encoder, **kwargs)
        if not hasattr(encoder, "feature_maps") or not hasattr(encoder, "n_rkhs"):
            raise ValueError("AMDIM needs an encoder with feature_maps() -> (f1, f5, f7) and "
                             "n_rkhs, e.g. keras_ssl.encoders.AMDIMEncoder.")
        if int(num_mixtures) > 1 and not entropy_weight > 0:
            raise ValueError("entropy_weight (alpha) must be > 0 with mixtures: q is "
                             f"softmax(s_nce / alpha); got {entropy_weight!r}.")
        self.clip = clip
        self.reg_weight = reg_weight
        self.num_mixtures = int(num_mixtures)
        self.entropy_weight = entropy_weight
        self.hidden_bn = hidden_bn
        self.synchronized_bn = synchronized_bn
        self.seed = int(seed)
        self.gather_negatives = gather_negatives
        n_rkhs = encoder.n_rkhs
        self.phi5 = ResidualEmbedding(n_rkhs, hidden_bn, synchronized_bn, name="phi5")
        self.phi7 = ResidualEmbedding(n_rkhs, hidden_bn, synchronized_bn, name="phi7")
        self.mixtures = MixtureHeads(self.num_mixtures, name="mixtures") \
            if self.num_mixtures > 1 else None
        # Shares the encoder's layers; kept out of Keras tracking so its weights are not saved twice.
        object.__setattr__(self, "_maps", encoder.feature_maps())

    def build_heads(self, feature_shape):
        f1, f5, f7 = self._maps.output_shape
        if self.mixtures is not None:
            self.mixtures.build((None, f1[-1]))
        self.phi5.build(f5)
        self.phi7.build(f7)

    def _source_locations(self, local):
        """Per image of this replica, the f5 location (0..24) of each view's (5, 5) source: drawn
        for the global batch from (seed, step) and sliced, so any replica count draws the same."""
        optimizer = getattr(self, "optimizer", None)
        step = tf.cast(optimizer.iterations, tf.int32) if optimizer is not None else 0
        draws = tf.random.stateless_uniform([2, local * num_replicas()], seed=[self.seed, step],
                                            minval=0, maxval=25, dtype=tf.int32)
        start = replica_id() * local
        return draws[0, start:start + local], draws[1, start:start + local]

    def embed(self, images, training=False):
        """(r1 [B, d] or [B, k, d], r5 [B, 5, 5, d], r7 [B, 7, 7, d]) of a batch of images:
        r1 = f1 (or its k mixture components), r5 = phi_5(f5), r7 = phi_7(f7)."""
        f1, f5, f7 = self._maps(images, training=training)
        r1 = tf.reshape(f1, [tf.shape(f1)[0], f1.shape[-1]])
        if self.mixtures is not None:
            r1 = self.mixtures(r1)
        return r1, self.phi5(f5, training=training), self.phi7(f7, training=training)

    def compute_objective(self, data, training):
        view1, view2 = data[0], data[1]
        local = tf.shape(view1)[0]
        r1, r5, r7 = self.embed(tf.concat([view1, view2], axis=0), training=training)
        r1_a, r1_b = tf.split(r1, 2, axis=0)
        r5_a, r5_b = tf.split(r5, 2, axis=0)
        r7_a, r7_b = tf.split(r7, 2, axis=0)
        index_a, index_b = self._source_locations(local)
        loss, terms = amdim_loss(r1_a, r5_a, r7_a, r1_b, r5_b, r7_b, index_a, index_b,
                                 clip=self.clip, reg_weight=self.reg_weight,
                                 alpha=self.entropy_weight,
                                 gather=self.gather_negatives)
        return loss, terms

    def get_config(self):
        config = super().get_config()
        config.update(clip=self.clip, reg_weight=self.reg_weight, num_mixtures=self.num_mixtures,
                      entropy_weight=self.entropy_weight,
                      hidden_bn=self.hidden_bn, synchronized_bn=self.synchronized_bn,
                      seed=self.seed, gather_negatives=self.gather_negatives)
        return config


def amdim_views(config):
    """Two views as the authors' datasets.py: one flip shared by both (p `flip_probability`), then
    per view `augment.crop` = "translate" (TransformsC10: reflect-padded translation of up to
    `max_translation` pixels with p `translate_probability`, no crop) or "resized_crop"
    (TransformsSTL10 / ImageNet128: `crop_scale`, `crop_ratio`), then colour jitter with p
    `color_jitter_probability` and grey with p `grayscale_probability`."""
    a = config.augment
    colour = dict(color_jitter=tuple(a.color_jitter),
                  color_jitter_probability=a.color_jitter_probability,
                  grayscale_probability=a.grayscale_probability)
    if a.crop == "translate":
        view = TranslateColorTransform(a.max_translation, a.translate_probability, **colour)
    else:
        view = augment.SimCLRTransform(config.data.image_size, crop_scale=tuple(a.crop_scale),
                                       crop_ratio=tuple(a.crop_ratio), flip_probability=0.0,
                                       **colour)
    return SharedFlipViews([view, view], a.flip_probability)


def _checks(config):
    m, a = config.model, config.augment
    check = config_checks.check
    # encoder.kind is not checked here (base_config's default is "resnet"); AMDIM refuses an
    # encoder without feature_maps() -> (f1, f5, f7) when it is built.
    check(config.data.image_size in (32, 64, 128), "data.image_size", config.data.image_size,
          "32, 64 or 128 (the AMDIM encoder's input sizes)")
    if m.clip is not None:
        config_checks.positive("model.clip", m.clip)
    check(m.reg_weight >= 0, "model.reg_weight", m.reg_weight, "a number >= 0")
    config_checks.positive_int("model.num_mixtures", m.num_mixtures)
    config_checks.positive("model.entropy_weight", m.entropy_weight)
    check(m.gather_negatives is True, "model.gather_negatives", m.gather_negatives,
          "True (False is a deliberate bug for tests)")
    check(a.crop in ("translate", "resized_crop"), "augment.crop", a.crop,
          "'translate' (CIFAR) or 'resized_crop' (STL-10, ImageNet)")
    check(isinstance(a.max_translation, int) and a.max_translation >= 0, "augment.max_translation",
          a.max_translation, "an int >= 0")
    for key in ("translate_probability", "flip_probability", "color_jitter_probability",
                "grayscale_probability"):
        config_checks.probability(f"augment.{key}", a[key])
    config_checks.crop_scale("augment.crop_scale", a.crop_scale)


registry.register(
    "amdim", AMDIM,
    # c = 20 (the paper, section 3.5, and the code's tclip); lambda = 5e-2 (the code's costs.py; the
    # paper says 4e-2); k = 1: the plain objective of the main results. alpha only matters for
    # k > 1 (section 3.7).
    model=dict(clip=20.0, reg_weight=5e-2, num_mixtures=1, entropy_weight=1.0,
               hidden_bn=False, synchronized_bn=False, seed=0, gather_negatives=True),
    # The code's datasets.py: RandomHorizontalFlip once for both views; TransformsC10's
    # RandomApply(RandomTranslateWithReflect(4), p 0.8) ("translate", the default: 32x32 is the
    # main table); STL-10 / ImageNet's RandomResizedCrop(scale (0.3, 1), ratio (0.7, 1.4))
    # ("resized_crop"); ColorJitter(0.4, 0.4, 0.4, 0.2) with p 0.8 (hue 0.1 on ImageNet);
    # RandomGrayscale(0.25).
    augment=dict(crop="translate", max_translation=4, translate_probability=0.8,
                 crop_scale=(0.3, 1.0), crop_ratio=(0.7, 1.4), flip_probability=0.5,
                 color_jitter=(0.4, 0.4, 0.4, 0.2), color_jitter_probability=0.8,
                 grayscale_probability=0.25),
    views=amdim_views, checks=_checks)
