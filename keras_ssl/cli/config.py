"""The config schema shared by all recipes, their names, and the config's validation.

A recipe is a module with `get_config()`: the packaged ones are the modules of `keras_ssl.configs`,
named by their file stem (`keras-ssl train --config=simclr_cifar10`, `keras-ssl recipes` lists them);
a user's own recipe is passed by path. A recipe starts from `base_config(method)` (or
`base_config(method, encoder="amdim")`: the encoder is chosen there, its keys come with it), which
holds every key the CLI reads, sets its values and returns the locked ConfigDict, so that
`--config.a.b=v` overrides of keys that do not exist are refused.
"""

import ast
import importlib.util
import os

import ml_collections

import keras_ssl.configs
from keras_ssl.cli import UsageError
from keras_ssl.config_checks import check, positive, positive_int, probability
from keras_ssl.data.bad_images import ON_BAD_IMAGE
from keras_ssl.data.device_augmentation import AUGMENT_ON
from keras_ssl.data.service import check_service_address
from keras_ssl.encoders import registry as encoders
from keras_ssl.methods import registry

_OPTIMIZERS = ("lars", "sgd", "adamw")
_LR_SCALINGS = ("linear", "sqrt")
_PRECISIONS = ("float32", "bfloat16", "float16")
_PIPELINES = ("auto", "memory", "streaming")


def _maybe(value, field_type):
    return ml_collections.FieldReference(value, field_type=field_type)


def base_config(method, encoder="resnet"):
    """Every key the CLI reads, with the defaults of `method` (a name in the method registry) and
    of `encoder` (a name in the encoder registry, `keras_ssl.encoders.registry`)."""
    spec = registry.get(method)
    c = ml_collections.ConfigDict()
    c.method = method
    c.seed = 0
    # Compute dtype of the layers ("bfloat16": TPUs and recent CPUs/GPUs; "float16": GPUs, with loss
    # scaling). Variables, losses, softmax and batch norm stay float32.
    c.mixed_precision = "float32"
    c.data = data_config()
    # The encoder's own keys (its registration) beside the two every encoder has.
    c.encoder = ml_collections.ConfigDict(dict(
        kind=encoder, **encoders.get(encoder).default_config(), synchronized_bn=False))
    # The method's own sections, the defaults its module registers (keras_ssl.methods.registry).
    c.model, c.augment = spec.config_sections()
    c.train = ml_collections.ConfigDict(dict(
        batch_size=256,  # global batch
        epochs=100,
        optimizer="lars",
        base_learning_rate=0.3,
        learning_rate_scaling="linear",  # peak lr = base * batch / 256 ("sqrt": base * sqrt(batch))
        warmup_epochs=10.0,
        momentum=0.9,
        weight_decay=1e-6,
        max_minutes=_maybe(None, float),  # stop early (after a batch) once this much time has passed
        checkpoint_every_steps=_maybe(500, int),  # and after every epoch; None: epoch ends only
        deterministic=False,  # tf.config.experimental.enable_op_determinism (slower)
    ))
    c.eval = eval_config()
    return c


def upgrade_config(config):
    """A config dict as a run's config.json holds it, in today's layout: runs of earlier versions
    hold, whatever their encoder, the ResNet's keys in `encoder` beside an `amdim` subsection (and
    before AMDIM, no `kind`); today the section holds `kind`, `synchronized_bn` and that encoder's
    own keys (`keras_ssl.encoders.registry`). Runs from before `data.augment_on` augmented on
    the host. Other configs are returned as they are."""
    data = config.get("data")
    if isinstance(data, dict) and "augment_on" not in data:
        config = {**config, "data": {**data, "augment_on": "host"}}
    e = config["encoder"]
    if "kind" in e and not isinstance(e.get("amdim"), dict):
        return config
    kind = e.get("kind", "resnet")
    own = e["amdim"] if kind == "amdim" else e
    section = dict(kind=kind, **{key: own[key] for key in encoders.get(kind).config},
                   synchronized_bn=e["synchronized_bn"])
    return {**config, "encoder": section}


