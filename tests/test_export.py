"""Tests for keras_ssl.export.export_encoder.

The exported SavedModel is checked in fresh Python processes that import
only TensorFlow and NumPy, as a user without keras_ssl would.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.export import export_encoder

SIZE = 16


def _tiny_encoder(size=SIZE):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x, name="encoder")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    encoder = _tiny_encoder()
    # Non-trivial moving statistics, so inference mode is really tested.
    bn = encoder.get_layer("bn")
    bn.moving_mean.assign([0.1, -0.2, 0.3, 0.0])
    bn.moving_variance.assign([0.5, 2.0, 1.5, 1.0])
    export_dir = str(work / "saved_model")
    assert export_encoder(encoder, export_dir, SIZE) == export_dir

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, SIZE, SIZE, 3)).astype("uint8")
    expected = encoder(images.astype("float32") / 255.0, training=False)
    # A larger and a grey-scale image exercise decoding and resizing.
    large = rng.integers(0, 256, (20, 24, 3)).astype("uint8")
    grey = rng.integers(0, 256, (SIZE, SIZE, 1)).astype("uint8")
    resized = tf.image.resize(large, [SIZE, SIZE], antialias=True)
    others = np.stack([resized.numpy(), np.repeat(grey, 3, axis=-1)])
    expected_others = encoder(others.astype("float32") / 255.0,
                              training=False)
    # The fine-tuning script's steps on the Keras encoder itself (after the
    # export, so they change nothing exported): the gradients of an
    # inference-mode loss, one SGD step, then a training-mode loss's gradients
    # and the moving statistics it leaves.
    x = tf.constant(images.astype("float32") / 255.0)

    def gradients(training):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(encoder(x, training=training) - 1.0))
        return [g.numpy() for g in tape.gradient(loss, encoder.trainable_variables)]

    inference = gradients(False)
    for v, g in zip(encoder.trainable_variables, inference):
        v.assign_sub(0.05 * g)
    training = gradients(True)
    moving = [v.numpy() for v in encoder.non_trainable_variables]
    np.savez(
        work / "reference.npz", images=images, expected=np.asarray(expected),
        large=large, grey=grey, expected_others=np.asarray(expected_others),
        **{f"inference_grad{i}": g for i, g in enumerate(inference)},
        **{f"training_grad{i}": g for i, g in enumerate(training)},
        **{f"moving{i}": m for i, m in enumerate(moving)})
    return export_dir, str(work / "reference.npz")


def _run_fresh(script, *args):
    """Runs `script` in a new interpreter that cannot import keras_ssl."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env, cwd=os.path.dirname(args[0]), capture_output=True,
        text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    return result.stdout


_SERVING_SCRIPT = """
    import sys
    import numpy as np
    import tensorflow as tf

    export_dir, reference = sys.argv[1:]
    ref = np.load(reference)
    loaded = tf.saved_model.load(export_dir)

    serve = loaded.signatures["serving_default"]
    out = serve(images=tf.constant(ref["images"]))
    assert list(out) == ["embeddings"], list(out)
    assert out["embeddings"].dtype == tf.float32
    np.testing.assert_allclose(out["embeddings"], ref["expected"], atol=1e-5)

    # PNG is lossless, so decoding gives back the same pixels.
    pngs = [tf.io.encode_png(image).numpy() for image in ref["images"]]
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(pngs))
    np.testing.assert_allclose(out["embeddings"], ref["expected"], atol=1e-5)
    others = [tf.io.encode_png(ref["large"]).numpy(),
              tf.io.encode_png(ref["grey"]).numpy()]
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(others))
    np.testing.assert_allclose(
        out["embeddings"], ref["expected_others"], atol=1e-5)

    assert "keras_ssl" not in sys.modules
    print("SERVING_OK")
"""


def test_serving_signatures_in_fresh_process(exported):
    assert "SERVING_OK" in _run_fresh(_SERVING_SCRIPT, *exported)


