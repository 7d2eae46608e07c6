"""The layout of a run's workdir: config, checkpoints, logs, encoder, metrics.

Every file goes through `tf.io.gfile`, so a workdir may be local or on any filesystem TensorFlow
has (`gs://bucket/run`, `ram://run`); Keras saves and loads `encoder.keras` there the same way.
"""

import contextlib
import datetime
import json
import os
import socket
import uuid

import keras
import ml_collections
import tensorflow as tf
from absl import logging

from keras_ssl import files
from keras_ssl.cli import UsageError
from keras_ssl.cli.config import upgrade_config


class NotARunError(UsageError, FileNotFoundError):
    """The workdir holds no (finished) `keras-ssl train` run (a FileNotFoundError, as before)."""


class ConfigMismatchError(UsageError, ValueError):
    """The workdir holds a run of another config (a ValueError, as before)."""


class WorkdirLockedError(UsageError):
    """Another live `keras-ssl train` holds the workdir's lock."""


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
        self.lock_path = os.path.join(self.path, "train.lock")

    @contextlib.contextmanager
    def lock(self, force=False):
        """Hold `<workdir>/train.lock` (JSON: host, pid, start time) meanwhile: a second
        `keras-ssl train` in the same workdir would resume from this run's checkpoints and write
        the same files. Released on exit, also on an error; a SIGKILLed run leaves it behind.

        A lock left by a process of this host that is gone (or whose pid is this very process,
        as after a container restart) is stale and taken over; a lock of another host cannot be
        checked and needs `force` (`--force_unlock`), which takes over any lock.

        Atomicity: the lock file is written beside its place and renamed there with
        `overwrite=False`, which `tf.io.gfile` implements as "exists?" then "rename": two runs
        starting within that gap (milliseconds locally) could both take the lock. On gs:// the
        check, the copy and the delete that make a rename are separate requests, so the gap is
        wider; an object store's generation precondition (create only if absent) would close it
        but `tf.io.gfile` does not expose one. The lock guards against the common case, a
        restarted job overlapping the dying one, not against two runs started at once.

        Raises:
            WorkdirLockedError: a live run (or one of another host) holds the lock.
        """
        tf.io.gfile.makedirs(self.path)
        token = uuid.uuid4().hex
        mine = dict(host=socket.gethostname(), pid=os.getpid(), token=token,
                    started=datetime.datetime.now(datetime.timezone.utc).isoformat(
                        timespec="seconds"))
        holder = self._lock_holder()
        if holder is not None:
            if not (force or _is_stale(holder)):
                raise WorkdirLockedError(
                    f"{self.path} is in use by `keras-ssl train` pid {holder.get('pid')} on host "
                    f"{holder.get('host')} since {holder.get('started')} ({self.lock_path}); wait "
                    "for it to end, or if it is gone re-run with --force_unlock.")
            logging.warning("taking over the lock of %s, %s: %s", self.path,
                            "forced" if force else "its process is gone", holder)
            tf.io.gfile.remove(self.lock_path)
        # Not `train.lock.<token>`: `ram://` counts a path as existing when a file's name
        # extends it, and the rename would then see `train.lock` as taken.
        temporary = os.path.join(self.path, f".lock-{token}")
        with tf.io.gfile.GFile(temporary, "w") as f:
            f.write(json.dumps(mine))
        try:
            tf.io.gfile.rename(temporary, self.lock_path, overwrite=False)
        except tf.errors.AlreadyExistsError:  # another run took it since the check above
            tf.io.gfile.remove(temporary)
            holder = self._lock_holder() or {}
            raise WorkdirLockedError(
                f"{self.path} was just locked by `keras-ssl train` pid {holder.get('pid')} on "
                f"host {holder.get('host')} ({self.lock_path}).") from None
        try:
            yield
        finally:
            holder = self._lock_holder()
            if holder is not None and holder.get("token") == token:  # not taken over since
                tf.io.gfile.remove(self.lock_path)

    def _lock_holder(self):
        try:
            with tf.io.gfile.GFile(self.lock_path) as f:
                return json.loads(f.read() or "{}")
        except tf.errors.NotFoundError:
            return None

    def save_config(self, config):
        """Write the resolved config; refuse to resume a run that was started with another one."""
        tf.io.gfile.makedirs(self.path)
        resolved = json.loads(config.to_json_best_effort())
        if tf.io.gfile.exists(self.config_path):
            with tf.io.gfile.GFile(self.config_path) as f:
                previous = upgrade_config(json.load(f))  # a run of an earlier version resumes
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
            return ml_collections.ConfigDict(upgrade_config(json.load(f)))

    def require_encoder(self):
        if not tf.io.gfile.exists(self.encoder_path):
            raise NotARunError(
                f"{self.encoder_path} not found: training in {self.path} has not finished; re-run "
                "`keras-ssl train` with the same --config and --workdir to resume it.")
        return self.encoder_path

    def load_encoder(self):
        """The run's `encoder.keras`, computing in float32 whatever policy it was trained under.

        The file keeps the run's policy (a `model.fit` user loading it gets what they trained),
        but evaluation and export read features in float32, as they did before encoders saved
        their policy: bfloat16 features would move kNN and probe numbers, and TF Serving on a CPU
        without bfloat16 would run slowly. Mixed policies keep float32 variables, so the weights
        carry over exactly.
        """
        encoder = keras.models.load_model(self.require_encoder())
        if encoder.dtype_policy.name == "float32":
            return encoder
        float32 = type(encoder).from_config({**encoder.get_config(), "dtype": "float32"})
        float32.set_weights(encoder.get_weights())
        return float32


def _is_stale(holder):
    """Whether a lock's process is known to be gone: of this host, and not alive (or this very
    process: a restarted container often reuses the pid and the host name)."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    if holder["pid"] == os.getpid():
        return True
    try:
        os.kill(holder["pid"], 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _diff(a, b, prefix=""):
    keys = set(a) | set(b)
    for key in keys:
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            yield from _diff(va, vb, f"{prefix}{key}.")
        elif va != vb:
            yield f"{prefix}{key}"
