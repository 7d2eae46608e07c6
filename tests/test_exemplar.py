"""Exemplar-CNN (Dosovitskiy et al.): surrogate labels are the images' stable indices, views
differ, the loss is the softmax cross-entropy over the N classes (float64 reference); the sampled
softmax (ours) draws classes uniformly, estimates the normaliser without bias and reports its
accuracy among the candidates."""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import augment, data, encoders
from keras_ssl.augment import exemplar
from keras_ssl.losses.sampled_softmax import sampled_softmax_cross_entropy
from keras_ssl.methods import Exemplar


def _images(n=24, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_labels_are_stable_per_image_across_epochs_and_views_differ():
    images = _images()
    transform = augment.ExemplarTransform(num_views=3)
    ds = data.pretraining_dataset(None, 8, transform, seed=0, arrays=(images, np.zeros(24, np.int32)),
                                  epochs=2)
    seen = {}
    for views, labels in ds:  # 2 epochs x 3 batches
        views, labels = views.numpy(), labels.numpy()
        assert views.shape == (24, 32, 32, 3)
        for i in range(8):
            rows = views[3 * i:3 * i + 3]
            label = labels[3 * i]
            np.testing.assert_array_equal(labels[3 * i:3 * i + 3], label)
            assert not np.allclose(rows[0], rows[1]) and not np.allclose(rows[1], rows[2])
            seen.setdefault(int(label), 0)
            seen[int(label)] += 1
    # Every image was a class once per epoch, labels 0..N-1.
    assert seen == {i: 2 for i in range(24)}


def test_the_label_is_the_row_of_the_image():
    images = _images(16)
    identity = augment.ExemplarTransform(num_views=1, translation=0.0, scale=(1.0, 1.0),
                                         rotation=0.0, pca_contrast=(1.0, 1.0),
                                         hsv_power=(1.0, 1.0), hsv_multiply=(1.0, 1.0),
                                         hsv_add=(0.0, 0.0), hue=(0.0, 0.0))
    for epoch_seed in (0, 1):
        for views, labels in data.pretraining_dataset(None, 4, identity, seed=epoch_seed,
                                                      arrays=(images, np.zeros(16, np.int32))):
            np.testing.assert_allclose(views.numpy(), images[labels.numpy()] / 255.0, atol=2e-3)


def test_the_paper_families_each_change_the_image():
    x = tf.constant(_images(4) / 255.0, tf.float32)
    seed = tf.constant([1, 2], tf.int64)
    for changed in (exemplar.random_similarity(x, seed),
                    exemplar.principal_component_contrast(x, seed),
                    exemplar.hsv_jitter(x, seed)):
        assert changed.shape == x.shape
        assert np.abs(changed.numpy() - x.numpy()).mean() > 0.01
    # Seeds at high gradient energy: a flat image with one textured corner is cut there.
    big = np.full((1, 64, 64, 3), 0.5, np.float32)
    big[0, 40:60, 36:60] = np.random.default_rng(0).uniform(size=(20, 24, 3))
    r, c = exemplar.gradient_energy_windows(tf.constant(big), 24).numpy()[0]
    assert 40 - 24 < r <= 40 and 36 - 24 < c <= 36 + 1
    assert exemplar.seed_patches(tf.constant(big), 24).shape == (1, 24, 24, 3)


def _full_softmax(features, kernel, bias, labels):
    """(mean loss, top-1 accuracy) of the full softmax in float64."""
    logits = features @ kernel + bias
    m = logits.max(1, keepdims=True)
    log_probs = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    return (-log_probs[np.arange(len(labels)), labels].mean(),
            (logits.argmax(1) == labels).mean())


def test_loss_equals_a_float64_reference():
    encoder = encoders.ResNet(18, stem="cifar", stem_stride=2, width_multiplier=0.125,
                              input_shape=(32, 32, 3))
    model = Exemplar(encoder, num_seeds=24)
    model.build((None, 32, 32, 3))
    views, labels = augment.ExemplarTransform(2)(_images(), tf.constant([0, 1], tf.int64),
                                                 image_index=tf.range(24))
    loss, values = model.compute_objective((views, labels), training=False)
    features = model.encoder(views, training=False).numpy().astype(np.float64)
    kernel, bias = (np.asarray(w, np.float64) for w in model.classifier.get_weights())
    expected_loss, expected_accuracy = _full_softmax(features, kernel, bias, labels.numpy())
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(float(values["exemplar_accuracy"]), expected_accuracy)


def _sampled_reference(features, kernel, bias, labels, sampled, num_classes):
    """The sampled estimate of the softmax, row by row in float64: the batch's distinct classes
    exactly, each draw outside the batch weighted by N / M; accuracy among those candidates."""
    batch = sorted(set(labels.tolist()))
    outside = [s for s in sampled.tolist() if s not in batch]
    weight = num_classes / len(sampled)
    losses, hits = [], []
    for f, y in zip(features, labels):
        logits = f @ kernel + bias
        z = np.exp(logits[batch]).sum() + weight * np.exp(logits[outside]).sum()
        losses.append(np.log(z) - logits[y])
        hits.append(logits[y] > max(logits[c] for c in batch + outside if c != y))
    return np.mean(losses), np.mean(hits)


def _random_case(n_classes=40, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.choice(n_classes, 6, replace=False), 2)  # 6 seeds x 2 views
    features = rng.normal(size=(len(labels), dim))
    kernel, bias = rng.normal(size=(dim, n_classes)), rng.normal(size=n_classes)
    return features, kernel, bias, labels


def test_sampled_softmax_with_every_class_drawn_is_the_full_softmax():
    features, kernel, bias, labels = _random_case()
    loss, accuracy = sampled_softmax_cross_entropy(
        tf.constant(features, tf.float32), tf.constant(kernel, tf.float32),
        tf.constant(bias, tf.float32), labels, tf.range(40), 40)
    expected_loss, expected_accuracy = _full_softmax(features, kernel, bias, labels)
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(float(accuracy), expected_accuracy)


def test_sampled_softmax_equals_a_float64_reference():
    features, kernel, bias, labels = _random_case(seed=1)
    # Draws with a repeat and two hits on batch classes, which must be dropped.
    outside = sorted(set(range(40)) - set(labels.tolist()))
    sampled = np.array([labels[0], outside[0], labels[5], outside[1], outside[1], outside[2],
                        outside[3]])
    # Rows aligned with their class's weights, so the accuracy is neither 0 nor 1.
    features[::3] = 3.0 * kernel[:, labels[::3]].T
    loss, accuracy = sampled_softmax_cross_entropy(
        tf.constant(features, tf.float32), tf.constant(kernel, tf.float32),
        tf.constant(bias, tf.float32), labels, sampled, 40)
    expected_loss, expected_accuracy = _sampled_reference(features, kernel, bias, labels,
                                                          sampled, 40)
    assert 0.0 < expected_accuracy < 1.0
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(float(accuracy), expected_accuracy)


def test_sampled_normaliser_is_unbiased_over_every_draw():
    """E[Z_hat] = Z exactly: the mean over all N^M equally likely draws (N = 6, M = 2) of the
    estimated sum of exp(logits), read back from the loss, is the full sum."""
    rng = np.random.default_rng(3)
    f, kernel, bias = rng.normal(size=(1, 4)), rng.normal(size=(4, 6)), rng.normal(size=6)
    labels = np.array([1, 4])  # two rows with the same features: two classes in the batch
    logits = (f @ kernel + bias)[0]
    estimates = []
    for a in range(6):
        for b in range(6):
            loss, _ = sampled_softmax_cross_entropy(
                tf.constant(np.repeat(f, 2, 0), tf.float32), tf.constant(kernel, tf.float32),
                tf.constant(bias, tf.float32), labels, [a, b], 6)
            estimates.append(np.exp(float(loss) + logits[labels].mean()))
    np.testing.assert_allclose(np.mean(estimates), np.exp(logits).sum(), rtol=1e-5)


def _linear_exemplar(num_seeds, sampled_classes, seed=0):
    """Exemplar on a weightless encoder (the pixels are the features)."""
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten()])
    model = Exemplar(encoder, num_seeds=num_seeds, sampled_classes=sampled_classes, seed=seed)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.build((None, 2, 2, 3))
    return model


