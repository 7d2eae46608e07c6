"""ResNet encoders (He et al. 2016, "Deep Residual Learning for Image Recognition").

Two stems: the ImageNet stem (7x7 stride-2 convolution + 3x3 max-pool) and the CIFAR stem that SimCLR
uses for 32x32 images (Chen et al. 2020, appendix B.9: a 3x3 stride-1 convolution and no max-pool).
A width multiplier scales every convolution (SimCLR's ResNet-50 (2x)/(4x); 0.25x makes CPU demos fast).
"""

import keras
import ml_collections

from keras_ssl import config_checks, layers
from keras_ssl.encoders import registry
from keras_ssl.encoders.dtype_policy import policy_scope

_BLOCKS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}
_STAGE_WIDTHS = (64, 128, 256, 512)


def _conv(filters, kernel_size, strides, name):
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        kernel_initializer="he_normal", name=name)


def _bn(synchronized, name, gamma_initializer="ones"):
    # Momentum 0.9 and epsilon 1e-5 as in SimCLR's ResNet (BATCH_NORM_DECAY, BATCH_NORM_EPSILON).
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, synchronized=synchronized, gamma_initializer=gamma_initializer,
        name=name)


def _basic_block(x, filters, strides, synchronized, name):
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, strides, f"{name}_proj_conv")(x)
        shortcut = _bn(synchronized, f"{name}_proj_bn")(shortcut)
    y = _conv(filters, 3, strides, f"{name}_conv1")(x)
    y = _bn(synchronized, f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(filters, 3, 1, f"{name}_conv2")(y)
    # Zero-initialised last gamma: each block starts as the identity (Goyal et al. 2017), as in SimCLR.
    y = _bn(synchronized, f"{name}_bn2", gamma_initializer="zeros")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _bottleneck_block(x, filters, strides, synchronized, name):
    out_filters = 4 * filters
    shortcut = x
    if strides != 1 or x.shape[-1] != out_filters:
        shortcut = _conv(out_filters, 1, strides, f"{name}_proj_conv")(x)
        shortcut = _bn(synchronized, f"{name}_proj_bn")(shortcut)
    y = _conv(filters, 1, 1, f"{name}_conv1")(x)
    y = _bn(synchronized, f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(filters, 3, strides, f"{name}_conv2")(y)
    y = _bn(synchronized, f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = _conv(out_filters, 1, 1, f"{name}_conv3")(y)
    y = _bn(synchronized, f"{name}_bn3", gamma_initializer="zeros")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


@keras.saving.register_keras_serializable(package="keras_ssl")
class ResNet(keras.Model):
    """ResNet encoder mapping float images in [0, 1] to pooled features.

    Args:
        depth: 18, 34 or 50.
        stem: "cifar" (3x3 stride-1 conv, no max-pool; for 32x32 images) or "imagenet".
        stem_stride: stride of the stem convolution (default: 1 for "cifar", 2 for "imagenet");
            2 with the CIFAR stem quarters the cost of every stage, for fast CPU runs.
        width_multiplier: scales the channels of every convolution (stage widths 64..512 x it).
        synchronized_bn: batch statistics over all replicas ("global BN", SimCLR section 2.3).
        input_shape: image shape; `(None, None, 3)` accepts any size.

    The pooled output has `output_dim` features. The last block of stage `i` (1..4) is the layer
    named `stage{i}`; `feature_maps()` returns a model exposing them (for AMDIM and patch tasks).

    Example:
    ```python
    encoder = keras_ssl.encoders.ResNet(depth=18, stem="cifar", width_multiplier=0.25)
    features = encoder(np.random.rand(8, 32, 32, 3).astype("float32"))  # [8, 128]
    ```
    """

    def __init__(self, depth=18, stem="cifar", width_multiplier=1.0, synchronized_bn=False,
                 input_shape=(None, None, 3), stem_stride=None, dtype=None, **kwargs):
        if depth not in _BLOCKS:
            raise ValueError(f"ResNet depth must be one of {sorted(_BLOCKS)}, got {depth!r}.")
        if stem not in ("cifar", "imagenet"):
            raise ValueError(f"ResNet stem must be 'cifar' or 'imagenet', got {stem!r}.")
        if not width_multiplier > 0:
            raise ValueError(f"width_multiplier must be positive, got {width_multiplier!r}.")
        if stem_stride is None:
            stem_stride = 1 if stem == "cifar" else 2
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride!r}.")
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] != 3:
            raise ValueError(f"input_shape must be (height, width, 3), got {input_shape!r}.")
        block_type, repeats = _BLOCKS[depth]
        block_fn = _basic_block if block_type == "basic" else _bottleneck_block
        widths = [max(1, int(round(w * width_multiplier))) for w in _STAGE_WIDTHS]

        with policy_scope(dtype):
            inputs = keras.Input(shape=input_shape, name="images")
            if stem == "cifar":
                x = _conv(widths[0], 3, stem_stride, "stem_conv")(inputs)
            else:
                x = _conv(widths[0], 7, stem_stride, "stem_conv")(inputs)
            x = _bn(synchronized_bn, "stem_bn")(x)
            x = keras.layers.ReLU(name="stem_relu")(x)
            if stem == "imagenet":
                x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
            for stage, (filters, count) in enumerate(zip(widths, repeats), start=1):
                for block in range(count):
                    strides = 2 if (stage > 1 and block == 0) else 1
                    name = f"stage{stage}_block{block + 1}"
                    x = block_fn(x, filters, strides, synchronized_bn, name)
                x = keras.layers.Identity(name=f"stage{stage}")(x)
            outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        self.depth = depth
        self.stem = stem
        self.stem_stride = stem_stride
        self.width_multiplier = width_multiplier
        self.synchronized_bn = synchronized_bn
        self.image_input_shape = input_shape
        self.output_dim = int(outputs.shape[-1])

    feature_layer_names = ("stage1", "stage2", "stage3", "stage4")

    def feature_maps(self, stages=(1, 2, 3, 4)):
        """A model sharing this encoder's weights that returns the feature maps of `stages`."""
        for s in stages:
            if s not in (1, 2, 3, 4):
                raise ValueError(f"stages must be in 1..4, got {stages!r}.")
        return keras.Model(self.input, [self.get_layer(f"stage{s}").output for s in stages])

    def get_config(self):
        # Layer's name, trainable and dtype (Functional's own config is for plain functionals).
        config = super().get_config()
        config.update(depth=self.depth, stem=self.stem, stem_stride=self.stem_stride,
                      width_multiplier=self.width_multiplier,
                      synchronized_bn=self.synchronized_bn, input_shape=self.image_input_shape)
        return config


def ResNet18(**kwargs):
    """ResNet-18; see `ResNet` for the arguments."""
    return ResNet(depth=18, **kwargs)


def ResNet34(**kwargs):
    """ResNet-34; see `ResNet` for the arguments."""
    return ResNet(depth=34, **kwargs)


def ResNet50(**kwargs):
    """ResNet-50 (bottleneck blocks); see `ResNet` for the arguments."""
    return ResNet(depth=50, **kwargs)


def _build(section, input_shape, synchronized_bn, **kwargs):
    return ResNet(depth=section.depth, stem=section.stem, stem_stride=section.stem_stride,
                  width_multiplier=section.width_multiplier, synchronized_bn=synchronized_bn,
                  input_shape=input_shape, **kwargs)


def _checks(config):
    e, check = config.encoder, config_checks.check
    check(e.depth in _BLOCKS, "encoder.depth", e.depth, "18, 34 or 50")
    check(e.stem in ("cifar", "imagenet"), "encoder.stem", e.stem, "'cifar' or 'imagenet'")
    check(e.stem_stride in (None, 1, 2), "encoder.stem_stride", e.stem_stride,
          "1, 2 or None (the stem's default)")
    config_checks.positive("encoder.width_multiplier", e.width_multiplier)


registry.register(
    "resnet",
    # stem_stride: None (the stem's default) typed int, so that --config.encoder.stem_stride=2
    # can override it.
    config=dict(depth=18, stem="cifar",
                stem_stride=ml_collections.FieldReference(None, field_type=int),
                width_multiplier=1.0),
    build=_build, checks=_checks)
