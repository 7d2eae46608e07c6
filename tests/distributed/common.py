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
