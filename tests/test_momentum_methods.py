"""MoCo v2, BYOL and MoCo v3 on one device: the momentum update, its schedule, the queue, the losses, shuffle BN's
one-device form, serialization, and which encoder is evaluated. References are NumPy float64 or
hand-computed; the distributed behaviour is in test_distributed_momentum.py."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import augment
from keras_ssl.cli import builders
from keras_ssl.cli.config import base_config, validate_config
from keras_ssl.distribute import apply_in_sub_batches, shuffled_apply
from keras_ssl.encoders import ResNet18
from keras_ssl.heads import MLPHead
from helpers import batch_info_nce_numpy
from keras_ssl.losses import byol_loss, info_nce, mocov3_loss
from keras_ssl.methods import BYOL, MoCoV2, MoCoV3
from keras_ssl.layers import FeatureQueue, MomentumNetwork, cosine_momentum

SIZE = 16
ROOT = Path(__file__).resolve().parents[1]


def tiny_encoder(seed=0):
    keras.utils.set_random_seed(seed)
    return ResNet18(stem="cifar", width_multiplier=0.125, input_shape=(SIZE, SIZE, 3))


def make_moco(momentum=0.5, **kwargs):
    kwargs = dict(dict(projection_hidden_dims=(32,), projection_dim=16, queue_size=20,
                       bn_splits=2), **kwargs)
    return MoCoV2(tiny_encoder(), momentum=momentum, **kwargs)


def make_byol(**kwargs):
    kwargs = dict(dict(projection_hidden_dims=(32,), projection_dim=16,
                       prediction_hidden_dims=(32,), total_steps=100), **kwargs)
    return BYOL(tiny_encoder(), **kwargs)


def make_mocov3(**kwargs):
    kwargs = dict(dict(projection_hidden_dims=(32,), projection_dim=16,
                       prediction_hidden_dims=(32,), total_steps=100), **kwargs)
    return MoCoV3(tiny_encoder(), **kwargs)


def random_views(batch=8, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(tf.constant(rng.random((batch, SIZE, SIZE, 3), np.float32)) for _ in range(2))


def online_and_target(model):
    if isinstance(model, MoCoV2):
        return [model.encoder, model.projector], model.key_network
    return [model.encoder, model.projector], model.target_network


def snapshot(networks):
    return [v.numpy().astype(np.float64) for n in networks for v in n.weights]


def compiled(model, learning_rate=0.5):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9))
    model.build((None, SIZE, SIZE, 3))
    return model


# --- the momentum update --------------------------------------------------------------------------

@pytest.mark.parametrize("total", [1000, 7])
def test_cosine_momentum_schedule_matches_numpy(total):
    base = 0.996
    reference = lambda k: 1 - (1 - base) * (np.cos(np.pi * k / total) + 1) / 2
    assert float(cosine_momentum(0, total, base)) == pytest.approx(base, abs=1e-7)
    assert float(cosine_momentum(total / 2, total, base)) == pytest.approx(
        1 - (1 - base) / 2, abs=1e-7)  # cos(pi / 2) = 0: halfway between tau_base and 1
    assert float(cosine_momentum(total, total, base)) == pytest.approx(1.0, abs=1e-7)
    for k in (1, total // 3, total - 1):
        assert float(cosine_momentum(k, total, base)) == pytest.approx(reference(k), abs=1e-7)
    assert float(cosine_momentum(total + 5, total, base)) == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("make", [make_moco, make_byol, make_mocov3])
def test_ema_update_matches_numpy_for_every_weight_including_bn_statistics(make):
    """Step 1: the copy starts equal to the online weights W0 (synchronised at k = 0), the optimizer
    and the online BN make W1, then target = m W0 + (1 - m) W1; step 2: m target + (1 - m) W2."""
    model = compiled(make(**({} if make is make_moco else {"base_momentum": 0.5})))
    online, target = online_and_target(model)
    m = [0.5, 0.5] if isinstance(model, MoCoV2) else [
        float(cosine_momentum(k, 100, 0.5)) for k in (0, 1)]
    views = random_views()
    w0 = snapshot(online)
    model.train_step(views)
    w1 = snapshot(online)
    t1 = snapshot(target.networks)
    paths = [v.path for n in online for v in n.weights]
    expected = [m[0] * a + (1 - m[0]) * b for a, b in zip(w0, w1)]
    for path, got, want in zip(paths, t1, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=path)
    # The BN moving statistics of the online encoder moved, so they were really averaged, not
    # left alone (the reference MoCo code's omission) nor copied.
    moving = [i for i, p in enumerate(paths) if "moving_mean" in p or "moving_variance" in p]
    assert moving and max(np.abs(w1[i] - w0[i]).max() for i in moving) > 1e-3
    assert max(np.abs(t1[i] - w0[i]).max() for i in moving) > 1e-4
    assert int(target.step.numpy()) == 1

    model.train_step(random_views(seed=1))
    w2, t2 = snapshot(online), snapshot(target.networks)
    for path, got, a, b in zip(paths, t2, t1, w2):
        np.testing.assert_allclose(got, m[1] * a + (1 - m[1]) * b, rtol=1e-5, atol=1e-6,
                                   err_msg=path)
    assert int(target.step.numpy()) == 2


def test_target_batch_norm_uses_batch_statistics_but_keeps_its_moving_statistics():
    head = MLPHead((8,), 4, batch_norm=True)
    head.build((None, 6))
    target = MomentumNetwork([head])
    target.build((None, 6))
    before = snapshot(target.networks)
    x = tf.constant(np.random.default_rng(0).normal(3.0, 2.0, (16, 6)), tf.float32)
    trained = target(x, training=True)
    np.testing.assert_array_equal(snapshot(target.networks)[2], before[2])  # moving mean
    np.testing.assert_array_equal(snapshot(target.networks)[3], before[3])  # moving variance
    # Batch statistics (mean 3, std 2 inputs) differ from the moving ones (0, 1).
    assert np.abs(trained - target(x, training=False)).max() > 0.1


@pytest.mark.parametrize("make", [make_moco, make_byol, make_mocov3])
def test_target_variables_get_no_gradient(make):
    model = compiled(make())
    _, target = online_and_target(model)
    trainable = {id(v) for v in model.trainable_variables}
    assert not any(id(v) in trainable for v in target.weights)
    assert not any(v.trainable for v in target.weights)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([v.value for v in target.weights if v.dtype == "float32"])
        loss, _ = model.compute_objective(random_views(), training=True)
    gradients = tape.gradient(loss, [v.value for v in target.weights if v.dtype == "float32"])
    assert all(g is None for g in gradients)
    online_gradients = tape.gradient(loss, model.encoder.trainable_weights)
    assert sum(g is not None for g in online_gradients) > 10


# --- MoCo's queue ---------------------------------------------------------------------------------

def test_queue_is_fifo_and_wraps_around():
    queue = FeatureQueue(5, 2)
    initial = queue.rows().numpy()
    np.testing.assert_allclose(np.linalg.norm(initial, axis=1), 1.0, rtol=1e-6)  # unit rows
    expected = initial.copy()
    pointer = 0
    for step, count in enumerate([2, 2, 2, 3, 5]):
        rows = np.arange(count * 2, dtype=np.float32).reshape(count, 2) + 100 * (step + 1)
        queue.enqueue(rows)
        for row in rows:  # write over the oldest row, wrapping at the end
            expected[pointer] = row
            pointer = (pointer + 1) % 5
        np.testing.assert_array_equal(queue.rows().numpy(), expected)
        assert int(queue.pointer.numpy()) == pointer
    # Hand-checked state after 2 + 2 + 2 + 3 + 5 = 14 rows: the pointer is at 14 % 5 = 4 and the
    # last enqueue (5 rows from slot 4) wrote rows 4, 0, 1, 2, 3 in that order.
    last = 500 + np.arange(10, dtype=np.float32).reshape(5, 2)
    np.testing.assert_array_equal(queue.rows().numpy()[[4, 0, 1, 2, 3]], last)


def test_queue_refuses_more_rows_than_it_holds_and_wrong_width():
    queue = FeatureQueue(4, 3)
    with pytest.raises(ValueError, match="raise its size"):
        queue.enqueue(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        queue.enqueue(np.zeros((2, 4), np.float32))


def info_nce_numpy(q, k, negatives, temperature):
    """InfoNCE in float64: -log softmax over [q.k+, q.negatives] / t, positive first; and accuracy."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    q, k, negatives = (unit(np.asarray(x, np.float64)) for x in (q, k, negatives))
    logits = np.concatenate([(q * k).sum(1, keepdims=True), q @ negatives.T], axis=1) / temperature
    top = logits.max(1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))
    return -log_softmax[:, 0].mean(), (logits.argmax(1) == 0).mean()


