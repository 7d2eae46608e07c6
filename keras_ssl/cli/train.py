"""`keras-ssl train`: pretrain a method on a data source under any tf.distribute strategy,
resumable from the workdir's last checkpoint (also mid-epoch)."""

import contextlib
import sys

import keras
import tensorflow as tf
from absl import logging

from keras_ssl import data, distribute, evaluation
from keras_ssl.callbacks import (PREEMPTED_EXIT_CODE, CollapseWarning, HistoryCSV, RaiseOnNaN,
                                 StopOnSignal, TimeBudget, TrainingCheckpoint)
from keras_ssl.cli import Preempted, UsageError, bad_image_errors, builders, data_errors
from keras_ssl.cli.workdir import Workdir

_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def train(config, workdir, strategy="auto", tpu=None, virtual_devices=None, force_unlock=False):
    """Train `config`'s method in `workdir`; re-running the same call resumes the run.

    The chief holds the workdir's lock (`Workdir.lock`) throughout: a second live run in the
    same workdir is refused.

    Args:
        config: a validated config (`keras_ssl.cli.config`); `train.batch_size` is the global batch.
        workdir: the run directory.
        strategy: one of `keras_ssl.distribute.STRATEGIES`; `tpu`: the TPU's address.
        virtual_devices: split the CPU (or first GPU) into this many logical devices first.
        force_unlock: take over the workdir's lock even if its holder may be alive.
    Returns:
        The trained method.
    Raises:
        Preempted: SIGTERM came; training stopped after the batch it came in, with a checkpoint
            of that position (the command line exits with its `exit_code`).
        UsageError: a bad config or data, or a NaN loss (its step named).
    """
    if virtual_devices:
        distribute.set_virtual_devices(virtual_devices)  # before any TensorFlow op
    strategy = distribute.create_strategy(strategy, tpu)
    if config.data.augment_on == "device" and isinstance(strategy, tf.distribute.TPUStrategy):
        raise UsageError("data.augment_on='device' does not run on TPUs yet: XLA compiles neither "
                         "the crops' CropAndResize nor colour jitter's DynamicPartition; use "
                         "--config.data.augment_on=host.")
    try:
        distribute.per_replica_batch_size(config.train.batch_size, strategy)
    except ValueError as e:
        raise UsageError(f"train.batch_size: {e}") from None
    chief = strategy.extended.should_checkpoint
    wd = Workdir(workdir)
    # The other workers of a multi-worker run write nothing to the workdir.
    with wd.lock(force_unlock) if chief else contextlib.nullcontext():
        return _train(config, wd, strategy, chief)


