"""The `keras-ssl` command: `keras-ssl train|eval|export|preview|recipes|prepare [flags]`.

    keras-ssl train   --config=simclr_cifar10 --workdir=runs/simclr \\
                      --config.data.source=folder:/data/cifar10 --config.train.epochs=100
    keras-ssl eval    --workdir=runs/simclr
    keras-ssl export  --workdir=runs/simclr --output=encoder/
    keras-ssl preview --config=simclr_cifar10 --output=views.png
    keras-ssl recipes
    keras-ssl train   --config=path/to/my_recipe.py --workdir=runs/mine
    keras-ssl prepare folder:/data/imagenet --split=train --output=/data/shards/train --shards=1024

`--config` takes a packaged recipe's name (`keras-ssl recipes` lists them, one line each) or the
path of a recipe file (a module with `get_config()`, `path:arg` passing `arg` to it).
"""

import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out of the logs

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from keras_ssl.cli import Preempted, UsageError, data_errors  # noqa: E402
from keras_ssl.cli.config import recipe_file, recipe_names, recipe_summary  # noqa: E402
from keras_ssl.evaluation import protocols  # noqa: E402

COMMANDS = ("train", "eval", "export", "preview", "recipes", "prepare")

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Recipe name (`keras-ssl recipes` lists them) or recipe file returning a "
    "ConfigDict; override keys with --config.a.b=value.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: config, checkpoints, logs, metrics.")
_OUTPUT = flags.DEFINE_string("output", None, "export: SavedModel directory (default "
                              "<workdir>/export); preview: PNG path; prepare: shards folder.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "export: replace an existing output directory.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 8, "preview: images in the grid.")
_PROTOCOL = flags.DEFINE_string(
    "protocol", ",".join(protocols.defaults()),
    f"eval: comma list of {', '.join(protocols.names(feature_maps=False))}, or 'all'; with "
    f"--layers also {', '.join(protocols.names(feature_maps=True))}.")
_ENCODER = flags.DEFINE_string("encoder", None, "eval: a SavedModel directory from `keras-ssl "
                               "export` to evaluate (no model code needed) instead of the "
                               "workdir's encoder.keras.")
_DATA = flags.DEFINE_string("data", None, "eval: data source to evaluate on instead of the run's "
                            "(transfer), e.g. fashion_mnist:, idx:/path, folder:/path, tfds:NAME.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "eval: directory for metrics*.json, "
                                  "report.md and figures (default the workdir; with --data "
                                  "<workdir>/eval_<data>).")
_RANDOM_INIT = flags.DEFINE_string(
    "random_init", None, "eval: protocols also run on the same architecture at random init "
    "(comma list, 'all' or 'none'; default knn). Needs --workdir.")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer(
    "max_train_examples", None, "eval: use a fixed random subset of the train split.",
    lower_bound=1)
_MAX_TEST_EXAMPLES = flags.DEFINE_integer(
    "max_test_examples", None, "eval: use a fixed random subset of the test split.", lower_bound=1)
_FINETUNE_EPOCHS = flags.DEFINE_integer("finetune_epochs", 30, "eval finetune: epochs.",
                                        lower_bound=1)
_SEMI_EPOCHS = flags.DEFINE_integer(
    "semi_epochs", None, "eval semi: epochs (default SimCLR's: 60 on a 1% subset, else 30).",
    lower_bound=1)
_FINETUNE_BATCH_SIZE = flags.DEFINE_integer("finetune_batch_size", 256,
                                            "eval finetune/semi: batch size.", lower_bound=1)
_FINETUNE_LEARNING_RATE = flags.DEFINE_float(
    "finetune_learning_rate", None, "eval finetune/semi: peak learning rate (default SimCLR's "
    "0.05 * batch / 256).", lower_bound=0.0)
_SEMI_FRACTIONS = flags.DEFINE_list("semi_fractions", ["0.01", "0.1"],
                                    "eval semi: label fractions of the class-balanced subsets.")
_SUBSET_FILE = flags.DEFINE_string(
    "subset_file", None, "eval semi: file of train indices or image file names (one per line) "
    "to fine-tune on instead of --semi_fractions.")
_MEMORY_LIMIT_MB = flags.DEFINE_float(
    "memory_limit_mb", None, "eval: decoded size (MB) above which a split is streamed "
    "(default the run's data.memory_limit_mb).", lower_bound=0.0)
_STRATEGY = flags.DEFINE_enum(
    "strategy", "auto", ["auto", "one_device", "mirrored", "multi_worker", "tpu"],
    "train: tf.distribute strategy (auto: tpu with --tpu, multi_worker with a multi-task "
    "TF_CONFIG, mirrored with several local devices, else one_device).")
