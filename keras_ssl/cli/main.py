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
            train(config, _require(_WORKDIR, "workdir", command))
        elif command == "eval":
            from keras_ssl.cli.evaluate import evaluate
            metrics = evaluate(_require(_WORKDIR, "workdir", command))
            print({k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)})
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