def data_config():
    """The `data` section's defaults, the same for every method."""
    return ml_collections.ConfigDict(dict(
        # tfds:NAME, folder:/path (labelled <split>/<class>/*, unlabeled <split>/**/* or a flat
        # folder), tfrecord:PATTERN; any tf.io.gfile path (gs://, ram://).
        source="tfds:cifar10",
        # Labelled source for `keras-ssl eval` when `source` has no labels (default: `source`).
        eval_source=_maybe(None, str),
        image_size=32,
        train_split="train",
        test_split="test",
        max_train_examples=_maybe(None, int),  # in-memory pipeline only
        # "memory" decodes the train split into RAM (small data, fastest); "streaming" reads,
        # decodes and crops the original images batch by batch; "auto" keeps in memory a split
        # of at most memory_limit_mb decoded whose images already have image_size.
        pipeline="auto",
        memory_limit_mb=1024.0,
        labeled=_maybe(None, bool),  # folder layout: None detects it; False: no class folders
        image_key="image",  # tfrecord: feature keys (TFDS's); label_key None: unlabeled records
        label_key=_maybe("label", str),
        on_bad_image="skip",  # streaming: skip and count unreadable images, or "error"
        max_bad_fraction=0.01,  # streaming: stop when more of the source is unreadable
        # grpc://host:port of a tf.data service dispatcher that reads and augments the stream.
        service=_maybe(None, str),
        # "device": the pipeline only reads, decodes, crops and resizes (uint8); the rest of the
        # augmentation runs in the train step on each replica's batch, with the same seeds.
        augment_on="host",
        tfds_data_dir=_maybe(None, str),
        tfds_download=False,  # let TFDS download a dataset that is not prepared
    ))


_RECIPES_DIR = os.path.dirname(os.path.abspath(keras_ssl.configs.__file__))
_NOT_RECIPES = ("__init__", "common")  # the package, and the blocks recipes share


def recipe_names():
    """The packaged recipes' names (the file stems of `keras_ssl.configs`), sorted."""
    stems = (os.path.splitext(f)[0] for f in os.listdir(_RECIPES_DIR) if f.endswith(".py"))
    return sorted(stem for stem in stems if stem not in _NOT_RECIPES)


def recipe_summary(name):
    """The first line of a packaged recipe's module docstring (read, not imported)."""
    with open(os.path.join(_RECIPES_DIR, f"{name}.py")) as f:
        return (ast.get_docstring(ast.parse(f.read())) or "").split("\n")[0]


def recipe_file(name_or_path):
    """The file of a recipe: a packaged recipe's name (`simclr_cifar10`) or the path of a recipe
    file (`path/to/my_recipe.py`). A value with a path separator or a `.py` ending, or a file that
    exists, is a path.

    Raises:
        UsageError: an unknown name or a path that is not a file; the message lists the names.
    """
    is_path = (os.sep in name_or_path or name_or_path.endswith(".py")
               or os.path.exists(name_or_path))
    if is_path and os.path.isfile(name_or_path):
        return name_or_path
    if not is_path and name_or_path in recipe_names():
        return os.path.join(_RECIPES_DIR, f"{name_or_path}.py")
    problem = (f"config file {name_or_path} "
               f"{'is a directory' if os.path.isdir(name_or_path) else 'does not exist'}"
               if is_path else f"no recipe is named {name_or_path!r}")
    raise UsageError(f"{problem}; pass a recipe name ({', '.join(recipe_names())}; "
                     "`keras-ssl recipes` describes them) or the path of a recipe file.")


def load_recipe(name_or_path):
    """The config of a recipe (its `get_config()`), given by name or path as `--config` takes it.

    Example:
    ```python
    config = load_recipe("quickstart_simclr")  # or load_recipe("path/to/my_recipe.py")
    config.train.epochs = 2
    ```
    """
    path = recipe_file(name_or_path)
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0],
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def eval_config():
    """The `eval` section's defaults (also used to evaluate a SavedModel without a run)."""
    return ml_collections.ConfigDict(dict(
        batch_size=512, knn_k=200, knn_temperature=0.1, linear_epochs=50,
        # A stop-gradient linear head trained on labelled train batches during pretraining,
        # logged per epoch as online_probe_top1 (never sees the test split).
        online_probe=False))


