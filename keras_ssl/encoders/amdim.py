"""AMDIM's encoder (Bachman, Hjelm & Buchwalter 2019, "Learning Representations by Maximizing Mutual
Information Across Views", arXiv 1906.00910, section 3.6).

A ResNet variant that keeps the receptive fields of the local features from overlapping too much and
uses no padding, so that every location of the 7x7 and 5x5 feature maps sees its own patch of the
image and nothing of a border. A residual block's first layer is an unpadded w x w / stride s
convolution whose shortcut is a mean-pool of the same width and stride (zero-padded in channels when
the block widens); every further layer is a 1x1 convolution. So only the first layer of a block grows
the receptive field, and its size is known in closed form (`receptive_field`).

The layer list per input size follows the authors' code (Philip-Bachman/amdim-public, model.py
`Encoder`), which the paper only describes in words:

- 32x32 (CIFAR): conv 3x3 (30) | res 1x1 | block w4/s2 (14) | block w2/s2 (7: f7) | block w3/s1
  (5: f5) | block w3/s1 (3) | res w3 -> n_rkhs (1: f1) | batch norm.
- 64x64 (STL-10): conv 3x3 (62) | block w4/s2 (30) | block w4/s2 (14) | block w2/s2 (7: f7) | ...
- 128x128 (ImageNet): conv 5x5/s2 with reflection padding 2 (64) | conv 3x3 (62) | then as 64x64.

Widths ndf, 2 ndf, 4 ndf (32x32) or up to 8 ndf (64, 128); each block has `n_depth` layers. As in
the code, the last residual-branch convolution of every layer but the final one starts at zero
(fixup-style; the final one, which widens to n_rkhs, starts small instead, see below), batch
norm inside the blocks is off unless `use_bn` (the code's `--use_bn`, default off) and the output f1
always has batch norm. The only departure: images arrive in [0, 1] and are mapped to [-2, 2] by a
fixed rescaling (the code normalises by dataset mean/std; batch norm is off in the trunk, so the
input scale matters).
"""

import keras

from keras_ssl import config_checks, layers
from keras_ssl.encoders import registry
from keras_ssl.encoders.dtype_policy import policy_scope

# (first layer kernel/stride, then per block (width, stride, channel multiplier)) per input size.
_SIZES = {
    32: dict(stem=((3, 1),), extra_res=True,
             blocks=((4, 2, 2), (2, 2, 4), (3, 1, 4), (3, 1, 4)), final_mult=4),
    64: dict(stem=((3, 1),), extra_res=False,
             blocks=((4, 2, 2), (4, 2, 4), (2, 2, 8), (3, 1, 8), (3, 1, 8)), final_mult=8),
    128: dict(stem=((5, 2), (3, 1)), extra_res=False,
              blocks=((4, 2, 2), (4, 2, 4), (2, 2, 8), (3, 1, 8), (3, 1, 8)), final_mult=8),
}


