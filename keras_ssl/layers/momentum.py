"""Momentum networks: a copy of the online networks that follows them by an exponential moving
average — MoCo's key encoder (He et al. 2020, eq. 2) and BYOL's target network (Grill et al. 2020,
section 3.1) — and BYOL's cosine schedule of the average's rate.
"""

import math

import keras
import tensorflow as tf


def cosine_momentum(step, total_steps, base_momentum=0.996):
    """BYOL's target decay rate at step k (Grill et al. 2020, section 3.2):

        tau_k = 1 - (1 - tau_base) * (cos(pi k / K) + 1) / 2,

    from `base_momentum` at k = 0 to 1 at k = K (`total_steps`); steps past K keep 1.

    Example:
    ```python
    keras_ssl.layers.cosine_momentum(0, 1000)     # 0.996
    keras_ssl.layers.cosine_momentum(1000, 1000)  # 1.0
    ```
    """
    progress = tf.minimum(tf.cast(step, tf.float32) / float(total_steps), 1.0)
    return 1.0 - (1.0 - base_momentum) * (tf.cos(math.pi * progress) + 1.0) / 2.0


def _copy(layer):
    """A new layer of the same architecture (from its config), with its own variables."""
    config = layer.get_config()
    config["name"] = f"momentum_{layer.name}"
    return type(layer).from_config(config)


def _batch_norm_layers(layer):
    # Keras has no public recursive walk over nested layers; `_flatten_layers` is what it uses.
    return [sub for sub in layer._flatten_layers(include_self=True, recursive=True)
            if isinstance(sub, keras.layers.BatchNormalization)]


@keras.saving.register_keras_serializable(package="keras_ssl")
class MomentumNetwork(keras.layers.Layer):
    """A copy of online networks (applied in sequence) that follows them by a moving average.

    After every optimizer step, `update(online, m)` sets, for every weight of the copy,

        theta_target <- m * theta_target + (1 - m) * theta_online,

    trainable weights and batch-norm moving statistics alike (the reference MoCo code averages the
    parameters only and leaves the key encoder's BN buffers to its own batches). In training the
    copy's batch norm normalises with batch statistics, as the online network does, but its moving
    statistics are not updated from its own batches (its BN momentum is 1): they follow the online
    ones through the average only.

    The copy never receives gradients: its variables are non-trainable (so `model.fit` and the
    optimizer leave them alone) and its outputs are wrapped in `stop_gradient`.

    `synchronize(online)` copies the online weights once, at the first step (`step == 0`), so the
    copy starts equal to the online networks however the model was built (MoCo, Algorithm 1:
    `f_k.params = f_q.params`). Both run inside the compiled train step, in replica context: every
    replica computes the same new values from its own copies of the (mirrored) online weights and
    writes its own copy, so the update needs no communication and works under every strategy.

    Args:
        networks: the online layers, applied in sequence (e.g. `[encoder, projector]`); they are
            copied by config, so each needs `get_config`/`from_config`.

    Example:
    ```python
    target = keras_ssl.layers.MomentumNetwork([encoder, projector])
    # in the train step:
    target.synchronize([encoder, projector])
    z = target(images, training=True)  # no gradient flows back
    ...  # optimizer.apply_gradients(...)
    target.update([encoder, projector], momentum=0.99)
    ```
    """

    def __init__(self, networks, **kwargs):
        super().__init__(**kwargs)
        networks = [keras.saving.deserialize_keras_object(n) if isinstance(n, dict) else n
                    for n in networks]
        if not networks:
            raise ValueError("MomentumNetwork needs at least one network to copy.")
        self.networks = [_copy(n) for n in networks]
        for bn in (bn for n in self.networks for bn in _batch_norm_layers(n)):
            bn.momentum = 1.0
        # k, the number of updates so far: BYOL's schedule and MoCo's shuffle read it, and it is
        # checkpointed with the weights, so a resumed run continues where it stopped.
        self.step = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False,
                                    name="step")
        self._freeze()

    def build(self, input_shape):
        shape = input_shape
        for network in self.networks:
            network.build(shape)
            shape = network.compute_output_shape(shape)
        self._freeze()

    def _freeze(self):
        # Per variable, not `layer.trainable = False`: a non-trainable Keras BatchNormalization
        # would normalise with its moving statistics even in training.
        for variable in self.weights:
            variable.trainable = False

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for network in self.networks:
            shape = network.compute_output_shape(shape)
        return shape

    def call(self, inputs, training=None):
        x = inputs
        for network in self.networks:
            x = network(x, training=training)
        return tf.stop_gradient(x)

    def _pairs(self, online_networks):
        if len(online_networks) != len(self.networks):
            raise ValueError(f"expected {len(self.networks)} online networks (as copied), got "
                             f"{len(online_networks)}.")
        pairs = []
        for target, online in zip(self.networks, online_networks):
            if len(target.weights) != len(online.weights):
                raise ValueError(
                    f"{online.name} has {len(online.weights)} weights but its momentum copy has "
                    f"{len(target.weights)}: build both on the same input shape first.")
            for t, o in zip(target.weights, online.weights):
                if tuple(t.shape) != tuple(o.shape):
                    raise ValueError(f"weight {o.path} has shape {tuple(o.shape)} but its momentum "
                                     f"copy {t.path} has {tuple(t.shape)}.")
                pairs.append((t, o))
        return pairs

    def synchronize(self, online_networks):
        """Copy the online weights if no update has happened yet (`step == 0`)."""
        pairs = self._pairs(online_networks)

        def copy():
            for t, o in pairs:
                t.assign(o)
            return tf.constant(True)

        tf.cond(tf.equal(self.step, 0), copy, lambda: tf.constant(False))

    def update(self, online_networks, momentum):
        """theta_target <- m theta_target + (1 - m) theta_online for every weight; step += 1."""
        for t, o in self._pairs(online_networks):
            m = tf.cast(momentum, t.dtype)
            t.assign(m * t + (1.0 - m) * o)
        self.step.assign_add(1)

    def get_config(self):
        config = super().get_config()
        config["networks"] = [keras.saving.serialize_keras_object(n) for n in self.networks]
        return config
