"""`keras-ssl train`: pretrain a method on a data source, resumable from the workdir."""

import sys

import keras
from absl import logging

from keras_ssl import data
from keras_ssl.callbacks import RaiseOnNaN, TimeBudget
from keras_ssl.cli import builders
from keras_ssl.cli.workdir import Workdir


def train(config, workdir):
    wd = Workdir(workdir)
    wd.save_config(config)
    keras.utils.set_random_seed(config.seed)

    images, labels, _ = builders.load_split(config, config.data.train_split,
                                            config.data.max_train_examples)
    batch_size = config.train.batch_size
    if batch_size > len(images):
        raise ValueError(f"train.batch_size={batch_size} exceeds the {len(images)} training images "
                         f"of {config.data.source}; lower --config.train.batch_size.")
    steps_per_epoch = len(images) // batch_size
    dataset = data.pretraining_dataset(
        None, batch_size, transform=builders.build_transform(config), seed=config.seed,
        arrays=(images, labels))
    logging.info("%d training images, %d steps per epoch", len(images), steps_per_epoch)

    model = builders.build_method(config, builders.build_encoder(config))
    model.compile(optimizer=builders.build_optimizer(config, steps_per_epoch))
    size = config.data.image_size
    model.build((None, size, size, 3))

    callbacks = [
        # Weights, optimizer state and epoch after every epoch; the previous one is kept in case a
        # crash hits while writing. Re-running the same command resumes from it.
        keras.callbacks.BackupAndRestore(wd.backup_dir, save_freq="epoch", double_checkpoint=True,
                                         delete_checkpoint=False),
        keras.callbacks.TensorBoard(wd.logs_dir),
        keras.callbacks.CSVLogger(wd.history_path, append=True),
        RaiseOnNaN(),
    ]
    if config.train.max_minutes is not None:
        callbacks.append(TimeBudget(config.train.max_minutes))
    model.fit(dataset, epochs=config.train.epochs, callbacks=callbacks,
              verbose=1 if sys.stdout.isatty() else 2)
    model.encoder.save(wd.encoder_path)
    logging.info("encoder saved to %s", wd.encoder_path)
    return model