def test_sampled_mode_draws_every_class_equally_often():
    """Count the classifier columns each step touches (non-zero gradient) outside the batch:
    uniform within noise. `tf.nn.sampled_softmax_loss`'s default log-uniform sampler (the old
    code; P(k) ~ log((k + 2) / (k + 1)), class 4 ~180x as likely as class 999) touched classes
    4-103 26x as often as 900-999 here (chi2 ~ 41,000) and fails this."""
    model = _linear_exemplar(1000, 20)
    x = tf.constant(np.random.default_rng(0).normal(size=(8, 2, 2, 3)), tf.float32)
    labels = tf.constant([0, 0, 1, 1, 2, 2, 3, 3])

    @tf.function
    def touched():
        with tf.GradientTape() as tape:
            loss, _ = model.compute_objective((x, labels), training=True)
        return tf.not_equal(tf.convert_to_tensor(tape.gradient(loss, model.classifier.bias)), 0.0)

    counts = np.zeros(1000)
    for step in range(500):
        model.optimizer.iterations.assign(step)
        counts += touched().numpy()
    counts = counts[4:]  # the batch's classes are always touched
    mean = counts.mean()
    assert 0.85 < counts[:100].sum() / counts[-100:].sum() < 1.15
    chi2 = ((counts - mean) ** 2 / mean).sum()  # ~ chi2(995): mean 995, sd 45
    assert chi2 < 995 + 6 * np.sqrt(2 * 995), chi2
    assert abs(mean - 500 * (1 - (1 - 1 / 1000) ** 20)) < 0.5  # 20 draws a step, with repeats


