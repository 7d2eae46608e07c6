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

Faults (TF promises at-most-once visitation in this mode: a lost worker's split is not redone):

- The dispatcher restarted on its address (with ``DispatcherConfig(work_dir=...,
  fault_tolerant_mode=True)``, TF's documented recovery): the run waits while it is down and
  then continues with every batch once. Without ``work_dir`` it stops with TF's "Iteration id
  ... not found" once a worker needs its next epoch.
- A worker lost mid-epoch: the batches it had not delivered are lost. Every batch carries its
  (data epoch, step) and `EpochTally` checks what arrives: the run stops with a `LostBatches`
  error (resume from the last checkpoint) when an epoch's batches arrive out of order, when an
  epoch left behind receives none while a whole epoch's worth of others arrive, or when the
  stream ends short. TF's client keeps retrying a lost worker's address: with no other worker
  (and none restarted there) the run waits.

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


class LostBatches(ValueError):
    """Batches of the run that a tf.data service worker took with it."""


class EpochTally:
    """Checks that every data epoch's batches arrive from the service, each once and in order.

    `checked` follows the batches of one iteration (a scan: Keras may iterate twice) by their
    ``(data epoch, batch of the epoch)``. Each worker delivers its epochs whole and in order, so
    a batch out of order, a begun epoch behind the newest that gets no batch while ``per_epoch``
    batches of others arrive (its worker is gone: TF does not redo its split), or a stream that
    ends short (an epoch that never began, or one that stopped) mean lost batches: `LostBatches`, also kept in ``errors.error`` (a `BadImages`),
    which the command line reports as one line.
    """

    def __init__(self, initial_epoch, epochs, first_step, per_epoch, errors):
        self.initial_epoch, self.per_epoch, self.errors = initial_epoch, per_epoch, errors
        self.first_step, self.n = first_step, epochs - initial_epoch

    def checked(self, dataset):
        """``(out, skipped)`` of a dataset of ``(out, skipped, position)``, checked."""
        spec = dataset.element_spec
        end = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), spec[:2])
        end += (tf.constant([-1, -1], tf.int64),)  # marks the stream's end
        zero = tf.constant(0, tf.int64)
        start = (self._first_batches(), tf.zeros([self.n], tf.int64), zero - 1, zero)
        ds = dataset.concatenate(tf.data.Dataset.from_tensors(end)).scan(start, self._tally)
        ds = ds.map(lambda out, skipped, keep, status: (
            out, skipped, tf.logical_and(self._check(status), keep)))
        return ds.filter(lambda *e: e[2]).map(lambda o, skipped, _: (o, skipped))

    def _first_batches(self):
        """Each epoch's first batch: `first_step` for the first (a resumed run), 0 for the rest."""
        return tf.one_hot(0, self.n, tf.constant(self.first_step, tf.int64),
                          tf.constant(0, tf.int64))

    def _tally(self, state, element):
        """State (each epoch's next batch and last news, the newest, batches received) after a
        batch; and whether to keep it, and (problem, epoch index, batch, expected) or zeros."""
        out, skipped, position = element
        epoch, step = position[0], position[1]
        next_, news, newest, count = state
        epochs, i, count = tf.range(self.n, dtype=tf.int64), epoch - self.initial_epoch, count + 1
        is_end = epoch < 0
        i = tf.where(is_end, tf.zeros_like(i), i)
        news = tf.where((epochs > newest) & (epochs < i), count, news)  # begun elsewhere, or lost
        newest = tf.maximum(newest, i)
        expected = next_[i]
        next_ = tf.tensor_scatter_nd_update(next_, [[i]], [step + 1])
        news = tf.tensor_scatter_nd_update(news, [[i]], [count])
        # Only a begun epoch stalls: a worker slow to start its first batch (a loaded machine) is
        # not a lost one; an epoch that never begins is caught when the stream ends.
        begun = next_ > self._first_batches()
        stalled = (epochs < newest) & begun & (next_ < self.per_epoch) & (
            count - news > self.per_epoch)
        short = tf.argmax(tf.cast(state[0] < self.per_epoch, tf.int64))
        lost = tf.argmax(tf.cast(stalled, tf.int64))
        status = tf.case([
            (is_end, lambda: tf.stack([3 * tf.cast(tf.reduce_any(state[0] < self.per_epoch),
                                                   tf.int64), short, 0, 0])),
            (step != expected, lambda: tf.stack([tf.constant(1, tf.int64), i, step, expected])),
            (tf.reduce_any(stalled), lambda: tf.stack([tf.constant(2, tf.int64), lost,
                                                       tf.gather(next_, lost), 0]))],
            default=lambda: tf.zeros([4], tf.int64))
        state = tf.nest.map_structure(lambda new, old: tf.where(is_end, old, new),
                                      (next_, news, newest, count), state)
        return state, (out, skipped, tf.logical_not(is_end) | (status[0] > 0), status)

    def _check(self, status):
        return tf.cond(status[0] > 0, lambda: tf.py_function(self._fail, [status], tf.bool),
                       lambda: tf.constant(True))

    def _fail(self, status):
        problem, i, step, expected = status.numpy().tolist()
        epoch = self.initial_epoch + i
        what = {1: f"batch {step} of data epoch {epoch} arrived where batch {expected} was next",
                2: f"data epoch {epoch} stopped at batch {step} of {self.per_epoch} while later "
                   "epochs went on",
                3: f"the stream ended with data epoch {epoch} incomplete"}[problem]
        if self.errors.error is None:
            self.errors.error = LostBatches(
                f"The tf.data service lost batches of this run ({what}): a worker stopped "
                "mid-epoch and the service does not redo its work. Resume from the last "
                "checkpoint: re-run the same keras-ssl train command.")
        raise self.errors.error
