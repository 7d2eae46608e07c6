"""AMDIM's heads (Bachman et al. 2019, arXiv 1906.00910): the embeddings phi_5, phi_7 of the local
features into the shared n_rkhs space (section 3.3; f1 needs none, the code's NopNet) and the
mixture heads m_k on f1 (section 3.7)."""

import keras

from keras_ssl import layers


def _identity_like(shape, dtype=None):
    """The code's shortcut init: uniform(-0.01, 0.01) with ones on the diagonal (n_out >= n_in)."""
    n_in, n_out = shape
    noise = keras.random.uniform(shape, -0.01, 0.01, dtype=dtype)
    eye = keras.ops.eye(n_in, n_out, dtype=dtype)
    return keras.ops.where(eye > 0, keras.ops.ones_like(noise), noise)


@keras.saving.register_keras_serializable(package="keras_ssl")
class ResidualEmbedding(keras.layers.Layer):
    """phi: x -> BN(W2 relu([BN](W1 x)) + S x) on the last axis, a 1x1-conv residual block on a
    feature map: the code's FakeRKHSConvNet (model.py), AMDIM's phi_5 and phi_7.

    W2 starts at zero and S near the identity, as in the code, so phi starts close to a linear map.

    Args:
        output_dim: n_rkhs.
        hidden_bn: batch norm on the hidden layer (the code's use_bn); the output always has it.
        synchronized_bn: batch statistics over all replicas.

    Example:
    ```python
    phi7 = keras_ssl.heads.ResidualEmbedding(1024)
    r7 = phi7(f7)  # [B, 7, 7, 1024]
    ```
    """

    def __init__(self, output_dim, hidden_bn=False, synchronized_bn=False, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = int(output_dim)
        self.hidden_bn = hidden_bn
        self.synchronized_bn = synchronized_bn
        self.hidden = keras.layers.Dense(self.output_dim, use_bias=False,
                                         kernel_initializer="he_uniform", name="hidden")
        self.bn_hidden = layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, synchronized=synchronized_bn, name="bn_hidden") \
            if hidden_bn else None
        self.residual = keras.layers.Dense(self.output_dim, use_bias=False,
                                           kernel_initializer="zeros", name="residual")
        self.shortcut = keras.layers.Dense(self.output_dim, name="shortcut")
        self.bn_out = layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, synchronized=synchronized_bn, name="bn_out")

    def build(self, input_shape):
        n_in = input_shape[-1]
        hidden_shape = (*input_shape[:-1], self.output_dim)
        self.hidden.build(input_shape)
        if self.bn_hidden is not None:
            self.bn_hidden.build(hidden_shape)
        self.residual.build(hidden_shape)
        if self.output_dim >= n_in:
            self.shortcut.kernel_initializer = _identity_like
        self.shortcut.build(input_shape)
        self.bn_out.build(hidden_shape)

    def call(self, x, training=None):
        h = self.hidden(x)
        if self.bn_hidden is not None:
            h = self.bn_hidden(h, training=training)
        h = self.residual(keras.ops.relu(h))
        return self.bn_out(h + self.shortcut(x), training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim,
                "hidden_bn": self.hidden_bn, "synchronized_bn": self.synchronized_bn}


@keras.saving.register_keras_serializable(package="keras_ssl")
class MixtureHeads(keras.layers.Layer):
    """The k mixture heads m_k of section 3.7: f1^j = f1 + W2_j relu(W1_j f1 + b1_j) + b2_j, a
    fully-connected network with one ReLU hidden layer and a residual connection per component.

    Input [B, d]; output [B, k, d]. W2 starts at zero, so the components start equal to f1 and
    separate as training breaks the symmetry through W1's random init.

    Example:
    ```python
    mixtures = keras_ssl.heads.MixtureHeads(4, hidden_dim=1024)(f1)  # [B, 4, d]
    ```
    """

    def __init__(self, num_components, hidden_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.num_components = int(num_components)
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        d = int(input_shape[-1])
        k, hidden = self.num_components, int(self.hidden_dim or d)
        self.w1 = self.add_weight(name="w1", shape=(k, d, hidden), initializer="he_uniform")
        self.b1 = self.add_weight(name="b1", shape=(k, hidden), initializer="zeros")
        self.w2 = self.add_weight(name="w2", shape=(k, hidden, d), initializer="zeros")
        self.b2 = self.add_weight(name="b2", shape=(k, d), initializer="zeros")

    def call(self, x):
        h = keras.ops.relu(keras.ops.einsum("bd,kdh->bkh", x, self.w1) + self.b1)
        return x[:, None, :] + keras.ops.einsum("bkh,khd->bkd", h, self.w2) + self.b2

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_components, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components,
                "hidden_dim": self.hidden_dim}
