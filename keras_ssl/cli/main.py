"""The `keras-ssl` command: `keras-ssl train|eval|export|preview [flags]`.

    keras-ssl train   --config=configs/simclr_cifar10.py --workdir=runs/simclr \\
                      --config.data.source=folder:/data/cifar10 --config.train.epochs=100
    keras-ssl eval    --workdir=runs/simclr
    keras-ssl export  --workdir=runs/simclr --output=encoder/
    keras-ssl preview --config=configs/simclr_cifar10.py --output=views.png
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out of the logs

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

COMMANDS = ("train", "eval", "export", "preview")

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Recipe file returning a ConfigDict (configs/*.py); override keys with "
    "--config.a.b=value.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: config, checkpoints, logs, metrics.")
_OUTPUT = flags.DEFINE_string("output", None, "export: SavedModel directory (default "
                              "<workdir>/export); preview: PNG path.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "export: replace an existing output directory.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 8, "preview: images in the grid.")
_PROTOCOL = flags.DEFINE_string(
    "protocol", "knn,linear", "eval: comma list of knn, linear, mlp, finetune, semi, retrieval, "
    "cluster, or 'all'.")
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
_STRATEGY = flags.DEFINE_enum(
    "strategy", "auto", ["auto", "one_device", "mirrored", "multi_worker", "tpu"],
    "train: tf.distribute strategy (auto: tpu with --tpu, multi_worker with a multi-task "
    "TF_CONFIG, mirrored with several local devices, else one_device).")
_TPU = flags.DEFINE_string("tpu", None, "train: TPU name, grpc://HOST:8470, or 'local' on a TPU VM.")
_VIRTUAL_DEVICES = flags.DEFINE_integer(
    "virtual_devices", None, "train: split the CPU (or the first GPU) into this many logical "
    "devices, to try multi-replica training on one machine.", lower_bound=1)


def _usage(message):
    print(f"keras-ssl: {message}\nusage: keras-ssl {{{'|'.join(COMMANDS)}}} [flags]; "
          "`keras-ssl train --helpshort` lists the flags.", file=sys.stderr)
    sys.exit(2)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as e:
        # ml_collections reports an override of a key that does not exist this way.
        _usage(f"unknown config key in the command line: {e}")
    except flags.Error as e:
        _usage(str(e))


def _require(flag, name, command):
    if not flag.value:
        _usage(f"`keras-ssl {command}` needs --{name}.")
    return flag.value


def _main(command):
    def main(argv):
        if len(argv) > 1:
            _usage(f"unexpected arguments {argv[1:]}")
        from keras_ssl.cli import config as config_lib

        if command == "train":
            from keras_ssl.cli.train import train
            config = config_lib.validate_config(_require(_CONFIG, "config", command))
            train(config, _require(_WORKDIR, "workdir", command), strategy=_STRATEGY.value,
                  tpu=_TPU.value, virtual_devices=_VIRTUAL_DEVICES.value)
        elif command == "eval":
            from keras_ssl.cli.evaluate import EvalOptions, evaluate, parse_protocols
            from keras_ssl.evaluation.report import results_table
            if not (_WORKDIR.value or _ENCODER.value):
                _usage("`keras-ssl eval` needs --workdir or --encoder.")
            try:
                options = EvalOptions(
                    protocols=parse_protocols(_PROTOCOL.value),
                    random_init=(None if _RANDOM_INIT.value is None else
                                 parse_protocols(_RANDOM_INIT.value, "--random_init")),
                    encoder=_ENCODER.value, data=_DATA.value, output_dir=_OUTPUT_DIR.value,
                    max_train_examples=_MAX_TRAIN_EXAMPLES.value,
                    max_test_examples=_MAX_TEST_EXAMPLES.value,
                    finetune_epochs=_FINETUNE_EPOCHS.value, semi_epochs=_SEMI_EPOCHS.value,
                    finetune_batch_size=_FINETUNE_BATCH_SIZE.value,
                    finetune_learning_rate=_FINETUNE_LEARNING_RATE.value,
                    semi_fractions=tuple(float(f) for f in _SEMI_FRACTIONS.value),
                    subset_file=_SUBSET_FILE.value)
            except ValueError as e:
                _usage(str(e))
            metrics = evaluate(_WORKDIR.value, options)
            print(results_table(metrics["headline"]))
            print(f"metrics and report.md written to {metrics['output_dir']}")
        elif command == "export":
            from keras_ssl.cli.export import export
            path = export(_require(_WORKDIR, "workdir", command), _OUTPUT.value, _OVERWRITE.value)
            print(f"SavedModel written to {path}")
        else:
            from keras_ssl.cli.preview import preview
            config = config_lib.validate_config(_require(_CONFIG, "config", command))
            path = preview(config, _require(_OUTPUT, "output", command), _NUM_IMAGES.value)
            print(f"preview written to {path}")
    return main


def run(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        _usage("missing or unknown command" if len(argv) < 2 else f"unknown command {argv[1]!r}")
    command = argv.pop(1)
    app.run(_main(command), argv=argv, flags_parser=_parse_flags)


if __name__ == "__main__":
    run()
