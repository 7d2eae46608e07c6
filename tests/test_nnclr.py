"""NNCLR on one device: the nearest-neighbour lookup and the loss against NumPy float64, the support
set's reads and writes in a step, and its configuration. The distributed behaviour (global
negatives, a support set of gathered embeddings) is in test_distributed_modern.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import batch_info_nce_numpy, unit_rows as unit
from keras_ssl.cli import builders
from keras_ssl.cli.config import base_config, validate_config
from keras_ssl.encoders import ResNet18
from keras_ssl.losses import nearest_neighbours, nnclr_loss
from keras_ssl.methods import NNCLR

SIZE = 16


def nnclr_loss_numpy(n1, n2, p1, p2, temperature):
    """Eq. 2 (NN(z_i) against every p_k of the other view) with its transposed term (p_i against
    every NN(z_k)), for both view orders: the mean of the four."""
    terms = [batch_info_nce_numpy(a, b, temperature)
             for a, b in ((n1, p2), (p2, n1), (n2, p1), (p1, n2))]
    return np.mean([t[0] for t in terms]), np.mean([t[1] for t in terms])


def nearest_numpy(z, support):
    return unit(support)[np.argmax(unit(z) @ unit(support).T, axis=1)]


def test_nearest_neighbour_is_the_support_row_of_largest_cosine_not_dot_product():
    rng = np.random.default_rng(0)
    support = rng.normal(size=(30, 6)) * rng.uniform(0.1, 10.0, size=(30, 1))  # unequal norms
    z = rng.normal(size=(12, 6))
    got = nearest_neighbours(z.astype(np.float32), support.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, nearest_numpy(z, support), rtol=0, atol=1e-6)
    by_dot = np.argmax(z @ support.T, axis=1)
    assert (by_dot != np.argmax(unit(z) @ unit(support).T, axis=1)).any()  # the test can tell
    # No gradient flows into the neighbours (the support set is a fixed set of embeddings).
    z_t = tf.constant(z, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(z_t)
        out = tf.reduce_sum(nearest_neighbours(z_t, tf.constant(support, tf.float32)))
    assert tape.gradient(out, z_t) is None


def test_nnclr_loss_matches_numpy():
    rng = np.random.default_rng(1)
    n1, n2, p1, p2 = (rng.normal(size=(7, 5)) for _ in range(4))
    p2[:4] = 3 * n1[:4]  # positives that certainly score highest for some rows
    loss, accuracy = nnclr_loss(*(x.astype(np.float32) for x in (n1, n2, p1, p2)),
                                temperature=0.1)
    want_loss, want_accuracy = nnclr_loss_numpy(n1, n2, p1, p2, 0.1)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
    assert float(accuracy) == pytest.approx(want_accuracy) and want_accuracy > 0.2
    # Hand-computed: two orthogonal pairs that match exactly, t = 1: each term is
    # -log(e / (e + 1)) = log(1 + 1/e).
    eye = np.eye(2, dtype=np.float32)
    loss, accuracy = nnclr_loss(eye, eye, eye, eye, temperature=1.0)
    assert float(loss) == pytest.approx(np.log(1 + np.exp(-1)), rel=1e-6)
    assert float(accuracy) == 1.0


def make_nnclr(support_size=20, **kwargs):
    keras.utils.set_random_seed(0)
    encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=(SIZE, SIZE, 3))
    model = NNCLR(encoder, projection_hidden_dims=(32,), projection_dim=16,
                  prediction_hidden_dims=(32,), support_size=support_size, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.build((None, SIZE, SIZE, 3))
    return model


def random_views(batch=8, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(tf.constant(rng.random((batch, SIZE, SIZE, 3), np.float32)) for _ in range(2))


def test_a_step_reads_the_support_set_then_adds_the_view1_embeddings():
    """The loss is nnclr_loss of the projections' nearest neighbours in the support set as it was
    before the step and the predictions; then the 8 normalised view-1 projections take rows 0..7
    of the support set."""
    model = make_nnclr(temperature=0.2)
    views = random_views()
    support_before = model.support_set.rows().numpy()
    z = model.projector(model.encoder(tf.concat(views, axis=0), training=True), training=True)
    p = model.predictor(z, training=True).numpy()
    z = z.numpy()
    neighbours = [nearest_numpy(z[:8], support_before), nearest_numpy(z[8:], support_before)]
    want_loss, want_accuracy = nnclr_loss_numpy(*neighbours, p[:8], p[8:], 0.2)

    loss, values = model.compute_objective(views, training=True)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
    assert float(values["contrastive_accuracy"]) == pytest.approx(want_accuracy)
    after = model.support_set.rows().numpy()
    np.testing.assert_allclose(after[:8], unit(z[:8]), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(after[8:], support_before[8:])
    assert int(model.support_set.pointer.numpy()) == 8
    # With the support set read after the write, the neighbours (and the loss) would differ.
    late = [nearest_numpy(z[:8], after), nearest_numpy(z[8:], after)]
    assert abs(nnclr_loss_numpy(*late, p[:8], p[8:], 0.2)[0] - want_loss) > 1e-2
    # Evaluation reads the support set but does not write it.
    model.compute_objective(views, training=False)
    np.testing.assert_array_equal(model.support_set.rows().numpy(), after)


def test_the_support_set_is_saved_and_loaded_with_the_model(tmp_path):
    model = make_nnclr()
    model.train_step(random_views())
    path = str(tmp_path / "nnclr.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.support_set.rows().numpy(),
                                  model.support_set.rows().numpy())
    assert int(loaded.support_set.pointer.numpy()) == 8
    assert loaded.get_config()["support_size"] == 20


def test_cli_builds_nnclr_with_the_papers_defaults_and_byols_views():
    config = validate_config(base_config("nnclr"))
    first, second = builders.build_transform(config).transforms
    assert (first.blur_probability, second.solarize_probability) == (1.0, 0.2)
    m = config.model
    assert (m.support_size, m.temperature, m.projection_dim) == (98304, 0.1, 256)
    assert tuple(m.projection_hidden_dims) == (2048, 2048)


@pytest.mark.parametrize("key, value, message", [
    ("support_size", 128, "at least train.batch_size"),
    ("temperature", 0.0, "model.temperature"),
])
def test_bad_nnclr_configs_are_refused_naming_the_key(key, value, message):
    config = base_config("nnclr")
    config.model[key] = value
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        validate_config(config)