def _train(config, wd, strategy, chief):
    if chief:
        wd.save_config(config)
    if config.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(_POLICIES[config.mixed_precision])

    d, batch_size = config.data, config.train.batch_size
    with data_errors():
        pipeline = builders.choose_pipeline(config)
        if pipeline == "memory":
            images, labels, class_names = builders.load_split(config, d.train_split,
                                                              d.max_train_examples)
            num_examples, steps_per_epoch = len(images), len(images) // batch_size
        else:
            _check_streamable(config)
            stream = builders.train_stream(config)
            pipelines = distribute.num_input_pipelines(strategy)
            num_examples = stream.num_examples
            steps_per_epoch = data.streaming_steps_per_epoch(stream, batch_size, pipelines)
    if steps_per_epoch == 0:
        raise UsageError(f"train.batch_size={batch_size} exceeds the {num_examples} training "
                         f"images of {d.source}; lower --config.train.batch_size.")
    logging.info("%s with %d replicas; %d training images (%s pipeline), %d steps per epoch of "
                 "%d images", type(strategy).__name__, strategy.num_replicas_in_sync,
                 num_examples, pipeline, steps_per_epoch, batch_size)

    with strategy.scope():
        model = builders.build_method(config, builders.build_encoder(config), steps_per_epoch)
        # XLA compiles neither CropAndResize nor colour jitter's DynamicPartition: a train step
        # that augments runs without it (Keras' "auto" would compile it on one GPU).
        model.compile(optimizer=builders.build_optimizer(config, steps_per_epoch),
                      jit_compile="auto" if d.augment_on == "host" else False)
        size = config.data.image_size
        model.build((None, size, size, 3))
        # Optimizer variables exist before a checkpoint is restored into them.
        model.optimizer.build(model.trainable_variables)

    bad_images = data.BadImages()
    # Counts the epoch's skips; checkpointed, so a resumed epoch's count is the whole epoch's.
    bad_images_logger = data.BadImagesLogger(bad_images, batch_size // pipelines) \
        if pipeline == "streaming" else None
    checkpoint = TrainingCheckpoint(wd.backup_dir, steps_per_epoch,
                                    config.train.checkpoint_every_steps,
                                    counters=[bad_images_logger] if bad_images_logger else [])
    epoch, step = checkpoint.restore(model)
    if checkpoint.restored_path:
        logging.info("resuming from %s at epoch %d, step %d (optimizer iterations %d)",
                     checkpoint.restored_path, epoch, step,
                     int(model.optimizer.iterations.numpy()))

    if epoch < config.train.epochs:
        transform = builders.build_transform(config)
        builders.set_device_augmentation(config, model, transform)

        def dataset_fn(initial_epoch, initial_step):
            position = dict(epochs=config.train.epochs, initial_epoch=initial_epoch,
                            initial_step=initial_step)
            if pipeline == "memory":
                def make(context):
                    return data.pretraining_dataset(
                        None, batch_size, transform=transform, seed=config.seed,
                        arrays=(images, labels), input_context=context,
                        augment_on=d.augment_on, **position)
            else:
                def make(context):
                    return builders.streaming_dataset(config, transform, bad_images,
                                                      input_context=context, **position)
            return strategy.distribute_datasets_from_function(make)

        # Before the checkpoint: a NaN step is never saved, and a signal's step is.
        stop = StopOnSignal()
        callbacks = [stop, RaiseOnNaN(), checkpoint]
        if bad_images_logger:  # before the loggers, which then record the count
            callbacks.append(bad_images_logger)
        if config.eval.online_probe:  # before the loggers, which then record its accuracy
            callbacks.append(evaluation.OnlineLinearProbe(images, labels, len(class_names),
                                                          seed=config.seed))
        if chief and "embedding_std" in model.metric_names:  # a collapsed run is not silent
            callbacks.append(CollapseWarning())
        if chief:
            callbacks += [keras.callbacks.TensorBoard(wd.logs_dir),
                          HistoryCSV(wd.history_path)]
        budget = TimeBudget(config.train.max_minutes) if config.train.max_minutes else None
        callbacks += [budget] if budget else []
        with bad_image_errors(bad_images):
            try:
                distribute.fit(model, dataset_fn, epochs=config.train.epochs,
                               steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                               initial_epoch=epoch, initial_step=step,
                               verbose=(1 if sys.stdout.isatty() else 2) if chief else 0)
            except FloatingPointError as e:  # RaiseOnNaN's message names the step and the fix
                raise UsageError(str(e)) from None
        epoch, step = checkpoint.position
        if epoch < config.train.epochs and not (budget and budget.stopped_early):
            # A signal, here or on another worker (their loop stops them all after one batch).
            cause = (f"by signal {stop.received}" if stop.received is not None else
                     "with the other workers (one received a stop signal) or as the data ran out")
            raise Preempted(f"stopped {cause} at epoch {epoch}, step {step}, saved in "
                            f"{wd.backup_dir}; re-run the same command to resume there.",
                            PREEMPTED_EXIT_CODE)
    else:
        logging.info("all %d epochs are done; nothing to train", config.train.epochs)
    if chief:
        model.encoder.save(wd.encoder_path)
        logging.info("encoder saved to %s", wd.encoder_path)
    return model


def _check_streamable(config):
    """What the streaming pipeline does not do, refused before training starts."""
    if config.data.max_train_examples is not None:
        raise UsageError("data.max_train_examples subsets the in-memory pipeline only; set "
                         "--config.data.pipeline=memory, or drop it to stream every image.")
    if config.eval.online_probe:
        raise UsageError("eval.online_probe trains on labelled in-memory train images; set "
                         "--config.data.pipeline=memory, or --config.eval.online_probe=False.")
