"""Run `keras-ssl train ...` in this process and save the trained model's weights.

    python train_run.py --out weights.npz [--die-in-save N] [--nan-at-step N] [--sigterm-at-step N] \
        -- train ...

Runs the CLI entry point itself (flags, config validation, `keras_ssl.cli.train.train`); the
returned model's variables (batch-norm statistics included) go to `--out` as `w<i>`, with `paths`
and the optimizer's `iterations`. `--die-in-save N` makes the N-th checkpoint write die half-way:
the new checkpoint's data file is written, then truncated, and the process SIGKILLs itself before
`tf.train.CheckpointManager` records the checkpoint as the latest. `--nan-at-step N` multiplies
the N-th training step's batch (counted from 1 over the run) by NaN, so its loss, gradients and
updated weights are NaN. `--sigterm-at-step N` makes the process send itself SIGTERM as the N-th
step begins, as a preemption notice would. `--no-constant-folding` turns grappler's constant
folding off, which rewrites some float32 products in `tf.function`s (the train step) but not in
tf.data's functions (tests/test_device_augmentation.py). `--constant-encoder` zeroes the encoder's
weights and freezes them (batch norm then normalises with its moving statistics): every image gets
the same features, a collapsed representation from the first step. SIGUSR1 dumps every thread's
Python stack to stderr (a test whose run hangs says where).
"""

import argparse
import faulthandler
import os
import signal
from unittest import mock

import numpy as np
import tensorflow as tf

import keras_ssl.cli.train as train_module
from keras_ssl.callbacks import StopOnSignal
from keras_ssl.cli import builders
from keras_ssl.cli import main as cli


def _dying_save(die_at):
    original = tf.train.CheckpointManager.save
    calls = []

    def die(save_path):
        data = f"{save_path}.data-00000-of-00001"
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) // 2)
        os.kill(os.getpid(), signal.SIGKILL)

    def save(self, *args, **kwargs):
        calls.append(None)
        if len(calls) == die_at:
            # Write callbacks run before the manager's own one, which records the new checkpoint.
            kwargs["options"] = tf.train.CheckpointOptions(experimental_write_callbacks=[die])
        return original(self, *args, **kwargs)

    return save


def _poisoned_build_method(nan_at):
    original = builders.build_method

    def build(*args, **kwargs):
        model = original(*args, **kwargs)
        train_step = model.train_step

        def poisoned_step(batch):
            poison = tf.where(model.optimizer.iterations + 1 == nan_at, float("nan"), 1.0)
            return train_step(tf.nest.map_structure(
                lambda x: x * tf.cast(poison, x.dtype) if x.dtype.is_floating else x, batch))

        model.train_step = poisoned_step
        return model

    return build


def _constant_build_encoder():
    original = builders.build_encoder

    def build(*args, **kwargs):
        encoder = original(*args, **kwargs)
        encoder.set_weights([np.zeros_like(w) for w in encoder.get_weights()])
        encoder.trainable = False
        return encoder

    return build


def _signalling_stop(sigterm_at):
    class SignalledStopOnSignal(StopOnSignal):
        def on_train_batch_begin(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) + 1 == sigterm_at:
                os.kill(os.getpid(), signal.SIGTERM)

    return SignalledStopOnSignal


def main():
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--die-in-save", type=int, default=None)
    parser.add_argument("--nan-at-step", type=int, default=None)
    parser.add_argument("--sigterm-at-step", type=int, default=None)
    parser.add_argument("--no-constant-folding", action="store_true")
    parser.add_argument("--constant-encoder", action="store_true")
    parser.add_argument("cli_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cli_args = args.cli_args[1:] if args.cli_args[:1] == ["--"] else args.cli_args

    original_train = train_module.train

    def train_and_save(*a, **kw):
        model = original_train(*a, **kw)
        np.savez(args.out, paths=np.array([v.path for v in model.variables]),
                 iterations=int(model.optimizer.iterations.numpy()),
                 **{f"w{i}": np.asarray(v) for i, v in enumerate(model.variables)})
        return model

    if args.no_constant_folding:
        tf.config.optimizer.set_experimental_options({"constant_folding": False})
    patches = [mock.patch.object(train_module, "train", train_and_save)]
    if args.die_in_save:
        patches.append(mock.patch.object(tf.train.CheckpointManager, "save",
                                         _dying_save(args.die_in_save)))
    if args.nan_at_step:
        patches.append(mock.patch.object(builders, "build_method",
                                         _poisoned_build_method(args.nan_at_step)))
    if args.sigterm_at_step:
        patches.append(mock.patch.object(train_module, "StopOnSignal",
                                         _signalling_stop(args.sigterm_at_step)))
    if args.constant_encoder:
        patches.append(mock.patch.object(builders, "build_encoder", _constant_build_encoder()))
    for patch in patches:
        patch.start()
    cli.run(["keras-ssl", *cli_args])


if __name__ == "__main__":
    main()
