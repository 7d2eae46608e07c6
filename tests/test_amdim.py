"""AMDIM (Bachman et al. 2019): the NCE objective against a NumPy float64 reference, the mixture
objective (eq. 6-7) against its closed form, r1 = f1 and the views as the authors' code, the
encoder's receptive fields, save/load, and the CLI's encoder kind."""


import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

import keras

from keras_ssl.augment.amdim_views import SharedFlipViews, TranslateColorTransform
from keras_ssl.cli import builders
from keras_ssl.cli.config import base_config, load_recipe, validate_config
from keras_ssl.encoders import AMDIMEncoder
from keras_ssl.losses.amdim import amdim_loss, mixture_objective, nce_scores, soft_clip
from keras_ssl.methods import AMDIM

CLIP, LAMBDA = 20.0, 5e-2


def _np_nce(source, target, clip):
    """float64 log-softmax of each positive location, written directly (no masking trick):
    s_nce[i, l] = s(i, i, l) - log( exp s(i, i, l) + sum_{j != i, l'} exp s(i, j, l') )."""
    n, d = source.shape
    raw = np.einsum("id,jld->ijl", source, target) / np.sqrt(d)
    clipped = clip * np.tanh(raw / clip)
    out = np.zeros((n, target.shape[1]))
    for i in range(n):
        negatives = np.delete(clipped[i], i, axis=0).ravel()
        for loc in range(target.shape[1]):
            pos = clipped[i, i, loc]
            out[i, loc] = pos - logsumexp(np.concatenate([[pos], negatives]))
    return out, np.mean(raw ** 2)


def _features(n=5, d=12, seed=0, scale=6.0):
    rng = np.random.default_rng(seed)
    # Large enough that many scores pass c = 20 / sqrt(d) scaling into tanh's curved part.
    draw = lambda *shape: scale * rng.standard_normal(shape)  # noqa: E731
    return dict(r1_a=draw(n, d), r1_b=draw(n, d), r5_a=draw(n, 5, 5, d), r5_b=draw(n, 5, 5, d),
                r7_a=draw(n, 7, 7, d), r7_b=draw(n, 7, 7, d),
                index_a=rng.integers(0, 25, n), index_b=rng.integers(0, 25, n))


def _np_loss(f, clip=CLIP, lam=LAMBDA):
    n, d = f["r1_a"].shape
    flat = lambda r: r.reshape(n, -1, d)  # noqa: E731
    src5_a = flat(f["r5_a"])[np.arange(n), f["index_a"]]
    src5_b = flat(f["r5_b"])[np.arange(n), f["index_b"]]
    pairs = {"nce_1t5": [(f["r1_a"], f["r5_b"]), (f["r1_b"], f["r5_a"])],
             "nce_1t7": [(f["r1_a"], f["r7_b"]), (f["r1_b"], f["r7_a"])],
             "nce_5t5": [(src5_a, f["r5_b"]), (src5_b, f["r5_a"])]}
    terms, reg = {}, 0.0
    for name, directions in pairs.items():
        values = [_np_nce(s, flat(t), clip) for s, t in directions]
        terms[name] = -0.5 * sum(v[0].mean() for v in values)
        reg += 0.5 * sum(v[1] for v in values)
    terms["score_reg"] = lam * reg
    return sum(terms.values()), terms


def _tf_args(f, dtype=tf.float32):
    c = lambda k: tf.constant(f[k], dtype)  # noqa: E731
    return (c("r1_a"), c("r5_a"), c("r7_a"), c("r1_b"), c("r5_b"), c("r7_b"),
            tf.constant(f["index_a"]), tf.constant(f["index_b"]))


def test_soft_clip_is_c_tanh_s_over_c():
    s = np.linspace(-100, 100, 41)
    np.testing.assert_allclose(soft_clip(tf.constant(s, tf.float64), 20.0).numpy(),
                               20.0 * np.tanh(s / 20.0), rtol=1e-12)
    assert np.all(np.abs(soft_clip(tf.constant(s), 20.0).numpy()) < 20.0)


