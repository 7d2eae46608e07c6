"""The late-fusion tile classifier of Context Prediction and Jigsaw: every tile's features through
one shared layer, then a classifier over the concatenation (Doersch et al. 2015, section 3: fc6
per patch, fused; Noroozi & Favaro 2016, section 3.1: fc6 per tile, concatenated into fc7, fc8)."""

import keras
import tensorflow as tf

from keras_ssl.heads.mlp import MLPHead


class TileClassifier(keras.layers.Layer):
    """Late fusion over T tiles: a shared per-tile layer (Dense + BN + ReLU, the papers' fc6), the
    T outputs concatenated in the tiles' order, then an MLP to `num_classes` logits (fc7, fc8).

    features [B, T, D] -> logits [B, num_classes].
    """

    def __init__(self, num_tiles, num_classes, tile_dim=512, hidden_dims=(4096,),
                 synchronized_bn=False, **kwargs):
        super().__init__(**kwargs)
        self.num_tiles, self.num_classes = int(num_tiles), int(num_classes)
        self.tile_dim, self.hidden_dims = int(tile_dim), tuple(int(d) for d in hidden_dims)
        self.synchronized_bn = synchronized_bn
        self.tile_dense = keras.layers.Dense(self.tile_dim, use_bias=False, name="tile_dense")
        self.tile_bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                                       synchronized=synchronized_bn, name="tile_bn")
        self.head = MLPHead(self.hidden_dims, self.num_classes, batch_norm=True,
                            synchronized_bn=synchronized_bn, name="fusion")

    def build(self, input_shape):
        d = input_shape[-1]
        self.tile_dense.build((None, d))
        self.tile_bn.build((None, self.tile_dim))
        self.head.build((None, self.num_tiles * self.tile_dim))

    def call(self, features, training=None):
        x = tf.reshape(features, [-1, features.shape[-1]])
        x = tf.nn.relu(self.tile_bn(self.tile_dense(x), training=training))
        return self.head(tf.reshape(x, [-1, self.num_tiles * self.tile_dim]), training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(num_tiles=self.num_tiles, num_classes=self.num_classes,
                      tile_dim=self.tile_dim, hidden_dims=self.hidden_dims,
                      synchronized_bn=self.synchronized_bn)
        return config