_TPU = flags.DEFINE_string("tpu", None, "train: TPU name, grpc://HOST:8470, or 'local' on a TPU VM.")
_SHARDS = flags.DEFINE_integer("shards", None, "prepare: TFRecord files to write (default one "
                               "per 1,024 images).", lower_bound=1)
_SPLIT = flags.DEFINE_string("split", "train", "prepare: the source's split (folder split "
                             "sub-folder or TFDS split).")
_MAX_SIDE = flags.DEFINE_integer("max_side", None, "prepare: re-encode (JPEG) images whose longer "
                                 "side exceeds this, resized to it (default: original bytes).",
                                 lower_bound=1)
_WORKERS = flags.DEFINE_integer("workers", None, "prepare: shards converted at once (default the "
                                "CPU count, at most 8).", lower_bound=1)
_TRACEBACK = flags.DEFINE_bool(
    "traceback", False, "Show the traceback of a user error (a config key or value, a missing "
    "file, a folder that is not a run) instead of its message alone.")
_LAYERS = flags.DEFINE_list(
    "layers", [], "eval: also run the frozen-feature protocols (and nonlinear / conv, RotNet's "
    "classifiers on feature maps) on each of these layers, e.g. stage1,stage2,stage3,stage4,"
    "pooled, or 'all'; export: add a layer_<name> signature returning each one's feature map.")
_LAYER_DIMS = flags.DEFINE_integer(
    "layer_dims", None, "eval --layers: average-pool each layer's feature map to at most this "
    "many features (default 9216, Goyal et al. 2019).", lower_bound=1)
_MAP_EPOCHS = flags.DEFINE_integer(
    "map_epochs", None, "eval nonlinear / conv: epochs (default the RotNet code's; the "
    "learning-rate steps scale with them).", lower_bound=1)
_FORCE_UNLOCK = flags.DEFINE_bool(
    "force_unlock", False, "train: take over the workdir's lock held by another run (one that "
    "is gone but left its lock, e.g. on another host).")
_VIRTUAL_DEVICES = flags.DEFINE_integer(
    "virtual_devices", None, "train: split the CPU (or the first GPU) into this many logical "
    "devices, to try multi-replica training on one machine.", lower_bound=1)


def _usage(message):
    print(f"keras-ssl: {message}\nusage: keras-ssl {{{'|'.join(COMMANDS)}}} [flags]; "
          "`keras-ssl train --helpshort` lists the flags.", file=sys.stderr)
    sys.exit(2)


_OVERRIDE = re.compile(r"--?(?:no)?config\.([^=]+)")
_DID_YOU_MEAN = re.compile(r'Did you mean "(.+)" instead of "(.+)"\?')