@pytest.mark.parametrize("scale", [1.0, 6.0])
def test_nce_scores_at_every_location_equal_numpy(scale):
    """Each scale pair's [n, L] positive-location scores and the squared-score mean, float64."""
    f = _features(scale=scale)
    n, d = f["r1_a"].shape
    for source, target in [(f["r1_a"], f["r5_b"]), (f["r1_a"], f["r7_b"]),
                           (f["r5_a"].reshape(n, 25, d)[:, 3], f["r5_b"])]:
        flat = target.reshape(n, -1, d)
        s_nce, sq = nce_scores(tf.constant(source), tf.constant(flat), CLIP)
        ref, ref_sq = _np_nce(source, flat, CLIP)
        assert s_nce.shape == ref.shape  # one score per positive location
        np.testing.assert_allclose(s_nce.numpy(), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(sq.numpy(), ref_sq, rtol=1e-5)


def test_clipping_changes_the_scores_here():
    """Guard: on these features the clip is active, so the equality above tests it."""
    f = _features(scale=6.0)
    source, target = f["r1_a"], f["r7_b"].reshape(5, 49, 12)
    clipped, _ = _np_nce(source, target, CLIP)
    unclipped, _ = _np_nce(source, target, 1e9)
    assert np.abs(clipped - unclipped).max() > 0.1


def test_final_loss_and_terms_equal_numpy():
    f = _features(scale=3.0)
    loss, terms = amdim_loss(*_tf_args(f), clip=CLIP, reg_weight=LAMBDA)
    ref_loss, ref_terms = _np_loss(f)
    for name, value in ref_terms.items():
        np.testing.assert_allclose(terms[name].numpy(), value, rtol=2e-5, err_msg=name)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=2e-5)
    # The regulariser is lambda x the raw scores' mean square, summed over the three pairs.
    loss_no_reg, _ = amdim_loss(*_tf_args(f), clip=CLIP, reg_weight=0.0)
    np.testing.assert_allclose(loss.numpy() - loss_no_reg.numpy(), ref_terms["score_reg"],
                               rtol=1e-4)


def _np_mixture(s, alpha):
    """Eq. (6)'s maximiser over the simplex in closed form, float64: q = softmax(s / alpha) over
    axis 1, H(q), and the maximum alpha logsumexp(s / alpha)."""
    q = np.exp(s / alpha - logsumexp(s / alpha, axis=1, keepdims=True))
    return q, -(q * np.log(q)).sum(axis=1), alpha * logsumexp(s / alpha, axis=1)


@pytest.mark.parametrize("alpha", [0.25, 1.0, 3.0])
def test_mixture_q_is_eq6s_closed_form_optimum(alpha):
    """q, H(q) and the objective equal NumPy's closed form; no other q on the simplex scores higher;
    and the gradient in s is q (the envelope theorem at the optimum)."""
    rng = np.random.default_rng(3)
    s_np = -rng.random((4, 3, 7)) * 5
    s = tf.Variable(s_np)
    with tf.GradientTape() as tape:
        objective, q, entropy = mixture_objective(s, alpha=alpha)
        total = tf.reduce_sum(objective)
    q_ref, h_ref, best = _np_mixture(s_np, alpha)
    np.testing.assert_allclose(q.numpy(), q_ref, rtol=1e-10)
    np.testing.assert_allclose(entropy.numpy(), h_ref, rtol=1e-10)
    np.testing.assert_allclose(objective.numpy(), best, rtol=1e-10)
    np.testing.assert_allclose(tape.gradient(total, s).numpy(), q_ref, rtol=1e-8, atol=1e-12)
    others = rng.dirichlet(np.ones(3), size=(500, 4, 7)).transpose(0, 1, 3, 2)  # [500, 4, 3, 7]
    values = (others * s_np).sum(axis=2) - alpha * (others * np.log(others)).sum(axis=2)
    assert (values <= best + 1e-9).all()


