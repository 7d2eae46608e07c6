"""Colorization (Zhang, Isola & Efros 2016, "Colorful Image Colorization")."""

import functools

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.augment.dense_targets import ab_targets, colour_mask
from keras_ssl.layers import LightnessInput
from keras_ssl.heads import DecoderHead
from keras_ssl.losses import soft_cross_entropy
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod


def lightness_encoder(base):
    """`base` (RGB in [0, 1] -> features) behind an RGB -> L layer: a model that takes RGB like
    every encoder (so `keras-ssl export` / `eval` work unchanged) and sees only lightness."""
    inputs = keras.Input(base.input_shape[1:], name="images")
    return keras.Model(inputs, base(LightnessInput(name="lightness")(inputs)),
                       name="lightness_encoder")


class _Untracked:
    """Holds a model sharing the encoder's layers without Keras tracking it a second time."""

    def __init__(self, model):
        self.model = model


def feature_map_model(encoder, stage=4):
    """The encoder's last feature map (`feature_maps` of `keras_ssl.encoders.ResNet`)."""
    if not hasattr(encoder, "feature_maps"):
        raise ValueError(f"{type(encoder).__name__} has no feature_maps(); the dense pretext tasks "
                         "need a keras_ssl.encoders.ResNet (or an encoder with feature_maps).")
    maps = encoder.feature_maps((stage,))
    return keras.Model(maps.input, maps.outputs[0])


def decoder_blocks(feature_size, output_size):
    """How many 2x up-sampling blocks take a `feature_size` map to `output_size`."""
    blocks = int(round(np.log2(output_size / feature_size)))
    if blocks < 0 or feature_size * 2 ** blocks != output_size:
        raise ValueError(f"the decoder cannot up-sample a {feature_size}-pixel feature map to "
                         f"{output_size} pixels by powers of 2.")
    return blocks


