"""Exemplar-CNN (Dosovitskiy et al. 2014, "Discriminative Unsupervised Feature Learning with
Convolutional Neural Networks"; TPAMI 2016)."""

import keras
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.distribute import replica_id
from keras_ssl.losses.sampled_softmax import sampled_softmax_cross_entropy, uniform_classes
from keras_ssl.methods import registry
from keras_ssl.methods.base import PretrainingMethod


@keras.saving.register_keras_serializable(package="keras_ssl")
class Exemplar(PretrainingMethod):
    """Classify each view into its seed image's surrogate class, one class per seed image.

    Trained on `(views [K B, S, S, 3], labels int32 [K B])` from
    `keras_ssl.augment.ExemplarTransform`, whose labels are the images' stable indices
    (`keras_ssl.data.pretraining_dataset` passes them), so every seed keeps its class across
    epochs. A linear classifier over `num_seeds` classes on the pooled features, softmax
    cross-entropy (the paper's fc + softmax over N surrogate classes).

    How N scales: the classifier holds `feature_dim x N` weights and, with the full softmax, each
    step costs `K B x feature_dim x N` multiply-adds (the paper trains one softmax over all N
    surrogate classes: 8,000 of STL-10 seeds, up to 32,000 in its study of N, where accuracy
    saturates and classes start to look alike). Every seed is seen K times per epoch, so the
    number of epochs per class falls as 1/N for a fixed budget. Scalable form,
    `sampled_classes=M` (ours, not the paper's): each step's logits are computed over the batch's
    own B classes plus M classes drawn uniformly, with replacement, from all N
    (`keras_ssl.losses.sampled_softmax`: the drawn classes' terms weighted by N / M, the
    log-expected-count correction, and draws that hit a batch class dropped). The cost per step
    is `K B x feature_dim x (K B + M)`, independent of N. The draws come from (`seed`, the
    optimizer's step, the replica), so every step and replica draws afresh and a resumed run
    draws the same. `exemplar_accuracy` is then the top-1 among these candidates, an upper bound
    on the full classifier's (evaluation uses the full softmax). Limits: the classifier's weights
    still grow with N (4 N D bytes in float32 plus the optimizer's slots: 512 MB for N = 1M,
    D = 128), the sampled loss is a biased estimate of the full one (exact when every class is
    drawn once), and a class's weights are updated only when it is in the batch or drawn. Beyond
    that the class dimension would have to be sharded over replicas (N / R columns each, logits
    gathered across replicas): not done here.

    Args:
        encoder: a Keras model mapping images to features.
        num_seeds: N, the number of surrogate classes (the training set's size: labels are row
            indices 0..N-1; the CLI sets it from the data).
        sampled_classes: None or 0 for the full softmax, or M > 0 for the sampled softmax above.
        seed: the sampled softmax's draws.

    Example:
    ```python
    model = keras_ssl.methods.Exemplar(keras_ssl.encoders.ResNet18(stem="cifar"), num_seeds=8000)
    model.compile(optimizer="adam")
    model.fit(pretraining_dataset(..., transform=keras_ssl.augment.ExemplarTransform(4)))
    ```
    """

    metric_names = ("loss", "exemplar_accuracy")

    def __init__(self, encoder, num_seeds=None, sampled_classes=0, seed=0, **kwargs):
        super().__init__(encoder, **kwargs)
        if num_seeds is None or int(num_seeds) < 2:
            raise ValueError(f"num_seeds must be an int >= 2 (the surrogate classes), got "
                             f"{num_seeds!r}.")
        self.num_seeds = int(num_seeds)
        self.sampled_classes = int(sampled_classes or 0)
        self.seed = int(seed)
        self.classifier = keras.layers.Dense(self.num_seeds, name="surrogate_classifier")

    def build_heads(self, feature_shape):
        self.classifier.build(feature_shape)

    def compute_objective(self, data, training):
        views, labels = data
        features = tf.cast(self.encoder(views, training=training), tf.float32)
        if training and self.sampled_classes:
            loss, accuracy = sampled_softmax_cross_entropy(
                features, self.classifier.kernel, self.classifier.bias, labels,
                self.sampled_negatives(), self.num_seeds)
            return loss, {"exemplar_accuracy": accuracy}
        logits = tf.cast(self.classifier(features), tf.float32)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        hits = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), labels)
        return loss, {"exemplar_accuracy": tf.reduce_mean(tf.cast(hits, tf.float32))}

    def sampled_negatives(self):
        """This step's M uniform classes on this replica, from (seed, step, replica id)."""
        optimizer = getattr(self, "optimizer", None)
        step = tf.cast(optimizer.iterations, tf.int32) if optimizer is not None else 0
        seed = tf.random.experimental.stateless_fold_in(tf.stack([self.seed, step]), replica_id())
        return uniform_classes(seed, self.sampled_classes, self.num_seeds)

    def get_config(self):
        config = super().get_config()
        config.update(num_seeds=self.num_seeds, sampled_classes=self.sampled_classes,
                      seed=self.seed)
        return config