def test_mixture_loss_and_entropy_equal_numpy():
    """amdim_loss with k = 3 components: the (1, 5), (1, 7) terms are -mean(alpha logsumexp(
    s_nce / alpha)) over the components' NCE scores, the entropy term is H(q) averaged over the
    four global-source directions, all against NumPy float64."""
    alpha, k = 0.5, 3
    f = _features(scale=3.0)
    n, d = f["r1_a"].shape
    rng = np.random.default_rng(7)
    comps = {v: f[f"r1_{v}"][:, None] + 2.0 * rng.standard_normal((n, k, d)) for v in "ab"}
    args = list(_tf_args(f))
    args[0], args[3] = tf.constant(comps["a"], tf.float32), tf.constant(comps["b"], tf.float32)
    loss, terms = amdim_loss(*args, clip=CLIP, reg_weight=LAMBDA, alpha=alpha)

    _, ref_terms = _np_loss(f)
    entropies = []
    for name, key in (("nce_1t5", "r5"), ("nce_1t7", "r7")):
        values = []
        for src, trg in (("a", "b"), ("b", "a")):
            target = f[f"{key}_{trg}"].reshape(n, -1, d)
            s_nce = np.stack([_np_nce(comps[src][:, c], target, CLIP)[0] for c in range(k)], 1)
            _, h, best = _np_mixture(s_nce, alpha)
            values.append(-best.mean())
            entropies.append(h.mean())
        np.testing.assert_allclose(terms[name].numpy(), np.mean(values), rtol=2e-5, err_msg=name)
    np.testing.assert_allclose(terms["nce_5t5"].numpy(), ref_terms["nce_5t5"], rtol=2e-5)
    np.testing.assert_allclose(terms["entropy"].numpy(), np.mean(entropies), rtol=1e-4)
    assert np.mean(entropies) > 0.05  # the components differ, so H(q) is no trivial 0 or log k
    assert np.mean(entropies) < np.log(k) - 0.05


def test_one_mixture_component_is_the_plain_objective():
    f = _features(scale=3.0)
    plain, _ = amdim_loss(*_tf_args(f))
    args = list(_tf_args(f))
    args[0], args[3] = args[0][:, None], args[3][:, None]  # k = 1 components
    mixed, terms = amdim_loss(*args, alpha=0.3)
    np.testing.assert_allclose(mixed.numpy(), plain.numpy(), rtol=1e-6)
    assert terms["entropy"].numpy() == pytest.approx(0.0, abs=1e-6)


def test_default_regulariser_is_the_codes_5e_2():
    """lambda = 5e-2 (the authors' costs.py) in the loss, the method and the registry; the loss's
    regulariser is lambda x the raw scores' mean square summed over the three pairs (NumPy)."""
    f = _features(scale=3.0)
    loss, _ = amdim_loss(*_tf_args(f))
    no_reg, _ = amdim_loss(*_tf_args(f), reg_weight=0.0)
    _, ref_terms = _np_loss(f, lam=1.0)
    np.testing.assert_allclose(loss.numpy() - no_reg.numpy(), 5e-2 * ref_terms["score_reg"],
                               rtol=1e-4)
    assert base_config("amdim").model.reg_weight == 5e-2
    assert AMDIM(AMDIMEncoder(ndf=4, n_rkhs=16, n_depth=1)).reg_weight == 5e-2


def test_r1_is_f1_as_the_codes_nopnet():
    """The NCE's global source is f1 itself, the vector the probes read (model(x)); the only
    trainable weights beside the encoder's are phi_5 and phi_7."""
    encoder = AMDIMEncoder(ndf=4, n_rkhs=16, n_depth=1)
    model = AMDIM(encoder)
    model.build((None, 32, 32, 3))
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    r1, r5, r7 = model.embed(x, training=False)
    f1 = encoder.feature_maps()(x, training=False)[0]
    np.testing.assert_array_equal(r1.numpy(), f1.numpy().reshape(3, 16))
    np.testing.assert_array_equal(r1.numpy(), model(x, training=False).numpy())
    heads = len(model.phi5.trainable_weights) + len(model.phi7.trainable_weights)
    assert len(model.trainable_weights) == len(encoder.trainable_weights) + heads
    assert r5.shape == (3, 5, 5, 16) and r7.shape == (3, 7, 7, 16)


