"""SimCLR and RotNet as Keras models: steps, serialization, and a real learning signal on CIFAR-10."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import augment, data, evaluation
from keras_ssl.encoders import ResNet18
from keras_ssl.methods import RotNet, SimCLR


def tiny_encoder(size=16, seed=0):
    keras.utils.set_random_seed(seed)
    return ResNet18(stem="cifar", width_multiplier=0.125, input_shape=(size, size, 3))


def random_views(batch=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(tf.constant(rng.random((batch, size, size, 3), np.float32)) for _ in range(2))


def test_simclr_step_updates_weights_and_reports_metrics():
    model = SimCLR(tiny_encoder(), projection_hidden_dims=(32,), projection_dim=16, temperature=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    views = random_views()
    model.build((None, 16, 16, 3))
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.train_step(views)
    assert set(logs) == {"loss", "contrastive_accuracy", "embedding_std"}
    # NT-Xent of 8 pairs is at most about log(2 * 8 - 1) for embeddings that carry no information.
    assert 0.0 < float(logs["loss"]) < 2 * np.log(15)
    changed = {v.path: not np.allclose(b, v.numpy())
               for b, v in zip(before, model.trainable_variables)}
    # Residual branches start at zero (zero-init last BN gamma), so their convolutions get no gradient
    # in the first step; the stem, the shortcuts, the BN gammas and the head all must move.
    # (The model's name prefixes the head's paths: sim_clr, sim_clr_1, ... within one process.)
    head_kernel = next(path for path in changed if path.endswith("projector/output/kernel"))
    assert changed["stem_conv/kernel"] and changed[head_kernel]
    assert all(moved for path, moved in changed.items() if "bn2/gamma" in path)


def test_rotnet_step_on_rotated_batch():
    model = RotNet(tiny_encoder())
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    images = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    batch = augment.RotationTransform()(images, tf.constant([0, 0]))
    model.build((None, 16, 16, 3))
    # The step's loss and accuracy are those of the weights before it (training-mode batch norm):
    # cross-entropy over the 4 rotations in float64.
    x, labels = (np.asarray(t) for t in batch)
    logits = np.asarray(model.classifier(model.encoder(x, training=True), training=True),
                        np.float64)
    top = logits.max(1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))
    want_loss = -log_softmax[np.arange(len(labels)), labels].mean()
    logs = model.train_step(batch)
    assert set(logs) == {"loss", "rotation_accuracy"}
    np.testing.assert_allclose(float(logs["loss"]), want_loss, rtol=1e-5)
    assert float(logs["rotation_accuracy"]) == pytest.approx((logits.argmax(1) == labels).mean())
    assert abs(want_loss - np.log(4)) < 1.0  # starts near chance over 4 classes


@pytest.mark.parametrize("make", [
    lambda: SimCLR(tiny_encoder(), projection_hidden_dims=(32,), projection_dim=16, temperature=0.2),
    lambda: RotNet(tiny_encoder(), head_hidden_dims=(8,)),
])
def test_methods_survive_keras_save_and_load(make, tmp_path):
    model = make()
    views = random_views()
    batch = views if isinstance(model, SimCLR) else augment.rotate_all(views[0])
    model.build((None, 16, 16, 3))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    as_json = lambda m: json.loads(json.dumps(m.get_config()))  # tuples and lists alike
    assert as_json(loaded) == as_json(model)
    np.testing.assert_allclose(loaded(views[0]), model(views[0]), atol=1e-6)
    loss, _ = model.compute_objective(batch, training=False)
    loaded_loss, _ = loaded.compute_objective(batch, training=False)
    np.testing.assert_allclose(float(loaded_loss), float(loss), rtol=1e-5)


def _knn(encoder, train, test):
    (tx, ty), (vx, vy) = train, test
    return evaluation.knn_accuracy(evaluation.extract_features(encoder, tx),
                                   ty, evaluation.extract_features(encoder, vx), vy,
                                   num_classes=10, k=50)


@pytest.mark.parametrize("method", ["simclr", "rotnet"])
def test_pretraining_beats_random_init_on_real_cifar10(method, cifar10_dir):
    """A real learning signal: a short run on 5,000 real CIFAR-10 images improves kNN accuracy."""
    root = f"folder:{cifar10_dir}"
    train_x, train_y, _ = data.load_arrays(root, "train", max_examples=5000)
    test_x, test_y, _ = data.load_arrays(root, "test", max_examples=1000)
    keras.utils.set_random_seed(0)
    encoder = ResNet18(stem="cifar", stem_stride=2, width_multiplier=0.25, input_shape=(32, 32, 3))
    random_init = _knn(keras.models.clone_model(encoder), (train_x, train_y), (test_x, test_y))
    if method == "simclr":
        model = SimCLR(encoder, projection_hidden_dims=(128,), temperature=0.2)
        transform = augment.MultiViewTransform(
            [augment.SimCLRTransform(32, crop_scale=(0.2, 1.0), color_strength=0.5)] * 2)
        batch, epochs = 128, 4
    else:
        model = RotNet(encoder)
        transform = augment.RotationTransform(augment.PaddedCropFlipTransform())
        batch, epochs = 64, 3
    dataset = data.pretraining_dataset(None, batch, transform, arrays=(train_x, train_y), seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(dataset, epochs=epochs, shuffle=False, verbose=0)
    trained = _knn(model.encoder, (train_x, train_y), (test_x, test_y))
    assert trained > random_init + 0.03, (trained, random_init)
