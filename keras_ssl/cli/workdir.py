"""The layout of a run's workdir: config, checkpoints, logs, encoder, metrics.

Every file goes through `tf.io.gfile`, so a workdir may be local or on any filesystem TensorFlow
has (`gs://bucket/run`, `ram://run`); Keras saves and loads `encoder.keras` there the same way.
"""

import json
import os

import ml_collections
import tensorflow as tf

from keras_ssl import files
from keras_ssl.cli import UsageError


class NotARunError(UsageError, FileNotFoundError):
    """The workdir holds no (finished) `keras-ssl train` run (a FileNotFoundError, as before)."""


class ConfigMismatchError(UsageError, ValueError):
    """The workdir holds a run of another config (a ValueError, as before)."""


class Workdir:
    def __init__(self, path):
        path = os.fspath(path)
        # A URL (gs://, ram://) is kept as it is: abspath would make it a local folder "gs:".
        self.path = path if "://" in path else os.path.abspath(path)
        self.config_path = os.path.join(self.path, "config.json")
        self.backup_dir = os.path.join(self.path, "checkpoints")
        self.logs_dir = os.path.join(self.path, "logs")
        self.history_path = os.path.join(self.path, "history.csv")
        self.encoder_path = os.path.join(self.path, "encoder.keras")
        self.metrics_path = os.path.join(self.path, "metrics.json")
        self.export_dir = os.path.join(self.path, "export")

    def save_config(self, config):
        """Write the resolved config; refuse to resume a run that was started with another one."""
        tf.io.gfile.makedirs(self.path)
        resolved = json.loads(config.to_json_best_effort())
        if tf.io.gfile.exists(self.config_path):
            with tf.io.gfile.GFile(self.config_path) as f:
                previous = json.load(f)
            if previous != resolved:
                changed = sorted(_diff(previous, resolved))
                raise ConfigMismatchError(
                    f"{self.path} holds a run with another config (differs in {changed}); resuming "
                    "it with this config would mix two runs. Use a new --workdir, or the same "
                    "config to resume.")
        files.write_text(self.config_path, json.dumps(resolved, indent=2, sort_keys=True))

    def load_config(self):
        if not tf.io.gfile.exists(self.config_path):
            raise NotARunError(
                f"{self.config_path} not found: is {self.path} the --workdir of a `keras-ssl train` "
                "run?")
        with tf.io.gfile.GFile(self.config_path) as f:
            return ml_collections.ConfigDict(json.load(f))

    def require_encoder(self):
        if not tf.io.gfile.exists(self.encoder_path):
            raise NotARunError(
                f"{self.encoder_path} not found: training in {self.path} has not finished; re-run "
                "`keras-ssl train` with the same --config and --workdir to resume it.")
        return self.encoder_path


def _diff(a, b, prefix=""):
    keys = set(a) | set(b)
    for key in keys:
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            yield from _diff(va, vb, f"{prefix}{key}.")
        elif va != vb:
            yield f"{prefix}{key}"