def _np_translate(image, dy, dx):
    """The code's RandomTranslateWithReflect by (dy, dx), in NumPy: reflect-pad, then crop."""
    h, w, _ = image.shape
    padded = np.pad(image, [(4, 4), (4, 4), (0, 0)], mode="reflect")
    return padded[4 - dy:4 - dy + h, 4 - dx:4 - dx + w]


def _geometry_only(name):
    config = load_recipe(name)
    config.augment.color_jitter_probability = 0.0
    config.augment.grayscale_probability = 0.0
    return config


@pytest.mark.parametrize("name", ["amdim_cifar10", "quickstart_amdim"])
def test_cifar_recipes_views_are_the_codes_transforms_c10(name):
    """With colour off, each view is the image translated by (dy, dx) in [-4, 4]^2 with reflection
    (NumPy), or itself (p 0.2 + 0.8 / 81), after one flip shared by both views (p 0.5); no crop."""
    config = _geometry_only(name)
    transform = builders.build_transform(validate_config(config))
    images = np.random.default_rng(0).integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    views = [v.numpy() for v in transform(images, tf.constant([5, 6]))]
    x = images.astype(np.float64) / 255.0
    shifts = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)]
    found = np.zeros((2, len(x), 2), int)
    flips = np.zeros((2, len(x)), bool)
    for i, image in enumerate(x):
        # [2 flips x 81 shifts, 32, 32, 3]: every geometry the code can give this image.
        candidates = np.stack([_np_translate(source, dy, dx) for source in (image, image[:, ::-1])
                               for dy, dx in shifts])
        for v in range(2):
            match = np.flatnonzero(np.abs(candidates - views[v][i]).max(axis=(1, 2, 3)) < 1e-5)
            assert len(match) == 1, (name, v, i, len(match))
            flips[v, i], found[v, i] = match[0] >= len(shifts), shifts[match[0] % len(shifts)]
    np.testing.assert_array_equal(flips[0], flips[1])  # one flip for both views
    assert 0.38 < flips[0].mean() < 0.62
    unmoved = (found == 0).all(axis=2).mean()
    assert 0.21 - 0.08 < unmoved < 0.21 + 0.08  # 1 - 0.8 * 80 / 81
    assert np.abs(found).max() == 4
    assert (found[0] != found[1]).any(axis=1).mean() > 0.5  # each view translates on its own


def test_stl_and_imagenet_views_share_one_flip():
    """TransformsSTL10 / ImageNet128 flip the image once before both resized crops: with the crop
    at the whole image and colour off, the two views of an image are equal, flipped or not."""
    for name, size in (("amdim_stl10", 64), ("amdim_imagenet", 128)):
        config = _geometry_only(name)
        config.augment.crop_scale = (1.0, 1.0)
        config.augment.crop_ratio = (1.0, 1.0)
        transform = builders.build_transform(validate_config(config))
        images = np.random.default_rng(1).integers(0, 256, (64, size, size, 3), dtype=np.uint8)
        v1, v2 = (v.numpy() for v in transform(images, tf.constant([3, 4])))
        x = images / 255.0
        flipped = np.abs(v1 - x[:, :, ::-1]).max(axis=(1, 2, 3)) < 1e-4
        kept = np.abs(v1 - x).max(axis=(1, 2, 3)) < 1e-4
        assert (flipped | kept).all() and 0.25 < flipped.mean() < 0.75
        np.testing.assert_allclose(v1, v2, atol=1e-6)


def test_view_transforms_round_trip_their_config():
    views = SharedFlipViews([TranslateColorTransform(3, 0.5, (0.1, 0.2, 0.3, 0.05), 0.7, 0.1)] * 2,
                            flip_probability=0.25)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(views))
    assert again.get_config() == views.get_config() and again.flip_probability == 0.25
    images = np.random.default_rng(2).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    for a, b in zip(views(images, tf.constant([1, 2])), again(images, tf.constant([1, 2]))):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _random_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "moving_variance" in w.path:
            continue
        w.assign(rng.uniform(0.2, 1.0, w.shape).astype("float32")
                 if "gamma" in w.path else rng.standard_normal(w.shape).astype("float32") * 0.3)


