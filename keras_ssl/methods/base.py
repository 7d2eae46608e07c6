"""What every pretraining method shares: the optimisation step and its cross-replica scaling.

A method implements `compute_objective(data, training)` -> (loss, {metric: value}); the base class
turns it into `train_step` / `test_step` for `model.fit` and `strategy.run`. The first element of a
batch is a batch of images (a view), from which the model is built on its first step.
"""

import keras
import tensorflow as tf

from keras_ssl.distribute import num_replicas


class PretrainingMethod(keras.Model):
    """Base class: an encoder trained by a self-supervised objective.

    `model(images)` returns the encoder's representation, so a trained method can be used (and
    evaluated, exported) as its encoder.

    `device_augmentation`: None, or the augmentation a pipeline built with ``augment_on="device"``
    leaves to the train step (`keras_ssl.data.DeviceAugmentation`): the train and test steps apply
    it to each replica's batch first. Not saved with the model, and `model(images)` never uses it.
    """

    metric_names = ("loss",)

    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names}

    @property
    def device_augmentation(self):
        return getattr(self, "_device_augmentation", None)

    @device_augmentation.setter
    def device_augmentation(self, stage):
        self._device_augmentation = stage
        # fit() keeps its traced steps, which would go on with the previous stage.
        self.train_function = self.test_function = None

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, images, training=False):
        return self.encoder(images, training=training)

    def compute_objective(self, data, training):
        raise NotImplementedError

    def build(self, input_shape):
        """Create every weight for image batches of `input_shape` ([B, H, W, 3])."""
        self.encoder.build(input_shape)
        self.build_heads(self.encoder.compute_output_shape(input_shape))

    def build_heads(self, feature_shape):
        """Build the method's heads on encoder features of `feature_shape`."""

    def _prepared(self, data):
        """The step's batch: augmented if the pipeline left that to the device, and the model
        built on it."""
        if self.device_augmentation is not None:
            data = self.device_augmentation(data)
        elif isinstance(data, dict) and "seed" in data:
            raise ValueError("The batch is from a pipeline built with augment_on='device' but the "
                             "model has no device_augmentation: set model.device_augmentation = "
                             "keras_ssl.data.DeviceAugmentation(transform).")
        # fit() does not build a subclassed model; build it here, before any head is called, so
        # that every weight is created by build() and model(images) / save() work after fit.
        if not self.built:
            self.build(tf.nest.flatten(data)[0].shape)
        return data

    def train_step(self, data):
        data = self._prepared(data)
        with tf.GradientTape() as tape:
            loss, values = self.compute_objective(data, training=True)
            # Each replica's loss is its share of the global mean and the optimizer sums the replicas'
            # gradients, so scale by the replica count to get the one-device gradient. Under
            # mixed_float16 the LossScaleOptimizer also scales it up (and the gradients back down).
            scaled_loss = self.optimizer.scale_loss(loss / num_replicas())
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        self.after_step()
        return self._update_metrics(loss, values)

    def after_step(self):
        """Runs in the compiled train step after the optimizer update (momentum encoders' EMA)."""

    def test_step(self, data):
        data = self._prepared(data)
        loss, values = self.compute_objective(data, training=False)
        return self._update_metrics(loss, values)

    def _update_metrics(self, loss, values):
        self.trackers["loss"].update_state(loss)
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def get_config(self):
        config = super().get_config()
        config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