_FINETUNE_SCRIPT = """
    import sys
    import numpy as np
    import tensorflow as tf

    export_dir, reference = sys.argv[1:]
    ref = np.load(reference)
    loaded = tf.saved_model.load(export_dir)

    names = sorted(v.name for v in loaded.trainable_variables)
    assert names == ["bn/beta:0", "bn/gamma:0", "conv/bias:0",
                     "conv/kernel:0"], names
    assert all(v.trainable for v in loaded.trainable_variables)
    assert sorted(v.name for v in loaded.non_trainable_variables) == [
        "bn/moving_mean:0", "bn/moving_variance:0"]

    images = tf.constant(ref["images"].astype("float32") / 255.0)
    np.testing.assert_allclose(loaded.embed(images), ref["expected"],
                               atol=1e-5)
    target = tf.ones_like(ref["expected"])

    def loss_fn():
        return tf.reduce_mean(tf.square(loaded.embed(images) - target))

    # Inference mode: the Keras encoder's gradients; one plain step moves the
    # loaded variables the embedding reads.
    with tf.GradientTape() as tape:
        loss_before = loss_fn()
    variables = loaded.trainable_variables
    grads = tape.gradient(loss_before, variables)
    for i, g in enumerate(grads):
        assert g is not None, variables[i].name
        np.testing.assert_allclose(g, ref[f"inference_grad{i}"], rtol=1e-4,
                                   atol=1e-6, err_msg=variables[i].name)
    assert float(tf.linalg.global_norm(grads)) > 1e-3
    for v, g in zip(variables, grads):
        v.assign_sub(0.05 * g)
    assert float(tf.reduce_max(tf.abs(loaded.embed(images) - ref["expected"]))) > 1e-4

    # Training mode: batch statistics (the Keras encoder's training-mode
    # gradients) and the moving statistics updated as Keras updates them.
    moving = [v.numpy() for v in loaded.non_trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(
            tf.square(loaded.embed_training(images) - target))
    grads = tape.gradient(loss, loaded.trainable_variables)
    for i, g in enumerate(grads):
        assert g is not None, variables[i].name
        np.testing.assert_allclose(g, ref[f"training_grad{i}"], rtol=1e-4,
                                   atol=1e-6, err_msg=variables[i].name)
    for i, v in enumerate(loaded.non_trainable_variables):
        assert np.abs(moving[i] - v.numpy()).max() > 0, v.name
        np.testing.assert_allclose(v.numpy(), ref[f"moving{i}"], rtol=1e-5,
                                   atol=1e-6, err_msg=v.name)

    assert "keras_ssl" not in sys.modules
    print("FINETUNE_OK")
"""


@pytest.fixture(scope="module")
def exported_resnet(tmp_path_factory):
    """A 32x32 1/8-width ResNet-18 exported, with 40x40 and 32x32 images and their references."""
    from keras_ssl.encoders import ResNet

    work = tmp_path_factory.mktemp("export_resnet")
    keras.utils.set_random_seed(0)
    encoder = ResNet(depth=18, width_multiplier=0.125, stem="cifar", stem_stride=2,
                     input_shape=(32, 32, 3))
    export_dir = export_encoder(encoder, str(work / "saved_model"), 32)
    rng = np.random.default_rng(2)
    large = rng.integers(0, 256, (3, 40, 40, 3)).astype("uint8")
    exact = rng.integers(0, 256, (3, 32, 32, 3)).astype("uint8")
    resized = tf.image.resize(large, [32, 32], antialias=True) / 255.0
    np.savez(work / "reference.npz", large=large, exact=exact,
             expected_large=np.asarray(encoder(resized, training=False)),
             expected_exact=np.asarray(encoder(exact / 255.0, training=False)))
    return export_dir, str(work / "reference.npz")


