"""Running an input pipeline on a tf.data service cluster (`tf.data.experimental.service`).

The dataset's graph is sent to the dispatcher and run by its workers; this process only receives
the finished batches. Processing mode ``"distributed_epoch"`` (``ShardingPolicy.DYNAMIC``): the
dispatcher hands out the elements of the dataset's source one at a time, so every element of
the source is processed by exactly one worker. For `streaming_pretraining_dataset` the source
is the run's epochs: each epoch is read, decoded and augmented by one worker, in its own order
(drawn from ``(seed, epoch)``) and with its own seeds, so every epoch holds every image once and
whole per-replica batches, as without the service.

What changes with several workers: they work on consecutive epochs at the same time and their
batches arrive as they are ready, so with n workers a Keras epoch of ``steps_per_epoch`` batches
holds batches of up to n neighbouring data epochs (every image still once per data epoch, every
batch once). With one worker the batches arrive in the order of the local pipeline, so a resumed
run sees the batches of the uninterrupted one.

Example:

>>> ds = streaming_pretraining_dataset("folder:gs://bucket/photos", 256, views, epochs=100,
...                                    service="grpc://dispatcher:5050")
>>> model.fit(ds, epochs=100, steps_per_epoch=steps)
"""

import re

import tensorflow as tf

# Ops that call back into this Python process: a worker runs the graph without it.
_PYTHON_OPS = {"EagerPyFunc", "PyFunc", "PyFuncStateless"}
_ADDRESS = re.compile(r"grpc://[^\s:/]+:\d+")


def check_service_address(service):
    """The dispatcher address ``grpc://host:port``, or a ValueError naming the expected form."""
    if not (isinstance(service, str) and _ADDRESS.fullmatch(service)):
        raise ValueError(f"A tf.data service address is grpc://host:port (the dispatcher's), "
                         f"got {service!r}.")
    return service


def distribute_to_service(dataset, service, job_name=None):
    """Moves ``dataset``'s processing to the tf.data service at ``service``.

    Everything in ``dataset`` runs on the service's workers (processing mode
    ``"distributed_epoch"``, see the module doc); what is applied to the result runs here. The
    dataset must be pure TF (no ``tf.py_function``, which needs this process) and must not
    assert its cardinality (each worker sees a part of the source); assert it on the result.
    For `streaming_pretraining_dataset` pass ``service=`` instead, which does both.

    Args:
      dataset: a `tf.data.Dataset` whose source is splittable (``Dataset.range``,
        ``from_tensor_slices``, ``list_files``).
      service: ``"grpc://host:port"``, the dispatcher.
      job_name: None for a job of this iteration alone (the default); a name shares the job
        with every dataset of that name, which must be the same dataset. A name can serve one
        iteration only over the service's lifetime (a later one gets no data): use a new name
        for every run and resume.

    Returns:
      The distributed `tf.data.Dataset`, with the same elements (in an order of the workers).

    Raises:
      ValueError: a malformed address, a ``tf.py_function`` in the dataset, or an asserted
        cardinality.

    Example:

    >>> ds = tf.data.Dataset.range(10).map(lambda x: x * x)
    >>> ds = distribute_to_service(ds, "grpc://localhost:5050")
    >>> sorted(ds.as_numpy_iterator())
    [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
    """
    service = check_service_address(service)
    ops = _ops_of(dataset)
    # First the in-memory pipeline's own refusal (it also calls Python to lower its priority).
    if "AssertCardinalityDataset" in ops:
        raise ValueError(
            "The dataset asserts its cardinality, which fails on a tf.data service worker (each "
            "reads part of the source); assert it on the dataset distribute_to_service returns. "
            "keras_ssl.data.pretraining_dataset (in-memory data) is not run on a service: use "
            "streaming_pretraining_dataset(..., service=...).")
    if ops & _PYTHON_OPS:
        raise ValueError(
            "The dataset calls Python (tf.py_function / tf.numpy_function), which a tf.data "
            "service worker cannot run. Use pure TF ops, or apply such steps to the dataset "
            "distribute_to_service returns (keras_ssl.data.streaming_pretraining_dataset("
            "service=...) reports bad images that way).")
    return dataset.apply(tf.data.experimental.service.distribute(
        processing_mode=tf.data.experimental.service.ShardingPolicy.DYNAMIC, service=service,
        job_name=job_name))


def _ops_of(dataset):
    """The op types of the dataset's graph, its functions' included."""
    graph = tf.compat.v1.GraphDef.FromString(
        dataset._as_serialized_graph().numpy())  # noqa: SLF001 (no public accessor)
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    return {n.op for n in nodes}
