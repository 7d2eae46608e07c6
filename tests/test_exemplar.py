"""Exemplar-CNN (Dosovitskiy et al.): surrogate labels are the images' stable indices, views
differ, the loss is the softmax cross-entropy over the N classes (float64 reference)."""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import augment, data, encoders
from keras_ssl.augment import exemplar
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
    logits = features @ kernel + bias
    m = logits.max(1, keepdims=True)
    log_probs = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    expected = -log_probs[np.arange(len(labels)), labels.numpy()].mean()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    hits = (logits.argmax(1) == labels.numpy()).mean()
    np.testing.assert_allclose(float(values["exemplar_accuracy"]), hits)


def test_sampled_softmax_trains():
    encoder = encoders.ResNet(18, stem="cifar", stem_stride=2, width_multiplier=0.125,
                              input_shape=(32, 32, 3))
    model = Exemplar(encoder, num_seeds=24, sampled_classes=8)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    views, labels = augment.ExemplarTransform(2)(_images(), tf.constant([0, 1], tf.int64),
                                                 image_index=tf.range(24))
    history = model.fit(tf.data.Dataset.from_tensors((views, labels)).repeat(2), verbose=0)
    assert np.isfinite(history.history["loss"][-1])


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
