"""Gradients of NT-Xent on 2 logical CPU devices: correct, and with three known bugs put in.

    python nt_xent_gradients.py --data in.npz --out out.npz

`in.npz` holds the global projections `z1`, `z2` ([N, d]); replica r owns rows r*N/2 .. (r+1)*N/2.
The output holds, each as [2, N, d] (gradient w.r.t. z1, then z2):

- `one_device`: the gradient of `nt_xent` on the full batch, without a strategy;
- `replica_<variant>`: inside `strategy.run`, each replica's gradient of its
  `nt_xent / num_replicas` w.r.t. its own slice, stacked in replica order;
- `fit_<variant>`: the summed gradient one `model.fit` step applies to trainable rows holding z1, z2
  (the path through `PretrainingMethod.train_step`), read off an SGD step with learning rate 1.

Variants: `correct`; `unscaled` (the loss not divided by the replica count);
`gather_without_gradient` (tf.stop_gradient around the all-gather); `local_negatives` (no gather:
each replica contrasts its own rows only).
"""

import argparse
import contextlib
import importlib
from unittest import mock

from common import setup

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat, num_replicas
from keras_ssl.losses import nt_xent
from keras_ssl.methods import PretrainingMethod

DEVICES = 2
TEMPERATURE = 0.5

# `keras_ssl.losses.nt_xent` names the function, so reach the modules through importlib.
_LOSS = importlib.import_module("keras_ssl.losses.nt_xent")
_METHOD = importlib.import_module("keras_ssl.methods.base")
BUGS = {
    "correct": {},
    "unscaled": {(_METHOD, "num_replicas"): lambda: 1},
    "gather_without_gradient": {
        (_LOSS, "cross_replica_concat"): lambda t: tf.stop_gradient(cross_replica_concat(t))},
    "local_negatives": {
        (_LOSS, "cross_replica_concat"): lambda t: t,
        (_LOSS, "replica_id"): lambda: tf.constant(0, tf.int32)},
}


class RowLookup(PretrainingMethod):
    """A method whose encoder is a bias-free Dense layer on one-hot rows: its kernel rows are z."""

    def compute_objective(self, data, training):
        onehot1, onehot2 = data
        loss, _ = nt_xent(self.encoder(onehot1), self.encoder(onehot2), TEMPERATURE)
        return loss, {}


def one_device_gradient(z1, z2):
    z1, z2 = tf.constant(z1), tf.constant(z2)
    with tf.GradientTape() as tape:
        tape.watch([z1, z2])
        loss, _ = nt_xent(z1, z2, TEMPERATURE)
    return np.stack(tape.gradient(loss, [z1, z2]))


def replica_gradients(strategy, z1, z2, scale):
    n = len(z1) // strategy.num_replicas_in_sync

    def step(z1_local, z2_local):
        with tf.GradientTape() as tape:
            tape.watch([z1_local, z2_local])
            loss, _ = nt_xent(z1_local, z2_local, TEMPERATURE)
            if scale:  # what train_step does
                loss = loss / num_replicas()
        return tape.gradient(loss, [z1_local, z2_local])

    local = strategy.experimental_distribute_values_from_function(
        lambda ctx: (z1[ctx.replica_id_in_sync_group * n:][:n],
                     z2[ctx.replica_id_in_sync_group * n:][:n]))
    grads = tf.function(lambda a, b: strategy.run(step, args=(a, b)))(*local)
    return np.stack([np.concatenate(strategy.experimental_local_results(g)) for g in grads])


def fit_gradient(strategy, z1, z2):
    onehot = np.eye(2 * len(z1), dtype=np.float32)
    views = (onehot[:len(z1)], onehot[len(z1):])
    start = np.concatenate([z1, z2])
    with strategy.scope():
        model = RowLookup(keras.layers.Dense(z1.shape[1], use_bias=False))
        model.build(onehot.shape)
        model.encoder.kernel.assign(start)
        model.compile(optimizer=keras.optimizers.SGD(1.0), jit_compile=False)
    model.fit(tf.data.Dataset.from_tensors(views), epochs=1, shuffle=False, verbose=0)
    step = start - model.encoder.kernel.numpy()
    return np.stack([step[:len(z1)], step[len(z1):]])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    strategy = setup(DEVICES)
    data = np.load(args.data)
    z1, z2 = data["z1"], data["z2"]

    out = {"one_device": one_device_gradient(z1, z2)}
    for variant, patches in BUGS.items():
        with contextlib.ExitStack() as stack:
            for (module, name), value in patches.items():
                stack.enter_context(mock.patch.object(module, name, value))
            # "unscaled" in the replica check means the caller's division is left out.
            out[f"replica_{variant}"] = replica_gradients(strategy, z1, z2,
                                                          scale=variant != "unscaled")
            out[f"fit_{variant}"] = fit_gradient(strategy, z1, z2)
    np.savez(args.out, **out)


if __name__ == "__main__":
    main()