@pytest.mark.parametrize("scale,i,j", [(7, 3, 2), (7, 0, 6), (5, 2, 1)])
def test_receptive_field_of_a_local_feature(scale, i, j):
    """d f_scale[i, j] / d image is non-zero exactly inside receptive_field(scale, i, j)
    (32x32: f7 sees 8x8 windows with stride 4, f5 16x16 with stride 4)."""
    encoder = AMDIMEncoder(ndf=4, n_rkhs=16, n_depth=2, use_bn=True)
    _random_weights(encoder)  # the zero-init residual branches would otherwise hide their convs
    maps = encoder.feature_maps()
    x = tf.Variable(np.random.default_rng(1).random((4, 32, 32, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        f1, f5, f7 = maps(x, training=False)
        target = {5: f5, 7: f7}[scale][:, i, j, :]
        value = tf.reduce_sum(target * tf.random.stateless_normal(target.shape, [1, 2]))
    support = np.abs(tape.gradient(value, x).numpy()).sum(axis=(0, 3)) > 0
    r0, r1, c0, c1 = encoder.receptive_field(scale, i, j)
    assert (r1 - r0, c1 - c0) == {7: (8, 8), 5: (16, 16)}[scale]
    inside = np.zeros_like(support)
    inside[r0:r1, c0:c1] = True
    assert not support[~inside].any()
    rows, cols = np.nonzero(support)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (r0, r1, c0, c1)


def test_encoder_sizes_save_load_and_feature_maps(tmp_path):
    for size, f7_channels in ((32, 16), (64, 32), (128, 32)):
        e = AMDIMEncoder(ndf=4, n_rkhs=32, n_depth=1, input_shape=(size, size, 3))
        shapes = [tuple(s[1:]) for s in e.feature_maps().output_shape]
        assert shapes == [(1, 1, 32), (5, 5, f7_channels), (7, 7, f7_channels)]
    encoder = AMDIMEncoder(ndf=4, n_rkhs=16, n_depth=2)
    _random_weights(encoder)
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    path = tmp_path / "amdim.keras"
    encoder.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, AMDIMEncoder) and loaded.output_dim == 16
    np.testing.assert_allclose(loaded(x).numpy(), encoder(x).numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(loaded.feature_maps()(x), encoder.feature_maps()(x)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="input_shape"):
        AMDIMEncoder(ndf=4, n_rkhs=16, input_shape=(48, 48, 3))


def test_method_trains_with_mixtures_and_round_trips(tmp_path):
    encoder = AMDIMEncoder(ndf=4, n_rkhs=16, n_depth=1)
    model = AMDIM(encoder, num_mixtures=3, entropy_weight=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).random((2, 8, 32, 32, 3)).astype("float32")
    history = model.fit(tf.data.Dataset.from_tensor_slices((x[0], x[1])).batch(4), epochs=2,
                        shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "method.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert (loaded.num_mixtures, loaded.entropy_weight) == (3, 0.1)
    np.testing.assert_allclose(loaded.predict(x[0], verbose=0), model.predict(x[0], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_cli_encoder_kind():
    config = base_config("amdim", encoder="amdim")
    config.encoder.update(ndf=4, n_rkhs=16, n_depth=1)
    validate_config(config)
    encoder = builders.build_encoder(config)
    assert isinstance(encoder, AMDIMEncoder) and encoder.n_rkhs == 16
    for key, value in [("kind", "vgg"), ("ndf", 0), ("n_rkhs", 8)]:
        bad = base_config("amdim", encoder="amdim")
        bad.encoder.update(ndf=4, n_rkhs=16, n_depth=1)
        bad.encoder[key] = value
        with pytest.raises(ValueError, match=f"encoder.{key}"):
            validate_config(bad)
    config.lock()  # as the CLI loads recipes: an unknown key (here a ResNet's) is refused
    with pytest.raises(AttributeError, match="width"):
        config.encoder.width_multiplier = 3
    resnet = base_config("simclr")
    assert resnet.encoder.kind == "resnet"
    assert builders.build_encoder(resnet).__class__.__name__ == "ResNet"
    with pytest.raises(ValueError, match="feature_maps"):
        AMDIM(builders.build_encoder(base_config("amdim")))  # a ResNet has no f1/f5/f7