_RESIZE_SCRIPT = """
    import sys
    import numpy as np
    import tensorflow as tf

    export_dir, reference = sys.argv[1:]
    ref = np.load(reference)
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]

    spec = serve.structured_input_signature[1]["images"]
    assert spec.shape.as_list() == [None, None, None, 3], spec
    # Images of another size are resized to 32x32 as serving_bytes does.
    out = serve(images=tf.constant(ref["large"]))["embeddings"]
    np.testing.assert_allclose(out, ref["expected_large"], atol=1e-5)
    # 32x32 images go in as they are.
    out = serve(images=tf.constant(ref["exact"]))["embeddings"]
    np.testing.assert_allclose(out, ref["expected_exact"], atol=1e-5)

    for channels in (1, 4):
        images = tf.zeros([2, 32, 32, channels], tf.uint8)
        try:
            serve(images=images)
        except tf.errors.InvalidArgumentError as e:
            assert "[N, H, W, 3]" in e.message and f"{channels} channels" in e.message, e.message
        else:
            raise AssertionError(f"{channels}-channel images were accepted")

    assert "keras_ssl" not in sys.modules
    print("RESIZE_OK")
"""


def test_serving_default_resizes_other_sizes_in_fresh_process(exported_resnet):
    assert "RESIZE_OK" in _run_fresh(_RESIZE_SCRIPT, *exported_resnet)


def test_loaded_model_is_fine_tunable_in_fresh_process(exported):
    assert "FINETUNE_OK" in _run_fresh(_FINETUNE_SCRIPT, *exported)


def test_saved_model_cli_lists_both_signatures(exported):
    export_dir, _ = exported
    cli = shutil.which("saved_model_cli")
    command = ([cli] if cli else
               [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])
    result = subprocess.run(
        command + ["show", "--all", "--dir", export_dir],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    default = out.split("signature_def['serving_default']")[1]
    default = default.split("signature_def[")[0]
    assert "inputs['images']" in default and "DT_UINT8" in default
    assert "shape: (-1, -1, -1, 3)" in default  # any size, resized to SIZE x SIZE
    assert "outputs['embeddings']" in default and "shape: (-1, 4)" in default
    by_bytes = out.split("signature_def['serving_bytes']")[1]
    by_bytes = by_bytes.split("signature_def[")[0]
    assert "inputs['image_bytes']" in by_bytes and "DT_STRING" in by_bytes
    assert "outputs['embeddings']" in by_bytes


def test_export_rejects_bad_arguments(tmp_path):
    encoder = _tiny_encoder()
    with pytest.raises(ValueError, match="image_size"):
        export_encoder(encoder, tmp_path / "a", image_size=(16,))
    with pytest.raises(ValueError, match="image_size"):
        export_encoder(encoder, tmp_path / "a", image_size=0)
    with pytest.raises(ValueError, match="Keras layer or model"):
        export_encoder(lambda x: x, tmp_path / "a", image_size=16)
    unpooled = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        export_encoder(unpooled, tmp_path / "a", image_size=SIZE)
    with pytest.raises(ValueError, match=r"image_size=\(12, 20\)"):
        export_encoder(encoder, tmp_path / "a", image_size=(12, 20))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="overwrite=True"):
        export_encoder(encoder, tmp_path / "full", image_size=SIZE)


def test_export_overwrite_and_rectangular_size(tmp_path):
    encoder = _tiny_encoder(size=None)  # accepts any image size
    target = tmp_path / "model"
    export_encoder(encoder, target, image_size=SIZE)
    export_encoder(encoder, target, image_size=(12, 20), overwrite=True)
    loaded = tf.saved_model.load(str(target))
    assert loaded.embed.input_signature[0].shape.as_list() == [None, 12, 20, 3]
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 12, 20, 3)).astype("uint8")
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(
        out["embeddings"],
        encoder(images.astype("float32") / 255.0, training=False), atol=1e-5)
    # Another size is resized to (height, width) = (12, 20), not (20, 12).
    images = rng.integers(0, 256, (2, 20, 12, 3)).astype("uint8")
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    resized = tf.image.resize(images, [12, 20], antialias=True) / 255.0
    np.testing.assert_allclose(
        out["embeddings"], encoder(resized, training=False), atol=1e-5)