def test_moco_loss_reads_the_queue_before_the_step_enqueues_the_keys():
    """One device, no shuffle, one BN batch: the loss is InfoNCE of q = g(f(v1)) against
    k = g_k(f_k(v2)) (= the online networks at step 0) and the queue as it was before the step;
    then the 8 keys take rows 0..7 of the queue."""
    model = compiled(make_moco(queue_size=20, momentum=0.99, bn_splits=1, shuffle_bn=False))
    views = random_views()
    online = [model.encoder, model.projector]
    model.key_network.synchronize(online)
    queue_before = model.queue.rows().numpy()
    q = model.projector(model.encoder(views[0], training=True), training=True).numpy()
    k = model.key_network(views[1], training=True).numpy()
    want_loss, want_accuracy = info_nce_numpy(q, k, queue_before, model.temperature)

    loss, values = model.compute_objective(views, training=True)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
    assert float(values["contrastive_accuracy"]) == pytest.approx(want_accuracy)
    queue_after = model.queue.rows().numpy()
    unit_k = k / np.linalg.norm(k, axis=1, keepdims=True)
    np.testing.assert_allclose(queue_after[:8], unit_k, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(queue_after[8:], queue_before[8:])
    assert int(model.queue.pointer.numpy()) == 8
    # Read after the write, the loss would differ: the keys would be among the negatives.
    assert abs(info_nce_numpy(q, k, queue_after, model.temperature)[0] - want_loss) > 1e-2
    # Evaluation (training=False) reads the queue but does not write it.
    model.compute_objective(views, training=False)
    np.testing.assert_array_equal(model.queue.rows().numpy(), queue_after)


# --- losses ---------------------------------------------------------------------------------------

def test_info_nce_matches_numpy():
    rng = np.random.default_rng(0)
    q, k, negatives = rng.normal(size=(6, 5)), rng.normal(size=(6, 5)), rng.normal(size=(11, 5))
    k[:3] = 5 * q[:3]  # three positives that are certainly the top logit
    loss, accuracy = info_nce(q.astype(np.float32), k.astype(np.float32),
                              negatives.astype(np.float32), temperature=0.2)
    want_loss, want_accuracy = info_nce_numpy(q, k, negatives, 0.2)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
    assert float(accuracy) == pytest.approx(want_accuracy) and want_accuracy >= 0.5


def test_mocov3_loss_matches_numpy_with_the_authors_2t_scale():
    rng = np.random.default_rng(2)
    q1, q2, k1, k2 = (rng.normal(size=(6, 5)) for _ in range(4))
    k2[:3] = 4 * q1[:3]
    for t in (0.2, 1.0):
        loss, accuracy = mocov3_loss(*(x.astype(np.float32) for x in (q1, q2, k1, k2)), t)
        (a, hits_a), (b, hits_b) = (batch_info_nce_numpy(q1, k2, t),
                                    batch_info_nce_numpy(q2, k1, t))
        np.testing.assert_allclose(float(loss), 2 * t * (a + b), rtol=1e-5)
        assert float(accuracy) == pytest.approx((hits_a + hits_b) / 2)
    # Hand-computed: identical orthogonal pairs at t = 1: 2 * 2 * log(1 + 1/e).
    eye = np.eye(2, dtype=np.float32)
    assert float(mocov3_loss(eye, eye, eye, eye, 1.0)[0]) == pytest.approx(
        4 * np.log(1 + np.exp(-1)), rel=1e-6)


def test_byol_loss_is_two_minus_two_cosine_without_target_gradient():
    rng = np.random.default_rng(0)
    p, z = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    cosine = (p * z).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(z, axis=1)
    p_t, z_t = tf.constant(p, tf.float32), tf.constant(z, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([p_t, z_t])
        loss = byol_loss(p_t, z_t)
    np.testing.assert_allclose(float(loss), np.mean(2 - 2 * cosine), rtol=1e-6)
    # Hand-computed: identical directions give 0, opposite ones 4.
    assert float(byol_loss(tf.constant([[1.0, 2.0]]), tf.constant([[2.0, 4.0]]))) == \
        pytest.approx(0.0, abs=1e-6)
    assert float(byol_loss(tf.constant([[1.0, 0.0]]), tf.constant([[-3.0, 0.0]]))) == \
        pytest.approx(4.0)
    assert tape.gradient(loss, z_t) is None
    assert np.abs(tape.gradient(loss, p_t).numpy()).max() > 1e-3


# --- shuffle BN on one device ---------------------------------------------------------------------

def centre(x):
    """A stand-in for batch norm: subtract the batch mean."""
    return x - tf.reduce_mean(x, axis=0, keepdims=True)


def test_shuffled_apply_on_one_device_normalises_random_groups_and_restores_order():
    x = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    seed = tf.constant([7, 1], tf.int64)
    out = shuffled_apply(centre, tf.constant(x), seed, splits=3).numpy()
    permutation = tf.random.experimental.stateless_shuffle(tf.range(12), seed=seed).numpy()
    expected = np.empty_like(x, np.float64)
    for group in np.split(permutation, 3):  # each group of 4 is centred on its own mean
        expected[group] = x[group] - x[group].astype(np.float64).mean(0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # Really shuffled: the groups are not the consecutive sub-batches of apply_in_sub_batches.
    consecutive = apply_in_sub_batches(centre, tf.constant(x), 3).numpy()
    assert np.abs(out - consecutive).max() > 0.1
    # Order restored: an identity function gives the input back.
    np.testing.assert_array_equal(shuffled_apply(tf.identity, tf.constant(x), seed, 3), x)


def test_apply_in_sub_batches_refuses_uneven_splits():
    with pytest.raises(ValueError, match="bn_splits"):
        apply_in_sub_batches(centre, tf.zeros((10, 2)), 4)


# --- building, serialization, evaluation ----------------------------------------------------------

@pytest.mark.parametrize("make", [make_moco, make_byol])
def test_fit_without_build_starts_the_copy_from_the_online_weights(make):
    model = make(**({"momentum": 1.0} if make is make_moco else {"base_momentum": 1.0}))
    encoder_before = snapshot([model.encoder])
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(tf.data.Dataset.from_tensors(random_views()), epochs=1, shuffle=False, verbose=0)
    _, target = online_and_target(model)
    # m = 1 keeps the copy where the synchronisation at step 0 put it: the initial online weights.
    for got, want in zip(snapshot([target.networks[0]]), encoder_before):
        np.testing.assert_array_equal(got, want)
    assert max(np.abs(a - b).max() for a, b in zip(snapshot([model.encoder]), encoder_before)) > 1e-3


@pytest.mark.parametrize("make", [make_moco, make_byol, make_mocov3])
def test_methods_survive_keras_save_and_load_with_their_state(make, tmp_path):
    model = compiled(make())
    views = random_views()
    model.train_step(views)
    model.train_step(random_views(seed=1))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    as_json = lambda m: json.loads(json.dumps(m.get_config()))
    assert as_json(loaded) == as_json(model)
    # Every variable (target copy, queue, pointer, step included) comes back.
    assert [v.path for v in loaded.variables] == [v.path for v in model.variables]
    for a, b in zip(loaded.variables, model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=b.path)
    _, target = online_and_target(loaded)
    assert int(target.step.numpy()) == 2 and not any(v.trainable for v in target.weights)
    loss, _ = model.compute_objective(views, training=False)
    loaded_loss, _ = loaded.compute_objective(views, training=False)
    np.testing.assert_allclose(float(loaded_loss), float(loss), rtol=1e-5)


def objective_numpy(model, features_of, views):
    """The method's evaluation-mode loss in float64, with `features_of(images)` standing for the
    online encoder: MoCo's InfoNCE of g(f(v1)) against the key network's v2 and the queue, BYOL's
    sum of 2 - 2 cos(q(g(f(v))), the target network's projection of the other view), MoCo v3's
    2 t [ctr(h(g(f(v1))), k2) + ctr(h(g(f(v2))), k1)]."""
    numpy = lambda x: np.asarray(x, np.float64)
    if isinstance(model, MoCoV2):
        queries = model.projector(features_of(views[0]), training=False)
        keys = model.key_network(views[1], training=False)
        return info_nce_numpy(queries, keys, model.queue.rows(), model.temperature)[0]
    if isinstance(model, MoCoV3):
        q = [model.predictor(model.projector(features_of(v), training=False), training=False)
             for v in views]
        k = [model.target_network(v, training=False) for v in views]
        t = model.temperature
        return 2 * t * sum(batch_info_nce_numpy(a, b, t)[0] for a, b in ((q[0], k[1]),
                                                                        (q[1], k[0])))
    unit = lambda x: numpy(x) / np.linalg.norm(numpy(x), axis=1, keepdims=True)
    p = [model.predictor(model.projector(features_of(v), training=False), training=False)
         for v in views]
    z = [model.target_network(v, training=False) for v in views]
    return sum(np.mean(2 - 2 * (unit(a) * unit(b)).sum(1)) for a, b in ((p[0], z[1]), (p[1], z[0])))


@pytest.mark.parametrize("make", [make_moco, make_byol, make_mocov3])
def test_the_model_and_its_encoder_are_the_online_network(make):
    """Evaluation, export and the CLI's encoder.keras use `model.encoder` / `model(images)`: the
    online (query) encoder, the one whose features the loss feeds to the projector (and BYOL's
    and MoCo v3's predictor); after training it differs from the momentum copy."""
    model = compiled(make(**({"momentum": 0.9} if make is make_moco else {})))
    for seed in range(3):
        model.train_step(random_views(seed=seed))
    views = random_views(seed=3)
    _, target = online_and_target(model)
    loss, _ = model.compute_objective(views, training=False)
    np.testing.assert_allclose(objective_numpy(model, model, views), float(loss), rtol=1e-5)
    # The momentum encoder in its place gives a loss 10x the tolerance away: the check above tells
    # the two apart.
    assert abs(objective_numpy(model, target.networks[0], views) - float(loss)) > 1e-4 * float(loss)
    assert np.abs(model(views[0]) - target.networks[0](views[0])).max() > 1e-4


@pytest.fixture(scope="module")
def small_folder(cifar10_dir, tmp_path_factory):
    """20 train / 5 test images per class of CIFAR-10."""
    root = tmp_path_factory.mktemp("cifar_small")
    for split, count in (("train", 20), ("test", 5)):
        for cls in sorted(os.listdir(os.path.join(cifar10_dir, split))):
            os.makedirs(root / split / cls)
            for name in sorted(os.listdir(os.path.join(cifar10_dir, split, cls)))[:count]:
                shutil.copy(os.path.join(cifar10_dir, split, cls, name), root / split / cls / name)
    return root


# MoCo v2's case runs on demand (slow): BYOL's stands for the momentum methods in CI, whose online
# and momentum encoders are kept by the same MomentumNetwork.
@pytest.mark.parametrize("recipe, overrides", [
    pytest.param("mocov2_cifar10",
                 ["--config.model.queue_size=64", "--config.model.momentum=0.5",
                  "--config.model.bn_splits=2"], marks=pytest.mark.slow),
    ("byol_cifar10", ["--config.model.prediction_hidden_dims=(32,)",
                         "--config.model.base_momentum=0.5"]),
])
def test_cli_saves_the_online_encoder_for_eval_and_export(recipe, overrides, small_folder,
                                                           tmp_path):
    """`keras-ssl train` writes encoder.keras, which `eval` and `export` load: it must hold the
    online (query) encoder's weights, not the momentum copy's."""
    workdir, out = tmp_path / "run", tmp_path / "weights.npz"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "distributed" / "train_momentum_encoders.py"),
         "--out", str(out), "--", "train", f"--config={recipe}",
         f"--workdir={workdir}", f"--config.data.source=folder:{small_folder}",
         "--config.encoder.width_multiplier=0.125", "--config.model.projection_hidden_dims=(32,)",
         "--config.train.batch_size=32", "--config.train.epochs=1",
         "--config.train.warmup_epochs=0", *overrides],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = keras.models.load_model(workdir / "encoder.keras").weights
    trained = np.load(out)
    assert len(saved) == len([k for k in trained.files if k.startswith("online")])
    for i, weight in enumerate(saved):
        np.testing.assert_array_equal(weight.numpy(), trained[f"online{i}"], err_msg=weight.path)
    assert max(np.abs(w.numpy() - trained[f"momentum{i}"]).max()
               for i, w in enumerate(saved)) > 1e-3


# --- configuration --------------------------------------------------------------------------------

def test_color_jitter_argument_generalises_color_strength():
    images = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    seed = tf.constant([3, 4])
    by_strength = augment.SimCLRTransform(16, color_strength=0.5)(images, seed)
    by_components = augment.SimCLRTransform(16, color_jitter=(0.4, 0.4, 0.4, 0.1))(images, seed)
    np.testing.assert_array_equal(by_strength, by_components)
    byol = augment.SimCLRTransform(16, color_jitter=(0.4, 0.4, 0.2, 0.1))(images, seed)
    assert np.abs(byol - by_strength).max() > 1e-3  # the saturation range differs
    restored = augment.SimCLRTransform.from_config(
        augment.SimCLRTransform(16, color_jitter=(0.4, 0.4, 0.2, 0.1)).get_config())
    assert restored.color_jitter == (0.4, 0.4, 0.2, 0.1)
    with pytest.raises(ValueError, match="color_jitter"):
        augment.SimCLRTransform(16, color_jitter=(0.4, 0.4))


def test_cli_builds_byol_with_asymmetric_views_and_the_run_length():
    config = validate_config(base_config("byol"))
    first, second = builders.build_transform(config).transforms
    assert (first.blur_probability, first.solarize_probability) == (1.0, 0.0)
    assert (second.blur_probability, second.solarize_probability) == (0.1, 0.2)
    assert first.color_jitter == second.color_jitter == (0.4, 0.4, 0.2, 0.1)
    config.model.projection_hidden_dims = config.model.prediction_hidden_dims = (16,)
    model = builders.build_method(config, tiny_encoder(), steps_per_epoch=7)
    assert model.total_steps == config.train.epochs * 7
    with pytest.raises(ValueError, match="steps_per_epoch"):
        builders.build_method(config, tiny_encoder())


def test_cli_builds_mocov3_with_the_authors_defaults_and_the_run_length():
    config = validate_config(base_config("mocov3"))
    first, second = builders.build_transform(config).transforms
    assert (first.blur_probability, second.solarize_probability) == (1.0, 0.2)
    m = config.model
    assert (m.temperature, m.base_momentum, m.projection_dim) == (1.0, 0.99, 256)
    config.model.projection_hidden_dims = config.model.prediction_hidden_dims = (16,)
    model = builders.build_method(config, tiny_encoder(), steps_per_epoch=7)
    assert model.total_steps == config.train.epochs * 7
    # The projector ends in batch norm without scale and shift (the authors' last_bn).
    assert not model.projector.out.use_bias
    assert (model.projector.output_bn.center, model.projector.output_bn.scale) == (False, False)


def test_cli_builds_mocov2():
    config = validate_config(base_config("mocov2"))
    view, _ = builders.build_transform(config).transforms
    assert view.blur_probability == 0.5 and view.crop_scale == (0.2, 1.0)
    config.model.projection_hidden_dims = (16,)
    model = builders.build_method(config, tiny_encoder())
    assert (model.queue_size, model.momentum, model.temperature) == (65536, 0.999, 0.2)


@pytest.mark.parametrize("method, key, value, message", [
    ("mocov2", "model.queue_size", 128, "model.queue_size"),
    ("mocov2", "model.bn_splits", 3, "model.bn_splits"),
    ("mocov2", "encoder.synchronized_bn", True, "model.shuffle_bn"),
    ("byol", "augment.blur_probabilities", (1.0,), "augment.blur_probabilities"),
    ("byol", "augment.solarize_probabilities", (0.0, 1.5), "augment.solarize_probabilities"),
    ("byol", "model.base_momentum", 1.5, "model.base_momentum"),
    ("mocov3", "model.base_momentum", -0.1, "model.base_momentum"),
    ("mocov3", "augment.blur_probabilities", (1.0,), "augment.blur_probabilities"),
])
def test_bad_momentum_method_configs_are_refused_naming_the_key(method, key, value, message):
    config = base_config(method)
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        validate_config(config)
