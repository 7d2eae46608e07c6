"""Choosing a tf.distribute strategy: one device, mirrored, multi-worker or TPU.

`batch_size` is always the global batch; `per_replica_batch_size` refuses one that does not split
evenly, since uneven replicas would change the loss and the batch-norm statistics silently.
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


def set_virtual_devices(count, gpu_memory_mb=1024):
    """Split the machine's first GPU (or, without one, its CPU) into `count` logical devices.

    For trying multi-replica set-ups on one machine: `create_strategy("mirrored")` then runs one
    replica per logical device. Must be called before TensorFlow uses any device (before the first
    op); each logical GPU gets `gpu_memory_mb` of memory.

    Example:
    ```python
    keras_ssl.distribute.set_virtual_devices(2)
    strategy = keras_ssl.distribute.create_strategy("mirrored")  # 2 replicas on /cpu:0, /cpu:1
    ```
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"virtual_devices must be a positive integer, got {count!r}.")
    gpus = tf.config.list_physical_devices("GPU")
    device = gpus[0] if gpus else tf.config.list_physical_devices("CPU")[0]
    config = tf.config.LogicalDeviceConfiguration(memory_limit=gpu_memory_mb if gpus else None)
    try:
        tf.config.set_logical_device_configuration(device, [config] * count)
    except RuntimeError as e:
        raise RuntimeError(
            f"cannot split {device.name} into {count} logical devices: TensorFlow has already "
            "initialised its devices. Call set_virtual_devices before any TensorFlow op (the CLI "
            "does so for --virtual_devices).") from e


def _tf_config_workers():
    """Number of tasks in the TF_CONFIG cluster (0 if TF_CONFIG is unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {raw!r}") from e
    return sum(len(tasks) for tasks in cluster.values())


def _local_devices():
    """The logical GPUs, or without GPUs the logical CPUs, as device names."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [d.name for d in devices]


def create_strategy(name="auto", tpu=None):
    """Make the tf.distribute strategy `name`.

    - `one_device`: `OneDeviceStrategy` on the first GPU, else the CPU.
    - `mirrored`: `MirroredStrategy` over every local GPU, or every logical CPU without GPUs (see
      `set_virtual_devices`).
    - `multi_worker`: `MultiWorkerMirroredStrategy`; every worker process needs `TF_CONFIG` naming
      the cluster and its own task (https://www.tensorflow.org/guide/distributed_training).
    - `tpu`: `TPUStrategy` on the TPU `tpu` (a name, a `grpc://host:8470` address, or "local" on
      a TPU VM).
    - `auto`: `tpu` if `tpu` is given, `multi_worker` if TF_CONFIG names several tasks,
      `mirrored` if there are several local devices, else `one_device`.

    Example:
    ```python
    strategy = keras_ssl.distribute.create_strategy("mirrored")
    with strategy.scope():
        model = keras_ssl.methods.SimCLR(encoder)
        model.compile(optimizer="sgd")
    ```
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}.")
    if tpu is not None and name not in ("auto", "tpu"):
        raise ValueError(f"a TPU address ({tpu!r}) was given with strategy {name!r}; use "
                         "strategy 'tpu' (or 'auto'), or drop the TPU address.")
    if name == "auto":
        if tpu is not None:
            name = "tpu"
        elif _tf_config_workers() > 1:
            name = "multi_worker"
        elif len(_local_devices()) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(_local_devices()[0])
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(_local_devices())
    if name == "multi_worker":
        if _tf_config_workers() == 0:
            raise ValueError(
                "strategy 'multi_worker' needs the TF_CONFIG environment variable on every "
                "worker, e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", "
                "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}'.")
        # Listing logical devices would initialise TensorFlow, which MultiWorkerMirroredStrategy
        # must do itself (collective ops are configured at start-up).
        cpu = tf.config.list_physical_devices("CPU")[0]
        virtual_cpus = tf.config.get_logical_device_configuration(cpu) or []
        if len(virtual_cpus) > 1 and not tf.config.list_physical_devices("GPU"):
            raise ValueError(
                "MultiWorkerMirroredStrategy runs one replica per worker on CPUs, so virtual CPU "
                "devices would be ignored; start more workers instead of --virtual_devices.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tpu is None:
        raise ValueError("strategy 'tpu' needs the TPU's address (--tpu=NAME, "
                         "--tpu=grpc://HOST:8470, or --tpu=local on a TPU VM).")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def per_replica_batch_size(global_batch_size, strategy):
    """The batch each replica gets; refuses a global batch that does not split evenly."""
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(
            f"the global batch size {global_batch_size} does not divide by the "
            f"{replicas} replicas of {type(strategy).__name__}; uneven replicas would change the "
            "loss. Use a multiple of the replica count (e.g. "
            f"{max(replicas, global_batch_size // replicas * replicas)}).")
    return global_batch_size // replicas


def num_input_pipelines(strategy):
    """The input pipelines `distribute_datasets_from_function` makes: one per worker (host)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        spec = strategy.cluster_resolver.cluster_spec().as_dict()
        return max(1, sum(len(spec.get(job, [])) for job in ("chief", "worker")))
    return getattr(strategy.extended, "num_hosts", 1)


def uses_custom_loop(strategy):
    """True where `model.fit` does not work and `keras_ssl.distribute.fit` runs its own loop.

    Keras 3.15's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585, and its
    per-replica reduction of scalar logs fails with "Invalid reduction dimension 0").
    """
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