def _resolve_config(argv):
    """`argv` with a --config recipe name replaced by its packaged file, so that ml_collections
    loads it as a path; a missing file or unknown name is refused here (ml_collections would defer
    the error to the config's first use and report it as a traceback)."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        match = re.fullmatch(r"(--?config)(?:=(.*))?", arg)
        if match is None or (match.group(2) is None and i + 1 == len(argv)):
            continue
        at = i if match.group(2) is not None else i + 1
        value = argv[at] if match.group(2) is None else match.group(2)
        name, colon, arguments = value.partition(":")  # ml_collections passes ":args" to get_config
        if name:
            resolved = recipe_file(name) + colon + arguments
            argv[at] = resolved if at != i else f"{match.group(1)}={resolved}"
    return argv


def _unknown_key(error, argv):
    """The message for ml_collections' error on an override of a key that does not exist, or None
    when `error` is about no override of `argv`."""
    # A KeyError (or an AttributeError wrapping one) whose message is the key's repr, then maybe
    # 'Did you mean "b" instead of "a"?'; str() of a KeyError would escape it all once more.
    while error.args and isinstance(error.args[0], (KeyError, AttributeError)):
        error = error.args[0]
    message = str(error.args[0]) if error.args else ""
    suggestion = _DID_YOU_MEAN.search(message)
    key = suggestion.group(2) if suggestion else message.split("\n")[0].strip("'\"")
    for arg in argv:
        match = _OVERRIDE.match(arg)
        fields = match.group(1).split(".") if match else []
        if key in fields:
            if suggestion is None:
                return (f"config key '{match.group(1)}' does not exist; check its spelling "
                        "against the recipe (--config).")
            fields[fields.index(key)] = suggestion.group(1)
            return (f"config key '{match.group(1)}' does not exist; did you mean "
                    f"'{'.'.join(fields)}'?")
    return None


def _parse_flags(argv):
    argv = _resolve_config(argv)
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as e:
        # ml_collections refuses an override of a key that does not exist this way.
        message = _unknown_key(e, argv)
        if message is None:
            raise
        raise UsageError(message) from e
    except flags.Error as e:
        _usage(str(e))


def _require(flag, name, command):
    if not flag.value:
        _usage(f"`keras-ssl {command}` needs --{name}.")
    return flag.value


def _config(command):
    from keras_ssl.cli.config import validate_config

    try:
        return validate_config(_require(_CONFIG, "config", command))
    except ValueError as e:  # validate_config only checks values; each error names the key
        raise UsageError(str(e)) from e


def _main(command):
    def main(argv):
        if command == "prepare":
            if len(argv) != 2:
                _usage("`keras-ssl prepare` takes one source, e.g. `keras-ssl prepare "
                       "folder:/data/photos --output=/data/shards`.")
            from keras_ssl.data.prepare import prepare_shards
            with data_errors():
                manifest = prepare_shards(argv[1], _require(_OUTPUT, "output", command),
                                          _SHARDS.value, _SPLIT.value, _MAX_SIDE.value,
                                          _WORKERS.value)
            bad = manifest["bad_images"]["count"]
            print(f"{manifest['count']} images in {len(manifest['shards'])} shards in "
                  f"{_OUTPUT.value}" + (f" ({bad} bad images skipped)" if bad else "")
                  + f"; train on them with --config.data.source=tfrecord:{_OUTPUT.value}")
            return
        if len(argv) > 1:
            _usage(f"unexpected arguments {argv[1:]}")

        if command == "train":
            from keras_ssl.cli.train import train
            config = _config(command)
            train(config, _require(_WORKDIR, "workdir", command), strategy=_STRATEGY.value,
                  tpu=_TPU.value, virtual_devices=_VIRTUAL_DEVICES.value,
                  force_unlock=_FORCE_UNLOCK.value)
        elif command == "eval":
            from keras_ssl.cli.evaluate import EvalOptions, evaluate, table_rows
            from keras_ssl.evaluation.report import results_table
            if not (_WORKDIR.value or _ENCODER.value):
                _usage("`keras-ssl eval` needs --workdir or --encoder.")
            try:
                options = EvalOptions(
                    protocols=protocols.parse(_PROTOCOL.value),
                    random_init=(None if _RANDOM_INIT.value is None else
                                 protocols.parse(_RANDOM_INIT.value, "--random_init")),
                    encoder=_ENCODER.value, data=_DATA.value, output_dir=_OUTPUT_DIR.value,
                    max_train_examples=_MAX_TRAIN_EXAMPLES.value,
                    max_test_examples=_MAX_TEST_EXAMPLES.value,
                    finetune_epochs=_FINETUNE_EPOCHS.value, semi_epochs=_SEMI_EPOCHS.value,
                    finetune_batch_size=_FINETUNE_BATCH_SIZE.value,
                    finetune_learning_rate=_FINETUNE_LEARNING_RATE.value,
                    semi_fractions=tuple(float(f) for f in _SEMI_FRACTIONS.value),
                    subset_file=_SUBSET_FILE.value, memory_limit_mb=_MEMORY_LIMIT_MB.value,
                    layers=tuple(_LAYERS.value), layer_dims=_LAYER_DIMS.value,
                    map_epochs=_MAP_EPOCHS.value)
            except ValueError as e:
                _usage(str(e))
            metrics = evaluate(_WORKDIR.value, options)
            print(results_table(table_rows(metrics["headline"], metrics.get("layers"))))
            print(f"metrics and report.md written to {metrics['output_dir']}")
        elif command == "export":
            from keras_ssl.cli.export import export
            path = export(_require(_WORKDIR, "workdir", command), _OUTPUT.value, _OVERWRITE.value,
                          _LAYERS.value)
            print(f"SavedModel written to {path}")
        elif command == "recipes":
            names = recipe_names()
            width = max(map(len, names))
            print("\n".join(f"{name:<{width}}  {recipe_summary(name)}" for name in names))
        else:
            from keras_ssl.cli.preview import preview
            config = _config(command)
            path = preview(config, _require(_OUTPUT, "output", command), _NUM_IMAGES.value)
            print(f"preview written to {path}")
    return main


def run(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        _usage("missing or unknown command" if len(argv) < 2 else f"unknown command {argv[1]!r}")
    command = argv.pop(1)
    try:
        app.run(_main(command), argv=argv, flags_parser=_parse_flags)
    except UsageError as e:
        # Only errors raised as UsageError are the user's: their message says what to fix and a
        # traceback would bury it. Anything else (a ValueError from Keras, say) is a bug and keeps
        # its traceback. When parsing the flags failed, only the raw arguments are known.
        if _TRACEBACK.value if flags.FLAGS.is_parsed() else "--traceback" in argv:
            raise
        print(f"keras-ssl: {e}", file=sys.stderr)
        sys.exit(2)
    except Preempted as e:
        print(f"keras-ssl: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    run()
