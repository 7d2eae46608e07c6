"""Every registered method, used as a user would after pretraining, on a real image folder.

For each name in the method registry, its quickstart recipe (`quickstart_<name>`) is built
through the registry, trained a few steps with plain `model.fit`, and then: `model(images)` and
`model.predict` return the encoder's representation (that of the config's whole-image encoder built
afresh from the trained weights), a `.keras` save -> load gives equal embeddings,
and `keras-ssl export` writes a SavedModel whose `serving_default` and `serving_bytes` give the same
embeddings in a fresh process without keras_ssl. A new method gets these checks by registering.
"""

import io
import json
import os
import subprocess
import sys
import textwrap
import warnings

import keras
import ml_collections
import numpy as np
import pytest
from PIL import Image

from helpers import subprocess_env
from keras_ssl import data
from keras_ssl.cli import builders
from keras_ssl.cli.config import base_config, load_recipe, recipe_names, validate_config
from keras_ssl.cli.workdir import Workdir
from keras_ssl.methods import registry

BATCH = 16


def run(*args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_methods_are_registered():
    assert {"byol", "mocov2", "rotnet", "simclr"} <= set(registry.names())
    with pytest.raises(ValueError, match="one of .*simclr"):
        registry.get("simclr2")


def test_a_method_name_is_registered_once():
    with pytest.raises(ValueError, match="registered already"):
        registry.register("simclr", object, model={}, augment={}, views=None)


@pytest.mark.parametrize("name", registry.names())
def test_base_config_holds_the_registered_defaults(name):
    spec = registry.get(name)
    config = validate_config(base_config(name))
    assert config.model.to_dict() == spec.default_model()
    assert config.augment.to_dict() == spec.default_augment()
    # Defaults are copies: a recipe changing its config does not change the registry's.
    spec.default_model().clear()
    assert spec.default_model() == spec.model != {}


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_is_a_valid_config_of_a_registered_method(name):
    config = validate_config(load_recipe(name))
    assert config.method in registry.names()


@pytest.mark.parametrize("name", registry.names())
def test_every_method_has_a_quickstart_recipe(name):
    assert load_recipe(f"quickstart_{name}").method == name


@pytest.mark.parametrize("name", registry.names())
def test_preview_draws_every_methods_quickstart(name, tiny_cifar10, tmp_path):
    from keras_ssl.cli.preview import preview

    config = load_recipe(f"quickstart_{name}")
    config.data.source = f"folder:{tiny_cifar10}"
    png = preview(config, str(tmp_path / "views.png"), num_images=2)
    with open(png, "rb") as image:
        assert image.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", registry.names())
def test_the_random_init_baseline_is_the_architecture_the_method_embeds_images_with(
        name, tiny_cifar10):
    config = load_recipe(f"quickstart_{name}")
    config.data.source = f"folder:{tiny_cifar10}"
    model = builders.build_method(config, builders.build_encoder(config), steps_per_epoch=10)
    baseline = builders.build_whole_image_encoder(config)
    layers = lambda encoder: [type(layer).__name__ for layer in encoder.layers]
    assert layers(baseline) == layers(model.encoder)
    assert baseline.count_params() == model.encoder.count_params()


def test_import_keras_ssl_reaches_its_subpackages():
    """The style of every class docstring, in a fresh process where nothing imported them yet."""
    out = run("-c", "import keras_ssl\n"
              "model = keras_ssl.methods.SimCLR(keras_ssl.encoders.ResNet18(stem='cifar'))\n"
              "print(type(model).__name__)")
    assert out.strip().endswith("SimCLR")


# Second cases of a family, run on demand: one method per family runs in CI. MoCo v2's case takes
# the longest (~80 s here); BYOL stands for the momentum methods (MoCo v3 is its subclass),
# SimCLR for the contrastive ones with a memory (NNCLR) and Barlow Twins for VICReg (the same
# ProjectedPair base and views; their losses are tested on their own).
SECOND_OF_FAMILY = {"mocov2", "mocov3", "nnclr", "colorization", "context_encoder", "counting",
                    "jigsaw", "vicreg"}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.slow] if n in SECOND_OF_FAMILY else [])
    for n in registry.names()])