def validate_config(config):
    """Refuse missing sections and bad values with a message that names the key."""
    spec = registry.get(config.get("method"))
    missing = [k for k in ("data", "encoder", "model", "augment", "train", "eval") if k not in config]
    if missing:
        raise ValueError(f"config lacks sections {missing}: start recipes from "
                         "keras_ssl.cli.config.base_config(method).")
    d, e, t, ev = config.data, config.encoder, config.train, config.eval
    check(isinstance(d.source, str) and d.source, "data.source", d.source,
          "'tfds:NAME' or 'folder:/path'")
    positive_int("data.image_size", d.image_size)
    check(d.pipeline in _PIPELINES, "data.pipeline", d.pipeline, f"one of {_PIPELINES}")
    positive("data.memory_limit_mb", d.memory_limit_mb)
    check(d.on_bad_image in ON_BAD_IMAGE, "data.on_bad_image", d.on_bad_image,
          f"one of {ON_BAD_IMAGE}")
    probability("data.max_bad_fraction", d.max_bad_fraction)
    check(d.augment_on in AUGMENT_ON, "data.augment_on", d.augment_on, f"one of {AUGMENT_ON}")
    if d.service is not None:
        try:
            check_service_address(d.service)
        except ValueError as e:
            raise ValueError(f"config key data.service={d.service!r} is invalid: {e}") from None
        check(d.pipeline != "memory", "data.pipeline", d.pipeline,
              "'auto' or 'streaming' with data.service: the service runs the streaming pipeline")
    if d.max_train_examples is not None:
        positive_int("data.max_train_examples", d.max_train_examples)
    encoder = encoders.get(e.kind)
    expected = {"kind", "synchronized_bn", *encoder.config}
    if set(e.keys()) != expected:
        raise ValueError(
            f"config key encoder.kind={e.kind!r} does not match the encoder section, whose keys "
            f"{sorted(e.keys())} are another encoder's (encoder.kind={e.kind!r} needs "
            f"{sorted(expected)}): choose the encoder in the recipe, base_config(method, "
            f"encoder={e.kind!r}), not with --config.encoder.kind.")
    encoder.checks(config)
    positive_int("train.batch_size", t.batch_size)
    positive_int("train.epochs", t.epochs)
    check(t.optimizer in _OPTIMIZERS, "train.optimizer", t.optimizer, f"one of {_OPTIMIZERS}")
    check(t.learning_rate_scaling in _LR_SCALINGS, "train.learning_rate_scaling",
          t.learning_rate_scaling, f"one of {_LR_SCALINGS}")
    positive("train.base_learning_rate", t.base_learning_rate)
    check(0 <= t.warmup_epochs < t.epochs, "train.warmup_epochs", t.warmup_epochs,
          f"0 <= warmup_epochs < train.epochs ({t.epochs})")
    check(0 <= t.momentum < 1, "train.momentum", t.momentum, "a number in [0, 1)")
    check(t.weight_decay >= 0, "train.weight_decay", t.weight_decay, "a number >= 0")
    if t.max_minutes is not None:
        positive("train.max_minutes", t.max_minutes)
    if t.checkpoint_every_steps is not None:
        positive_int("train.checkpoint_every_steps", t.checkpoint_every_steps)
    check(isinstance(t.deterministic, bool), "train.deterministic", t.deterministic,
          "True or False")
    check(config.get("mixed_precision") in _PRECISIONS, "mixed_precision",
          config.get("mixed_precision"), f"one of {_PRECISIONS}")
    positive_int("eval.batch_size", ev.batch_size)
    positive_int("eval.knn_k", ev.knn_k)
    positive("eval.knn_temperature", ev.knn_temperature)
    positive_int("eval.linear_epochs", ev.linear_epochs)
    for key, value in config.augment.items():
        if key.endswith("probability"):
            probability(f"augment.{key}", value)
    spec.checks(config)
    return config