def exemplar_views(config):
    return augment.ExemplarTransform(**{k: tuple(v) if isinstance(v, list) else v
                                        for k, v in config.augment.items()})


def _run_arguments(config, steps_per_epoch):
    """N = the training set's size (labels are row indices), unless the recipe sets it."""
    del steps_per_epoch
    if config.model.num_seeds is not None:
        return {}
    from keras_ssl import data  # below methods; only listed, no image is decoded
    d = config.data
    n = data.encoded_source(d.source, d.train_split, d.tfds_data_dir, d.labeled, d.image_key,
                            d.label_key).num_examples
    if d.max_train_examples is not None:  # the in-memory subset (all of a smaller split)
        n = min(n, d.max_train_examples)
    return {"num_seeds": int(n)}


def _checks(config):
    config_checks.positive_int("augment.num_views", config.augment.num_views)
    config_checks.check(config.data.pipeline != "streaming", "data.pipeline",
                        config.data.pipeline,
                        "'memory' or 'auto': Exemplar's labels are the in-memory rows")
    s = config.model.sampled_classes
    config_checks.check(s is None or (isinstance(s, int) and s >= 0), "model.sampled_classes", s,
                        "0 or None (full softmax), or a positive int")


def _preview(transform, images, outputs):
    """The recipe's K views of each seed, then 6 more drawn with the paper's ranges: one row of
    transformed views per seed image (its surrogate class)."""
    views, _ = outputs
    k = views.shape[0] // len(images)
    extra, _ = augment.ExemplarTransform(num_views=6)(
        tf.constant(images, tf.float32), tf.constant([7, 7], tf.int64))
    return ([(f"view {j + 1}", views[j::k].numpy()) for j in range(k)]
            + [(f"view {k + j + 1}", extra[j::6].numpy()) for j in range(6)])


registry.register(
    "exemplar", Exemplar,
    # Dosovitskiy et al. (TPAMI 2016, section 3.1 / 4): N surrogate classes, one per seed; the
    # classifier is a linear layer + softmax. The paper precomputes 100 transformations per seed;
    # here K fresh ones per seed in every batch.
    # sampled_classes: ours, for large N (the paper uses the full softmax); 0, not None, so that
    # --config.model.sampled_classes=M can override it.
    model=dict(num_seeds=registry.unset(int), sampled_classes=0, seed=0),
    augment=dict(num_views=2, patch_size=registry.unset(int), translation=0.2, scale=(0.7, 1.4),
                 rotation=20.0, pca_contrast=(0.5, 2.0), hsv_power=(0.25, 4.0),
                 hsv_multiply=(0.7, 1.4), hsv_add=(-0.1, 0.1), hue=(-0.1, 0.1)),
    views=exemplar_views, checks=_checks, run_arguments=_run_arguments, preview=_preview)