@keras.saving.register_keras_serializable(package="keras_ssl")
class ChannelPad(keras.layers.Layer):
    """Zero-pads the channel axis to `channels` (the widening shortcut of AMDIM's residual layer)."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def call(self, x):
        extra = self.channels - x.shape[-1]
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="keras_ssl")
class ReflectPad2D(keras.layers.Layer):
    """Reflection padding of `pad` pixels on each side (the 128x128 encoder's first convolution)."""

    def __init__(self, pad, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        return keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda n: None if n is None else n + 2 * self.pad  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


def _bn(name, synchronized=False):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=synchronized,
                                           name=name)


def _res_layer(x, n_out, width, stride, use_bn, name, sync=False, zero_init=True):
    """The code's ConvResNxN: conv(w, s) [-> BN] -> ReLU -> 1x1 conv (zero init), plus a mean-pool
    shortcut of the same width and stride, zero-padded to n_out channels. No ReLU after the sum."""
    n_in = x.shape[-1]
    if n_out < n_in:
        raise ValueError(f"AMDIM residual layers only widen: {n_in} -> {n_out} channels.")
    h = keras.layers.Conv2D(n_out, width, strides=stride, padding="valid", use_bias=False,
                            kernel_initializer="he_uniform", name=f"{name}_conv1")(x)
    if use_bn:
        h = _bn(f"{name}_bn", sync)(h)
    h = keras.layers.ReLU(name=f"{name}_relu")(h)
    init = "zeros" if zero_init else keras.initializers.VarianceScaling(0.1, "fan_in", "uniform")
    h = keras.layers.Conv2D(n_out, 1, use_bias=False, kernel_initializer=init,
                            name=f"{name}_conv2")(h)
    shortcut = x
    if width > 1 or stride > 1:
        shortcut = keras.layers.AveragePooling2D(width, strides=stride, padding="valid",
                                                 name=f"{name}_pool")(shortcut)
    if n_out > n_in:
        shortcut = ChannelPad(n_out, name=f"{name}_pad")(shortcut)
    return keras.layers.Add(name=f"{name}_add")([h, shortcut])


def _block(x, n_out, width, stride, depth, use_bn, name, sync=False):
    x = _res_layer(x, n_out, width, stride, use_bn, f"{name}_layer1", sync)
    for i in range(1, depth):
        x = _res_layer(x, n_out, 1, 1, use_bn, f"{name}_layer{i + 1}", sync)
    return x


def _layer_geometry(size):
    """[(kernel, stride, pad, output name or None)] of the layers that change geometry."""
    spec = _SIZES[size]
    layers = []
    for i, (k, s) in enumerate(spec["stem"]):
        layers.append((k, s, 2 if (size == 128 and i == 0) else 0, None))
    for width, stride, _ in spec["blocks"]:
        layers.append((width, stride, 0, None))
    layers.append((3, 1, 0, None))
    return layers


@keras.saving.register_keras_serializable(package="keras_ssl")
class AMDIMEncoder(keras.Model):
    """AMDIM's multiscale encoder; `encoder(images)` is the global feature f1, [B, n_rkhs].

    Args:
        ndf: base width (CIFAR-10 small 128, large 320; STL-10 192; ImageNet 320).
        n_rkhs: width of f1 and of the shared embedding space (1024, 2048, 1536, 2560).
        n_depth: layers per residual block (10, 10, 8, 10).
        use_bn: batch norm inside the residual layers (the authors' `--use_bn`, off by default).
        input_shape: (32, 32, 3), (64, 64, 3) or (128, 128, 3): the code builds one layer list per
            input size.
        synchronized_bn: batch statistics of every batch norm over all replicas.

    `feature_maps()` returns a model giving (f1 [B, 1, 1, n_rkhs], f5 [B, 5, 5, C5], f7 [B, 7, 7, C7]).
    `receptive_field(scale, i, j)` is the input window that location (i, j) of f1/f5/f7 sees.

    Example:
    ```python
    encoder = keras_ssl.encoders.AMDIMEncoder(ndf=128, n_rkhs=1024, n_depth=10)
    f1 = encoder(images)                      # [B, 1024], the feature the probes read
    f1, f5, f7 = encoder.feature_maps()(images)
    ```
    """

    def __init__(self, ndf=128, n_rkhs=1024, n_depth=10, use_bn=False, input_shape=(32, 32, 3),
                 synchronized_bn=False, dtype=None, **kwargs):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] != 3 or input_shape[0] != input_shape[1] \
                or input_shape[0] not in _SIZES:
            raise ValueError(f"AMDIMEncoder input_shape must be (s, s, 3) with s in "
                             f"{sorted(_SIZES)}, got {input_shape!r}.")
        for key, value in (("ndf", ndf), ("n_rkhs", n_rkhs), ("n_depth", n_depth)):
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"AMDIMEncoder {key} must be a positive integer, got {value!r}.")
        size = input_shape[0]
        spec = _SIZES[size]
        if n_rkhs < ndf * spec["final_mult"]:
            raise ValueError(f"AMDIMEncoder n_rkhs ({n_rkhs}) must be >= {spec['final_mult']} x ndf "
                             f"({ndf * spec['final_mult']}): the last residual layer only widens.")

        with policy_scope(dtype):
            inputs = keras.Input(shape=input_shape, name="images")
            x = keras.layers.Rescaling(4.0, offset=-2.0, name="rescale")(inputs)
            for i, (k, s) in enumerate(spec["stem"]):
                if size == 128 and i == 0:
                    x = ReflectPad2D(2, name="stem_pad")(x)
                x = keras.layers.Conv2D(ndf, k, strides=s, padding="valid",
                                        name=f"stem_conv{i + 1}")(x)
                x = keras.layers.ReLU(name=f"stem_relu{i + 1}")(x)
            if spec["extra_res"]:
                x = _res_layer(x, ndf, 1, 1, use_bn, "stem_res", synchronized_bn)
            maps = {}
            for b, (width, stride, mult) in enumerate(spec["blocks"], start=1):
                x = _block(x, ndf * mult, width, stride, n_depth, use_bn, f"block{b}",
                           synchronized_bn)
                if stride == 2 and b == len(spec["blocks"]) - 2:
                    # The code's MaybeBatchNorm2d after the last downsampling block (use_bn only).
                    if use_bn:
                        x = _bn("block_bn", synchronized_bn)(x)
                side = x.shape[1]
                if side in (5, 7) and side not in maps:
                    x = keras.layers.Identity(name=f"f{side}")(x)
                    maps[side] = x
            # Not zero-initialised (the code zero-inits it too): with a zero branch, the
            # n_rkhs - 4 ndf zero-padded channels of f1 are constant at init and f1's batch norm
            # multiplies their gradients by 1 / sqrt(epsilon) ~ 316, which makes SGD diverge in a
            # few steps.
            x = _res_layer(x, n_rkhs, 3, 1, use_bn, "final", synchronized_bn, zero_init=False)
            f1 = keras.layers.Identity(name="f1")(_bn("f1_bn", synchronized_bn)(x))
            outputs = keras.layers.Flatten(name="pool")(f1)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        self.ndf = ndf
        self.n_rkhs = n_rkhs
        self.n_depth = n_depth
        self.use_bn = use_bn
        self.synchronized_bn = synchronized_bn
        self.image_input_shape = input_shape
        self.output_dim = n_rkhs

    feature_layer_names = ("f7", "f5", "f1")

    def feature_maps(self):
        """A model sharing this encoder's weights returning (f1, f5, f7) feature maps."""
        return keras.Model(self.input, [self.get_layer(n).output for n in ("f1", "f5", "f7")],
                           name=f"{self.name}_feature_maps")

    def receptive_field(self, scale, i=0, j=0):
        """(row_start, row_stop, col_start, col_stop) of the input that f_scale[i, j] sees
        (stop exclusive; may extend past the image only through the 128 encoder's reflection)."""
        if scale not in (1, 5, 7):
            raise ValueError(f"scale must be 1, 5 or 7, got {scale!r}.")
        size, rf, jump, start = self.image_input_shape[0], 1, 1, 0
        side = size
        for kernel, stride, pad, _ in _layer_geometry(size):
            side = (side + 2 * pad - kernel) // stride + 1
            start -= pad * jump
            rf += (kernel - 1) * jump
            jump *= stride
            if side == scale:
                break
        return (start + i * jump, start + i * jump + rf, start + j * jump, start + j * jump + rf)

    def get_config(self):
        # Layer's name, trainable and dtype (Functional's own config is for plain functionals).
        config = super().get_config()
        config.update(ndf=self.ndf, n_rkhs=self.n_rkhs, n_depth=self.n_depth, use_bn=self.use_bn,
                      synchronized_bn=self.synchronized_bn, input_shape=self.image_input_shape)
        return config


def _build(section, input_shape, synchronized_bn, **kwargs):
    return AMDIMEncoder(ndf=section.ndf, n_rkhs=section.n_rkhs, n_depth=section.n_depth,
                        use_bn=section.use_bn, synchronized_bn=synchronized_bn,
                        input_shape=input_shape, **kwargs)


def _checks(config):
    e, size, check = config.encoder, config.data.image_size, config_checks.check
    for key in ("ndf", "n_rkhs", "n_depth"):
        config_checks.positive_int(f"encoder.{key}", e[key])
    config_checks.boolean("encoder.use_bn", e.use_bn)
    check(size in _SIZES, "data.image_size", size,
          "32, 64 or 128 with encoder.kind='amdim' (its per-size layer lists)")
    widest = e.ndf * (4 if size == 32 else 8)
    check(e.n_rkhs >= widest, "encoder.n_rkhs", e.n_rkhs,
          f">= {widest} (the last layer only widens: 4 x ndf at 32x32, 8 x ndf above)")


# The paper's small CIFAR-10 model (table 1).
registry.register("amdim", config=dict(ndf=128, n_rkhs=1024, n_depth=10, use_bn=False),
                  build=_build, checks=_checks)
