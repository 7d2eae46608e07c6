"""An online linear probe: a classifier trained on stop-gradient features during pretraining.

SimCLR's code and BYOL (Grill et al. 2020, App. C) train a linear head on the
encoder's features alongside the self-supervised objective, with the gradient
stopped at the features, to watch representation quality while pretraining
runs. :class:`OnlineLinearProbe` does this as a Keras callback, so any method
trained with ``model.fit`` gets it without changing its train step.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.evaluation import _validation


class OnlineLinearProbe(keras.callbacks.Callback):
    """Trains a linear head on the frozen features of labelled *train* batches while `fit` runs.

    Every ``every_n_batches`` pretraining batches, the callback takes the next
    batch of ``(images, labels)`` -- a shuffled stream over the arrays given,
    which must come from the train split (never the test split: this is a
    training-time signal, not a result) -- computes the encoder's features in
    inference mode under ``tf.stop_gradient``, and takes one Adam step on a
    linear softmax head. The head's accuracy on each batch is measured *before*
    it trains on it, so it is an estimate on unseen examples. At each epoch's end
    ``online_probe_top1`` and ``online_probe_loss`` (means over the epoch) are
    added to the logs, where ``CSVLogger`` / ``TensorBoard`` / the ``History``
    pick them up when they come after this callback in the list.

    The encoder's weights and batch-norm statistics are not touched.

    Example:

    >>> probe = OnlineLinearProbe(train_images, train_labels, num_classes=10)   # doctest: +SKIP
    >>> model.fit(dataset, epochs=100,
    ...           callbacks=[probe, keras.callbacks.CSVLogger("history.csv")]) # doctest: +SKIP

    Args:
        images: uint8 [N, H, W, 3] train images (unaugmented; scaled to [0, 1] here).
        labels: int [N] their class ids.
        num_classes: number of classes C.
        batch_size: labelled examples per head step.
        every_n_batches: one head step per this many pretraining batches.
        learning_rate: Adam learning rate of the head.
        encoder: the encoder to probe; default ``model.encoder`` of the model being fit.
        seed: seed of the stream's shuffling.
    """

    def __init__(self, images, labels, num_classes, batch_size=256, every_n_batches=1,
                 learning_rate=1e-3, encoder=None, seed=0):
        super().__init__()
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"`images` must be uint8 [N, H, W, 3] train images, got "
                             f"{images.dtype} {images.shape}.")
        self.num_classes = _validation.check_positive_int("num_classes", num_classes)
        labels = _validation.check_labels("labels", labels, len(images), self.num_classes)
        self.batch_size = _validation.check_positive_int("batch_size", batch_size)
        self.every_n_batches = _validation.check_positive_int("every_n_batches", every_n_batches)
        self.learning_rate = learning_rate
        self._encoder = encoder
        self._stream = iter(
            tf.data.Dataset.from_tensor_slices((images, labels)).repeat()
            .shuffle(min(len(images), 10_000), seed=seed).batch(self.batch_size)
            .prefetch(tf.data.AUTOTUNE))

    def on_train_begin(self, logs=None):
        encoder = self._encoder if self._encoder is not None else self.model.encoder
        self.head = keras.layers.Dense(self.num_classes, dtype="float32", name="online_probe")
        self.head.build((None, encoder.output_shape[-1]))
        self.optimizer = keras.optimizers.Adam(self.learning_rate)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function(autograph=False)
        def step(images, labels):
            features = tf.stop_gradient(
                tf.cast(encoder(tf.cast(images, tf.float32) / 255.0, training=False), tf.float32))
            with tf.GradientTape() as tape:
                logits = self.head(features)
                loss = loss_fn(labels, logits)
            variables = self.head.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            correct = tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), labels),
                              tf.float32)
            return loss, tf.reduce_mean(correct)

        self._step = step
        self._reset()

    def _reset(self):
        self._losses, self._accuracies = [], []

    def on_train_batch_end(self, batch, logs=None):
        if batch % self.every_n_batches == 0:
            loss, accuracy = self._step(*next(self._stream))
            self._losses.append(float(loss))
            self._accuracies.append(float(accuracy))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._losses:
            logs["online_probe_top1"] = float(np.mean(self._accuracies))
            logs["online_probe_loss"] = float(np.mean(self._losses))
        self._reset()
