"""Process setup shared by the distributed check scripts.

Each script runs in its own process (`tests/test_distributed.py` starts them): a second
MirroredStrategy in one process can fail, and logical devices must be made before any TF op runs.
"""

import tensorflow as tf


def setup(num_devices):
    """Split the CPU into `num_devices` logical devices; deterministic ops; fixed seeds.

    Returns a MirroredStrategy over those devices, or the default (no) strategy for one device.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    tf.config.experimental.enable_op_determinism()
    import keras

    keras.utils.set_random_seed(0)
    if num_devices == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(num_devices)])


def fit_argument_parser(init=True):
    """The flags every `*_fit.py` script takes: --devices and --out, and with `init` --init and
    --write-init (the weights every run starts from, `load_or_write_init`); a script adds its own
    flags to the parser returned."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, required=True)
    if init:
        parser.add_argument("--init", required=True)
        parser.add_argument("--write-init", action="store_true")
    parser.add_argument("--out", required=True)
    return parser


def random_images(count, size):
    """Fixed random uint8 images [count, size, size, 3] (the same in every run)."""
    import numpy as np

    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3)).astype(np.uint8)


def load_or_write_init(model, path, write):
    """Every run starts from the same weights: the reference run writes them, the others load."""
    if write:
        model.save_weights(path)
    else:
        model.load_weights(path)


def fit_and_save(model, dataset, out, steps):
    """`model.fit` one epoch of `dataset` (`steps` global batches) and save to `out`: `loss` (fit's
    running mean after each step), `paths`, and `initial<i>` / `final<i>` (every weight, batch-norm
    statistics included, before and after)."""
    import keras
    import numpy as np

    initial = {f"initial{i}": np.asarray(v) for i, v in enumerate(model.weights)}
    losses = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    model.fit(dataset, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    if len(losses) != steps:
        raise RuntimeError(f"expected {steps} steps, fit ran {len(losses)}")
    final = {f"final{i}": np.asarray(v) for i, v in enumerate(model.weights)}
    np.savez(out, loss=np.array(losses), paths=np.array([v.path for v in model.weights]),
             **initial, **final)
