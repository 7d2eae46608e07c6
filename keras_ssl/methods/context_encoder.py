"""Context Encoder (Pathak et al. 2016, "Context Encoders: Feature Learning by Inpainting")."""

import keras
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.augment.masks import MASK_KINDS
from keras_ssl.distribute import num_replicas
from keras_ssl.heads import ChannelwiseFullyConnected, DecoderHead, PatchDiscriminator
from keras_ssl.losses import discriminator_loss, generator_adversarial_loss, masked_l2
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod
from keras_ssl.methods.colorization import _Untracked, decoder_blocks, feature_map_model


# What the discriminator sees (see `ContextEncoder`).
DISCRIMINATOR_INPUTS = ("region", "composite")


def to_signed(images):
    """[0, 1] pixels -> the authors' [-1, 1] (their data loader's `mul(2):add(-1)`)."""
    return 2.0 * images - 1.0


@keras.saving.register_keras_serializable(package="keras_ssl")
class ContextEncoder(PretrainingMethod):
    """Fill in the masked part of an image from its context, with an adversarial critic.

    Generator: encoder (last feature map) -> `ChannelwiseFullyConnected` -> `DecoderHead` to the
    full image (sigmoid), of which the predicted region (the hole and its overlap band) counts.
    Its loss (section 3.2, Eq. 3) is `reconstruction_weight` x the masked L2 +
    `adversarial_weight` x -log D(prediction), the paper's 0.999 / 0.001, at the scale of the
    authors' `train.lua` (center inpainting, conditionAdv = 0), not rescaled weights: pixels in
    [-1, 1] (`to_signed`), the L2 a mean over the predicted region's elements with the gradient
    10x on the overlap band (`keras_ssl.losses.masked_l2`; weights 1 / 10 / 0 from the
    transform), the adversarial term a mean over the batch (nn.BCECriterion). The generator's
    gradient is then `train.lua`'s `(1 - wtl2) dBCE + wtl2Matrix * dMSE` with wtl2 = 0.999 (the
    earlier [0, 1] L2 divided by the summed weights made the adversarial term ~12x stronger).
    The sigmoid output in [-1, 1] is tanh(z / 2), their tanh up to the last layer's scale. For
    random masks `train_random.lua` reconstructs the whole image (useOverlapPred = 1: 10x on the
    context) and its critic sees the whole prediction; here both stay on the hole and its band.

    The discriminator (`PatchDiscriminator`, its Eq. 2 loss -log D(real) - log(1 - D(fake)))
    sees, with `discriminator_input="region"` (the default, as `train.lua` with conditionAdv = 0
    and the paper's section 3.2, where a context-conditioned critic exploited the seams): the
    predicted region only, real pixels against the raw prediction there, zero (mid-grey)
    elsewhere; no context pixel reaches it. For the central square this is the authors' 64 x 64
    patch (hole + 4-pixel ring) in an otherwise empty frame (they crop it instead).
    `"composite"`: the whole image, context with the prediction pasted into the hole, against
    the real image (the option the paper dropped).

    Two optimizers in one `train_step`: `self.optimizer` (the one `compile` gets, from the
    CLI's `train` section) updates the encoder, channel-wise FC and decoder with the generator's
    gradients only (`train.lua`: Adam 2e-3, beta_1 0.5, 10x the discriminator's rate when
    0 < wtl2 < 1); `self.discriminator_optimizer` (Adam, `discriminator_learning_rate`,
    beta_1 0.5, epsilon 1e-8: `train.lua`'s lr 2e-4 / beta1 0.5 and optim.adam's defaults)
    updates the discriminator with its own loss only, on stopped-gradient predictions. Here the
    generator steps first, then the discriminator (`train.lua`: the other way round). Its
    variables are part of `model.variables`, so `keras_ssl.callbacks.TrainingCheckpoint` saves
    and restores them. `adversarial_weight=0` trains reconstruction only (no discriminator step).

    Trained on `(masked, images, hole, weights)` from `keras_ssl.augment.InpaintingTransform`.

    Args:
        encoder: an encoder with `feature_maps` (`keras_ssl.encoders.ResNet`).
        decoder_filters: widths of the up-convolutions (their count follows from the sizes).
        discriminator_filters: the discriminator's convolution widths.
        reconstruction_weight, adversarial_weight: the paper's 0.999 and 0.001 (`train.lua`'s
            wtl2 and 1 - wtl2).
        discriminator_learning_rate: the discriminator's Adam rate (`train.lua`: 2e-4).
        discriminator_input: "region" (default) or "composite", see above.
        channelwise_dropout: dropout after the channel-wise FC.
        synchronized_bn: batch norm of the decoder and discriminator over all replicas.

    Example:
    ```python
    model = ContextEncoder(keras_ssl.encoders.ResNet18(stem="cifar"))
    model.compile(optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5))   # train.lua's generator
    model.fit(pretraining_dataset(..., transform=InpaintingTransform("central")))
    filled = model.inpaint(masked, hole)
    ```
    """

    metric_names = ("loss", "reconstruction_loss", "adversarial_loss", "discriminator_loss")

    def __init__(self, encoder, decoder_filters=(64, 32, 16, 8), discriminator_filters=(32, 64, 128),
                 reconstruction_weight=0.999, adversarial_weight=0.001,
                 discriminator_learning_rate=2e-4, discriminator_input="region",
                 channelwise_dropout=0.0, synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        if discriminator_input not in DISCRIMINATOR_INPUTS:
            raise ValueError(f"discriminator_input must be one of {DISCRIMINATOR_INPUTS}, "
                             f"got {discriminator_input!r}.")
        self.decoder_filters = tuple(int(f) for f in decoder_filters)
        self.discriminator_filters = tuple(int(f) for f in discriminator_filters)
        self.reconstruction_weight = float(reconstruction_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.discriminator_learning_rate = float(discriminator_learning_rate)
        self.discriminator_input = discriminator_input
        self.channelwise_dropout = float(channelwise_dropout)
        self.synchronized_bn = synchronized_bn
        self._maps = _Untracked(feature_map_model(encoder))
        self.channelwise = ChannelwiseFullyConnected(dropout=self.channelwise_dropout,
                                                     name="channelwise_fc")
        self.decoder = None
        self.discriminator = PatchDiscriminator(self.discriminator_filters, synchronized_bn,
                                                name="discriminator")
        self.discriminator_optimizer = keras.optimizers.Adam(
            self.discriminator_learning_rate, beta_1=0.5, epsilon=1e-8,
            name="discriminator_optimizer")

    @property
    def adversarial(self):
        return self.adversarial_weight > 0

    def build_heads(self, feature_shape):
        del feature_shape
        size = self.encoder.input_shape[1]
        if size is None:
            raise ValueError("ContextEncoder needs an encoder of a fixed image size.")
        map_shape = self._maps.model.compute_output_shape((None, size, size, 3))
        self.channelwise.build(map_shape)
        blocks = decoder_blocks(map_shape[1], size)
        widths = (self.decoder_filters + self.decoder_filters[-1:] * blocks)[:blocks]
        self.decoder = DecoderHead(widths, 3, self.synchronized_bn, name="decoder")
        self.decoder.build(map_shape)
        self.discriminator.build((None, size, size, 3))
        # Built now, so a checkpoint restored before the first step finds its slots.
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    @property
    def variables(self):
        # The discriminator's optimizer is not a layer; list its state with the model's so that
        # checkpoints (which save `model.variables`) hold both optimizers.
        return super().variables + list(self.discriminator_optimizer.variables)

    def generator_variables(self):
        ids = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in ids]

    def predict_images(self, masked, training=False):
        """The decoder's whole-image prediction [B, S, S, 3] in [0, 1] from masked images."""
        maps = self._maps.model(masked, training=training)
        x = self.channelwise(maps, training=training)
        return tf.sigmoid(tf.cast(self.decoder(x, training=training), tf.float32))

    def inpaint(self, masked, hole):
        """The masked images with their holes filled by the prediction."""
        prediction = self.predict_images(masked)
        return masked * (1.0 - hole) + prediction * hole

    def discriminator_inputs(self, images, prediction, hole, weights):
        """(real, fake) discriminator inputs in [-1, 1] for `self.discriminator_input`."""
        if self.discriminator_input == "composite":
            composite = images * (1.0 - hole) + prediction * hole
            return to_signed(images), to_signed(composite)
        region = tf.cast(weights > 0, images.dtype)
        return region * to_signed(images), region * to_signed(prediction)

    def generator_objective(self, data, training):
        """(loss, values, (real, fake)): the generator's loss and the discriminator's inputs."""
        masked, images, hole, weights = data
        prediction = self.predict_images(masked, training)
        reconstruction = masked_l2(to_signed(prediction), to_signed(images), weights)
        real, fake = self.discriminator_inputs(images, prediction, hole, weights)
        values = {"reconstruction_loss": reconstruction}
        loss = self.reconstruction_weight * reconstruction
        if self.adversarial:
            adversarial = generator_adversarial_loss(
                tf.cast(self.discriminator(fake, training=training), tf.float32))
            loss = loss + self.adversarial_weight * adversarial
            values["adversarial_loss"] = adversarial
        else:
            values["adversarial_loss"] = tf.constant(0.0)
        return loss, values, (real, fake)

    def critic_objective(self, real, fake, training):
        real = tf.cast(self.discriminator(real, training=training), tf.float32)
        fake = tf.cast(self.discriminator(tf.stop_gradient(fake), training=training), tf.float32)
        return discriminator_loss(real, fake)

    def compute_objective(self, data, training):
        loss, values, pair = self.generator_objective(data, training)
        values["discriminator_loss"] = (self.critic_objective(*pair, training)
                                        if self.adversarial else tf.constant(0.0))
        return loss, values

    def train_step(self, data):
        data = self._prepared(data)
        generator_vars = self.generator_variables()
        with tf.GradientTape() as tape:
            loss, values, pair = self.generator_objective(data, training=True)
            scaled = self.optimizer.scale_loss(loss / num_replicas())
        gradients = tape.gradient(scaled, generator_vars)
        self.optimizer.apply_gradients(zip(gradients, generator_vars))
        if self.adversarial:
            critic_vars = self.discriminator.trainable_variables
            with tf.GradientTape() as tape:
                d_loss = self.critic_objective(*pair, training=True)
                scaled = d_loss / num_replicas()
            d_gradients = tape.gradient(scaled, critic_vars)
            self.discriminator_optimizer.apply_gradients(zip(d_gradients, critic_vars))
            values["discriminator_loss"] = d_loss
        else:
            values["discriminator_loss"] = tf.constant(0.0)
        return self._update_metrics(loss, values)

    def get_config(self):
        config = super().get_config()
        config.update(decoder_filters=self.decoder_filters,
                      discriminator_filters=self.discriminator_filters,
                      reconstruction_weight=self.reconstruction_weight,
                      adversarial_weight=self.adversarial_weight,
                      discriminator_learning_rate=self.discriminator_learning_rate,
                      discriminator_input=self.discriminator_input,
                      channelwise_dropout=self.channelwise_dropout,
                      synchronized_bn=self.synchronized_bn)
        return config


def context_encoder_views(config):
    return augment.InpaintingTransform(**config.augment)


def _checks(config):
    a, m = config.augment, config.model
    config_checks.check(a.kind in MASK_KINDS, "augment.kind", a.kind, f"one of {MASK_KINDS}")
    config_checks.check(0 < a.coverage < 1, "augment.coverage", a.coverage, "in (0, 1)")
    config_checks.check(m.adversarial_weight >= 0, "model.adversarial_weight",
                        m.adversarial_weight, ">= 0 (0: reconstruction only)")
    config_checks.positive("model.discriminator_learning_rate", m.discriminator_learning_rate)
    config_checks.check(m.discriminator_input in DISCRIMINATOR_INPUTS, "model.discriminator_input",
                        m.discriminator_input, f"one of {DISCRIMINATOR_INPUTS}")
    config_checks.same_synchronized_bn(config)


def _preview(transform, images, outputs):
    masked, x, hole, weights = (t.numpy() for t in outputs)
    return [("masked input", masked), ("loss weight / 10", (weights / 10.0).repeat(3, -1)),
            ("truth", x)]


def _eval_figures(model, config, images):
    """Masked test images (the recipe's mask, no flip), the inpainted prediction, the truth."""
    transform = augment.InpaintingTransform(**dict(config.augment, flip_probability=0.0))
    masked, x, hole, _ = transform(tf.constant(images, tf.float32), tf.constant([0, 1], tf.int64))
    return [("masked input", masked.numpy()), ("prediction", model.inpaint(masked, hole).numpy()),
            ("truth", x.numpy())]


registry.register(
    "context_encoder", ContextEncoder,
    # Pathak et al. 2016, section 3.2 and their train.lua: joint loss 0.999 L2 + 0.001
    # adversarial at the code's scale, overlap band weighted 10x (overlapL2Weight), the
    # discriminator on the predicted region only (conditionAdv = 0) with Adam 2e-4, beta_1 0.5;
    # the central half-side square as the default hole (train.lua's predicted patch, its ring
    # included, is half the side).
    model=dict(decoder_filters=(64, 32, 16, 8), discriminator_filters=(32, 64, 128),
               reconstruction_weight=0.999, adversarial_weight=0.001,
               discriminator_learning_rate=2e-4, discriminator_input="region",
               channelwise_dropout=0.0, synchronized_bn=False),
    augment=dict(kind="central", hole_size=registry.unset(int), num_blocks=4,
                 block_size=registry.unset(int), coverage=0.25, overlap=1, flip_probability=0.5),
    views=context_encoder_views, checks=_checks, preview=_preview, eval_figures=_eval_figures)