def test_sampled_mode_loss_and_accuracy_against_a_float64_reference():
    model = _linear_exemplar(40, 7, seed=3)
    features, kernel, bias, labels = _random_case(dim=12, seed=2)
    features[::3] = 3.0 * kernel[:, labels[::3]].T
    model.classifier.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    model.optimizer.iterations.assign(5)
    views = tf.constant(features.reshape(-1, 2, 2, 3), tf.float32)
    loss, values = model.compute_objective((views, tf.constant(labels)), training=True)
    sampled = model.sampled_negatives().numpy()
    assert sampled.shape == (7,) and sampled.min() >= 0 and sampled.max() < 40
    expected_loss, expected_accuracy = _sampled_reference(features, kernel, bias, labels,
                                                          sampled, 40)
    assert expected_accuracy > 0.3  # the aligned third of the rows, at least
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(float(values["exemplar_accuracy"]), expected_accuracy)
    # A fresh draw each step, the same for the same step (a resumed run draws the same).
    model.optimizer.iterations.assign(6)
    assert not np.array_equal(model.sampled_negatives().numpy(), sampled)
    model.optimizer.iterations.assign(5)
    np.testing.assert_array_equal(model.sampled_negatives().numpy(), sampled)
    restored = Exemplar.from_config(model.get_config())
    assert (restored.sampled_classes, restored.seed) == (7, 3)


def test_sampled_mode_fits_and_its_accuracy_rises():
    model = _linear_exemplar(24, 8)
    x = tf.constant(np.random.default_rng(0).normal(size=(24, 2, 2, 3)), tf.float32)
    accuracy = model.fit(tf.data.Dataset.from_tensors((x, tf.range(24))), verbose=0,
                         epochs=40, shuffle=False).history["exemplar_accuracy"]
    assert accuracy[0] < 0.2 and accuracy[-1] > 0.5  # among the candidates
    # The full softmax's accuracy over all 24 classes (evaluation), far above chance (1 / 24).
    _, full_accuracy = model.evaluate(x, tf.range(24), verbose=0)
    assert full_accuracy > 0.4


def test_the_sampled_mode_is_set_from_the_command_line(monkeypatch):
    """A None default is refused by ml_collections' override flags (as `keras-ssl train` did)."""
    from absl import flags
    from ml_collections import config_flags

    from keras_ssl.cli.config import base_config, validate_config

    argv = ["keras-ssl", "--config.model.sampled_classes=1024"]
    monkeypatch.setattr("sys.argv", argv)  # where config_flags reads the overrides
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_dict("config", base_config("exemplar"), flag_values=flag_values)
    flag_values(argv)
    assert validate_config(flag_values.config).model.sampled_classes == 1024


def test_number_of_classes_is_the_number_of_seed_images(tiny_cifar10):
    from keras_ssl.cli.config import base_config
    from keras_ssl.methods import registry

    spec, config = registry.get("exemplar"), base_config("exemplar")
    config.data.source = f"folder:{tiny_cifar10}"  # 80 training images
    assert spec.run_arguments(config, None) == {"num_seeds": 80}
    config.data.max_train_examples = 24  # a fixed subset of seeds
    assert spec.run_arguments(config, None) == {"num_seeds": 24}
    config.data.max_train_examples = 8000  # more than there are: every image
    assert spec.run_arguments(config, None) == {"num_seeds": 80}