@keras.saving.register_keras_serializable(package="keras_ssl")
class Colorization(PretrainingMethod):
    """Predict the colour (ab) of every pixel from its lightness (L).

    The encoder sees L only (`lightness_encoder` puts an RGB -> L layer in front of it, so the
    trained `model.encoder` still takes RGB images); a decoder (`DecoderHead`) on its last
    feature map predicts, per output pixel, a distribution over `bins` (the quantised ab gamut,
    313 bins at grid 10 for ImageNet). Loss (section 2.1, Eq. 2): cross-entropy to the
    soft-encoded truth (5 nearest bins, sigma 5, the paper's; the authors' code uses 10, see
    `keras_ssl.augment.lab.soft_encode`), weighted per pixel by class rebalancing (Eq. 3-4: the
    smoothed empirical `prior` mixed with the uniform by `rebalance_lambda`, inverted,
    expectation 1) and by the authors' grey mask (`NonGrayMaskLayer` in `caffe_traininglayers.py`,
    not in the paper): a training image none of whose target pixels has |a| or |b| above
    `grey_threshold` (a greyscale photo, of which ImageNet has some) gets weight 0 instead of
    teaching the network that everything may be grey. The loss stays the mean over all pixels of
    the batch, grey images included, as in the code, where the mask scales the gradient
    (`ClassRebalanceMultLayer`) and the loss's normaliser does not change.
    `decode` gives colours by the annealed mean (T = 0.38, Eq. 5). `mode="regression"` predicts
    ab directly with an L2 loss (the paper's baseline), with the same grey mask.

    Trained on `(images float [B, S, S, 3], targets)` from `keras_ssl.augment.ColorizationTransform`.

    Args:
        encoder: an RGB encoder with `feature_maps` (`keras_ssl.encoders.ResNet`).
        bins: ab bin centres [Q, 2] (default: the in-gamut bins at grid 10).
        prior: the training data's empirical distribution over the bins (default uniform).
        mode: "classification" (the paper) or "regression".
        output_stride: the prediction's resolution, 1/output_stride of the image (paper: 4).
        decoder_filters: widths of the decoder's blocks after the first (the count is set by the
            feature map and output sizes; the blocks use the first width).
        rebalance_lambda, prior_sigma: class rebalancing (paper: 0.5, 5).
        grey_threshold: the grey mask's ab threshold (the code's `NonGrayMaskLayer`: 5), tested
            on the images' ab at the targets' pixels (`augment.dense_targets.ab_targets`), as the
            code does on its subsampled ab; None trains on grey images too.
        temperature: annealed-mean temperature of `decode` (paper: 0.38).
        synchronized_bn: the decoder's batch norm over all replicas.
        ab_bins, prior_examples: config-only keys (ignored here): the CLI computes `bins` and
            `prior` from "data" (the bins `prior_examples` training images reach) or "gamut".

    Example:
    ```python
    bins, prior = keras_ssl.augment.ab_bins_from_data(train_images)
    model = Colorization(keras_ssl.encoders.ResNet18(stem="cifar"), bins=bins, prior=prior)
    model.compile(optimizer="adam")
    model.fit(dataset, epochs=30)   # dataset of ColorizationTransform(bins) outputs
    colours = model.decode(images)   # RGB with the predicted ab on the images' L
    ```
    """

    metric_names = ("loss", "bin_accuracy")

    def __init__(self, encoder, bins=None, prior=None, mode="classification", output_stride=4,
                 decoder_filters=(64,), rebalance_lambda=0.5, prior_sigma=5.0, temperature=0.38,
                 grey_threshold=5.0, synchronized_bn=False, ab_bins=None, prior_examples=None,
                 **kwargs):
        del ab_bins, prior_examples  # config keys saying where bins and prior come from
        self.base_encoder = encoder
        super().__init__(lightness_encoder(encoder), **kwargs)
        if mode not in ("classification", "regression"):
            raise ValueError(f"mode must be 'classification' or 'regression', got {mode!r}.")
        self.bins = np.asarray(augment.in_gamut_ab_bins(10) if bins is None else bins, np.float32)
        q = len(self.bins)
        self.prior = np.full(q, 1.0 / q) if prior is None else np.asarray(prior, np.float64)
        if self.prior.shape != (q,):
            raise ValueError(f"prior has shape {self.prior.shape}; expected ({q},), one per bin.")
        self.mode = mode
        self.output_stride = int(output_stride)
        self.decoder_filters = tuple(int(f) for f in decoder_filters)
        self.rebalance_lambda = float(rebalance_lambda)
        self.prior_sigma = float(prior_sigma)
        self.temperature = float(temperature)
        self.grey_threshold = None if grey_threshold is None else float(grey_threshold)
        self.synchronized_bn = synchronized_bn
        self.class_weights = augment.rebalancing_weights(self.prior, self.bins,
                                                         self.rebalance_lambda, self.prior_sigma)
        self._maps = _Untracked(feature_map_model(encoder))
        self.decoder = None

    def build_heads(self, feature_shape):
        del feature_shape
        size = self.encoder.input_shape[1]
        if size is None:
            raise ValueError("Colorization needs an encoder of a fixed image size.")
        map_shape = self._maps.model.compute_output_shape((None, size, size, 3))
        blocks = decoder_blocks(map_shape[1], size // self.output_stride)
        widths = (self.decoder_filters * blocks)[:blocks] if self.decoder_filters else ()
        outputs = len(self.bins) if self.mode == "classification" else 2
        self.decoder = DecoderHead(widths, outputs, self.synchronized_bn, name="decoder")
        self.decoder.build(map_shape)

    def predict_logits(self, images, training=False):
        """Per output pixel: logits over the bins (or ab values in regression mode)."""
        grey = self.encoder.get_layer("lightness")(images)
        return tf.cast(self.decoder(self._maps.model(grey, training=training), training=training),
                       tf.float32)

    def colour_weights(self, images):
        """Per image [B, 1, 1]: 0 for a greyscale image, else 1 (all 1 without a threshold)."""
        if self.grey_threshold is None:
            return tf.ones([tf.shape(images)[0], 1, 1])
        ab = ab_targets(tf.cast(images, tf.float32), self.output_stride)
        return colour_mask(ab, self.grey_threshold)[:, None, None]

    def compute_objective(self, data, training):
        images, targets = data
        outputs = self.predict_logits(images, training)
        colourful = self.colour_weights(images)
        if self.mode == "regression":
            loss = tf.reduce_mean(colourful * tf.reduce_sum(tf.square(outputs - targets), -1))
            return loss, {"bin_accuracy": tf.constant(0.0)}
        nearest = tf.argmax(targets, axis=-1, output_type=tf.int32)
        weights = tf.gather(tf.constant(self.class_weights, tf.float32), nearest) * colourful
        loss = soft_cross_entropy(outputs, targets, weights)
        hits = tf.equal(tf.argmax(outputs, axis=-1, output_type=tf.int32), nearest)
        return loss, {"bin_accuracy": tf.reduce_mean(tf.cast(hits, tf.float32))}

    def predict_ab(self, images, temperature=None):
        """ab [B, s, s, 2] at the prediction's resolution: the annealed mean of the predicted
        distribution (or the regressed values)."""
        outputs = self.predict_logits(images)
        if self.mode == "regression":
            return outputs
        t = self.temperature if temperature is None else temperature
        return augment.annealed_mean(tf.nn.softmax(outputs, axis=-1), self.bins, t)

    def decode(self, images, temperature=None):
        """Colourised RGB [B, S, S, 3]: the images' own L with the predicted ab, up-sampled."""
        images = tf.cast(images, tf.float32)
        ab = self.predict_ab(images, temperature)
        ab = tf.image.resize(ab, tf.shape(images)[1:3], method="bilinear")
        L = augment.rgb_to_lab(images)[..., :1]
        return augment.lab_to_rgb(tf.concat([L, ab], axis=-1))

    def get_config(self):
        config = super().get_config()
        config["encoder"] = keras.saving.serialize_keras_object(self.base_encoder)
        config.update(bins=self.bins.tolist(), prior=self.prior.tolist(), mode=self.mode,
                      output_stride=self.output_stride, decoder_filters=self.decoder_filters,
                      rebalance_lambda=self.rebalance_lambda, prior_sigma=self.prior_sigma,
                      temperature=self.temperature, grey_threshold=self.grey_threshold,
                      synchronized_bn=self.synchronized_bn)
        return config


@functools.lru_cache(maxsize=4)
def _bins_and_prior(source, split, image_size, ab_bins, prior_examples, data_dir):
    """(bins, prior) of a config: the in-gamut grid, or the bins the training data reaches."""
    from keras_ssl import data  # data sits below methods; imported here to keep imports light
    images, _, _ = data.load_arrays(source, split, image_size=image_size,
                                    max_examples=prior_examples, data_dir=data_dir)
    if ab_bins == "data":
        bins, prior = augment.ab_bins_from_data(images, grid=10)
    else:
        bins = augment.in_gamut_ab_bins(10)
        prior = augment.ab_prior(images, bins)
    return np.asarray(bins, np.float32), np.asarray(prior, np.float64)


def config_bins(config):
    d, m = config.data, config.model
    return _bins_and_prior(d.source, d.train_split, d.image_size, m.ab_bins, m.prior_examples,
                           d.tfds_data_dir)


def colorization_views(config):
    bins, _ = config_bins(config)
    return augment.ColorizationTransform(bins, output_stride=config.model.output_stride,
                                         mode=config.model.mode, **config.augment)


def _run_arguments(config, steps_per_epoch):
    del steps_per_epoch
    bins, prior = config_bins(config)
    return dict(bins=bins, prior=prior)


def _checks(config):
    m = config.model
    config_checks.check(m.mode in ("classification", "regression"), "model.mode", m.mode,
                        "'classification' or 'regression'")
    config_checks.check(m.ab_bins in ("data", "gamut"), "model.ab_bins", m.ab_bins,
                        "'data' (bins the training images reach) or 'gamut' (all in-gamut bins)")
    config_checks.positive_int("model.prior_examples", m.prior_examples)
    config_checks.positive_int("model.output_stride", m.output_stride)
    config_checks.positive("model.temperature", m.temperature)
    config_checks.probability("model.rebalance_lambda", m.rebalance_lambda)
    if m.grey_threshold is not None:
        config_checks.positive("model.grey_threshold", m.grey_threshold)
    config_checks.same_synchronized_bn(config)


def _preview(transform, images, outputs):
    """The L input, the target decoded on the image's L (the nearest bin per output pixel for
    classification targets: what a perfect model would output at T -> 0), and the truth."""
    x, targets = outputs
    if targets.shape[-1] != 2:
        targets = tf.gather(tf.constant(transform.bins), tf.argmax(targets, axis=-1))
    return [("L input", _grey(x)), ("target colours", _on_lightness(x, targets)),
            ("truth", x.numpy())]


def _grey(x):
    return augment.lightness(x).numpy().repeat(3, -1)


def _on_lightness(x, ab):
    ab = tf.image.resize(tf.cast(ab, tf.float32), tf.shape(x)[1:3], method="bilinear")
    lab = tf.concat([augment.rgb_to_lab(x)[..., :1], ab], axis=-1)
    return augment.lab_to_rgb(lab).numpy()


def _eval_figures(model, config, images):
    """Grey input, the colourised prediction (annealed mean, T = 0.38) and the truth."""
    del config
    x = tf.constant(images, tf.float32)
    return [("L input", _grey(x)), (f"prediction (T={model.temperature:g})",
                                     model.decode(x).numpy()), ("truth", images)]


registry.register(
    "colorization", Colorization,
    # Zhang et al. 2016, section 2.1 and 3: Q from the grid-10 ab gamut, 5-NN soft encoding with
    # sigma 5 (the paper's; the code's NNEncLayer: 10-NN), rebalancing lambda 0.5 with a sigma-5
    # smoothed prior, annealed mean T = 0.38, predictions at 1/4 resolution (strided targets and
    # the grey mask of threshold 5: the authors' train prototxt and caffe_traininglayers.py).
    # Bins and prior from (a sample of) the training images.
    model=dict(mode="classification", ab_bins="data", prior_examples=5000, output_stride=4,
               decoder_filters=(64,), rebalance_lambda=0.5, prior_sigma=5.0, temperature=0.38,
               grey_threshold=5.0, synchronized_bn=False),
    augment=dict(neighbours=5, sigma=5.0, flip_probability=0.5),
    views=colorization_views, checks=_checks, run_arguments=_run_arguments,
    whole_image_encoder=lambda config, encoder: lightness_encoder(encoder), preview=_preview,
    eval_figures=_eval_figures)