def test_after_fit_the_model_is_its_encoder_and_saves_loads_and_exports(name, tiny_cifar10,
                                                                         tmp_path):
    config = load_recipe(f"quickstart_{name}")
    assert config.method == name
    config.data.source = f"folder:{tiny_cifar10}"
    config.train.batch_size = BATCH
    config = validate_config(config)
    images, labels, _ = builders.load_split(config, "train")
    steps = len(images) // BATCH
    keras.utils.set_random_seed(0)
    model = builders.build_method(config, builders.build_encoder(config), steps_per_epoch=steps)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    dataset = data.pretraining_dataset(None, BATCH, builders.build_transform(config), seed=0,
                                       arrays=(images, labels))
    history = model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][-1])

    test_images, _, _ = builders.load_split(config, "test")
    x = test_images.astype("float32") / 255.0
    embeddings = keras.ops.convert_to_numpy(model(x))
    assert embeddings.shape == (len(x), model.encoder.output_shape[-1])
    # The encoder's representation in inference mode, whatever `call` does: the config's
    # whole-image architecture built afresh (what eval and export use) and given the trained
    # weights through a file embeds the same.
    weights = str(tmp_path / "encoder.weights.h5")
    model.encoder.save_weights(weights)
    fresh = builders.build_whole_image_encoder(config)
    assert np.abs(keras.ops.convert_to_numpy(fresh(x)) - embeddings).max() > 1e-3  # not by luck
    fresh.load_weights(weights)
    np.testing.assert_allclose(fresh(x), embeddings, rtol=1e-5, atol=1e-5)
    # predict runs other batch sizes, so float32 sums round differently: relative to the embeddings'
    # scale (Counting's are ~300 after this short fit).
    np.testing.assert_allclose(model.predict(x, verbose=0), embeddings, rtol=1e-5, atol=1e-5)

    path = str(tmp_path / "model.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.save(path)
    assert not [w for w in caught if "built" in str(w.message)]
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded(x), embeddings, rtol=1e-5, atol=1e-5)

    # What `keras-ssl train` leaves in its workdir, then `keras-ssl export` and TF Serving's view.
    wd = Workdir(str(tmp_path / "run"))
    wd.save_config(config)
    model.encoder.save(wd.encoder_path)
    run("-m", "keras_ssl.cli.main", "export", f"--workdir={wd.path}")
    pngs = []
    for image in test_images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        pngs.append(buffer.getvalue().hex())
    np.save(tmp_path / "images.npy", test_images)
    (tmp_path / "pngs.json").write_text(json.dumps(pngs))
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf
        assert "keras_ssl" not in sys.modules
        loaded = tf.saved_model.load({wd.export_dir!r})
        images = np.load({str(tmp_path / "images.npy")!r})
        pngs = [bytes.fromhex(h) for h in json.load(open({str(tmp_path / "pngs.json")!r}))]
        by_array = loaded.signatures["serving_default"](images=tf.constant(images))
        by_bytes = loaded.signatures["serving_bytes"](image_bytes=tf.constant(pngs))
        print(json.dumps([by_array["embeddings"].numpy().tolist(),
                          by_bytes["embeddings"].numpy().tolist()]))
    """)
    served_array, served_bytes = json.loads(run("-c", script).strip().splitlines()[-1])
    np.testing.assert_allclose(served_array, embeddings, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(served_bytes, embeddings, rtol=1e-5, atol=1e-5)


UNSET_OVERRIDES = {int: ("7", 7), tuple: ("(0.3,1.0)", (0.3, 1.0))}


@pytest.mark.parametrize("name", registry.names())
def test_every_default_can_be_overridden_on_the_command_line(name, tmp_path):
    """A default left to the method (None) is typed (`registry.unset`), so that `--config.a.b=v`
    sets it: ml_collections refuses to override a bare None."""
    spec = registry.get(name)
    unset = [(section, key, value.get_type())
             for section, defaults in (("model", spec.model), ("augment", spec.augment))
             for key, value in defaults.items()
             if isinstance(value, ml_collections.FieldReference)]
    bare = [f"{s}.{k}" for s, d in (("model", spec.model), ("augment", spec.augment))
            for k, v in d.items() if v is None]
    assert not bare, f"bare None defaults, not overridable: {bare}"
    if not unset:
        return
    recipe = tmp_path / "recipe.py"
    recipe.write_text("from keras_ssl.cli.config import base_config\n\n\n"
                      f"def get_config():\n    return base_config({name!r})\n")
    # As `keras-ssl` parses them: absl's flags with ml_collections' config flag, in a process.
    parse = textwrap.dedent("""
        from absl import app
        from ml_collections import config_flags
        config = config_flags.DEFINE_config_file("config", None, lock_config=True)
        app.run(lambda _: print("CONFIG " + config.value.to_json_best_effort()))
    """)
    run = subprocess.run([sys.executable, "-c", parse, f"--config={recipe}",
                          *(f"--config.{s}.{k}={UNSET_OVERRIDES[t][0]}" for s, k, t in unset)],
                         env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    parsed = json.loads(run.stdout.split("CONFIG ", 1)[1])
    for section, key, field_type in unset:
        assert tuple(np.ravel(parsed[section][key])) == tuple(np.ravel(
            UNSET_OVERRIDES[field_type][1])), (section, key)
        assert base_config(name)[section][key] is None  # the method derives it by default
