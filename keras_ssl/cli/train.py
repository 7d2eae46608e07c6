"""`keras-ssl train`: pretrain a method on a data source under any tf.distribute strategy,
resumable from the workdir's last checkpoint (also mid-epoch)."""

import sys

import keras
import tensorflow as tf
from absl import logging

from keras_ssl import data, distribute, evaluation
from keras_ssl.callbacks import RaiseOnNaN, TimeBudget, TrainingCheckpoint
from keras_ssl.cli import builders
from keras_ssl.cli.workdir import Workdir

_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def train(config, workdir, strategy="auto", tpu=None, virtual_devices=None):
    """Train `config`'s method in `workdir`; re-running the same call resumes the run.

    Args:
        config: a validated config (`keras_ssl.cli.config`); `train.batch_size` is the global batch.
        workdir: the run directory.
        strategy: one of `keras_ssl.distribute.STRATEGIES`; `tpu`: the TPU's address.
        virtual_devices: split the CPU (or first GPU) into this many logical devices first.
    Returns:
        The trained method.
    """
    if virtual_devices:
        distribute.set_virtual_devices(virtual_devices)  # before any TensorFlow op
    strategy = distribute.create_strategy(strategy, tpu)
    try:
        distribute.per_replica_batch_size(config.train.batch_size, strategy)
    except ValueError as e:
        raise ValueError(f"train.batch_size: {e}") from None
    chief = strategy.extended.should_checkpoint
    wd = Workdir(workdir)
    if chief:  # the other workers of a multi-worker run write nothing to the workdir
        wd.save_config(config)
    if config.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(_POLICIES[config.mixed_precision])

    images, labels, class_names = builders.load_split(config, config.data.train_split,
                                                      config.data.max_train_examples)
    batch_size = config.train.batch_size
    if batch_size > len(images):
        raise ValueError(f"train.batch_size={batch_size} exceeds the {len(images)} training images "
                         f"of {config.data.source}; lower --config.train.batch_size.")
    steps_per_epoch = len(images) // batch_size
    logging.info("%s with %d replicas; %d training images, %d steps per epoch of %d images",
                 type(strategy).__name__, strategy.num_replicas_in_sync, len(images),
                 steps_per_epoch, batch_size)

    with strategy.scope():
        model = builders.build_method(config, builders.build_encoder(config), steps_per_epoch)
        model.compile(optimizer=builders.build_optimizer(config, steps_per_epoch))
        size = config.data.image_size
        model.build((None, size, size, 3))
        # Optimizer variables exist before a checkpoint is restored into them.
        model.optimizer.build(model.trainable_variables)

    checkpoint = TrainingCheckpoint(wd.backup_dir, steps_per_epoch,
                                    config.train.checkpoint_every_steps)
    epoch, step = checkpoint.restore(model)
    if checkpoint.restored_path:
        logging.info("resuming from %s at epoch %d, step %d (optimizer iterations %d)",
                     checkpoint.restored_path, epoch, step, int(model.optimizer.iterations))

    if epoch < config.train.epochs:
        transform = builders.build_transform(config)

        def dataset_fn(initial_epoch, initial_step):
            return strategy.distribute_datasets_from_function(
                lambda context: data.pretraining_dataset(
                    None, batch_size, transform=transform, seed=config.seed,
                    arrays=(images, labels), epochs=config.train.epochs,
                    initial_epoch=initial_epoch, initial_step=initial_step,
                    input_context=context))

        callbacks = [checkpoint, RaiseOnNaN()]
        if config.eval.online_probe:  # before the loggers, which then record its accuracy
            callbacks.append(evaluation.OnlineLinearProbe(images, labels, len(class_names),
                                                          seed=config.seed))
        if chief:
            callbacks += [keras.callbacks.TensorBoard(wd.logs_dir),
                          keras.callbacks.CSVLogger(wd.history_path, append=True)]
        if config.train.max_minutes is not None:
            callbacks.append(TimeBudget(config.train.max_minutes))
        distribute.fit(model, dataset_fn, epochs=config.train.epochs,
                       steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                       initial_epoch=epoch, initial_step=step,
                       verbose=(1 if sys.stdout.isatty() else 2) if chief else 0)
    else:
        logging.info("all %d epochs are done; nothing to train", config.train.epochs)
    if chief:
        model.encoder.save(wd.encoder_path)
        logging.info("encoder saved to %s", wd.encoder_path)
    return model
