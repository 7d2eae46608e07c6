"""Training from any position, with `model.fit` where Keras supports the strategy and a loop of
our own where it does not (MultiWorkerMirroredStrategy, see `uses_custom_loop`)."""

import keras
import tensorflow as tf

from keras_ssl.distribute.strategy import uses_custom_loop


def fit(model, dataset_fn, *, epochs, steps_per_epoch, callbacks=(), initial_epoch=0,
        initial_step=0, verbose="auto"):
    """Train `model` (compiled, built, inside its strategy) from batch `initial_step` of epoch
    `initial_epoch` to the end of epoch `epochs - 1`.

    `dataset_fn(epoch, step)` returns the data from batch `step` of epoch `epoch` on: a
    `tf.data.Dataset` or a distributed dataset (e.g. `strategy.distribute_datasets_from_function`
    over `keras_ssl.data.pretraining_dataset(..., epochs, epoch, step, input_context)`).

    With `model.fit`, a resumed epoch (`initial_step > 0`) is one `fit` call of the remaining
    batches and the epochs after it a second one; callbacks see `on_train_begin`/`end` for each.
    Under MultiWorkerMirroredStrategy a loop of our own runs `strategy.run(model.train_step)` and
    calls the callbacks as `fit` does; when one worker's callbacks stop training (e.g.
    `TimeBudget`), all workers stop after the same batch, since collectives need every worker.

    Returns:
        The `keras.callbacks.History` of the last `fit` (or of the loop).

    Example:
    ```python
    def dataset_fn(epoch, step):
        return strategy.distribute_datasets_from_function(lambda ctx: data.pretraining_dataset(
            None, 256, views, arrays=arrays, epochs=100, initial_epoch=epoch, initial_step=step,
            input_context=ctx))
    keras_ssl.distribute.fit(model, dataset_fn, epochs=100, steps_per_epoch=len(arrays[0]) // 256)
    ```
    """
    if not 0 <= initial_step < steps_per_epoch:
        raise ValueError(f"initial_step must be in [0, {steps_per_epoch}), got {initial_step}.")
    callbacks = list(callbacks)
    if uses_custom_loop(model.distribute_strategy):
        return _custom_fit(model, dataset_fn(initial_epoch, initial_step), epochs, steps_per_epoch,
                           callbacks, initial_epoch, initial_step, verbose)
    history = None
    if initial_step:
        history = model.fit(dataset_fn(initial_epoch, initial_step), epochs=initial_epoch + 1,
                            initial_epoch=initial_epoch,
                            steps_per_epoch=steps_per_epoch - initial_step,
                            callbacks=callbacks, verbose=verbose, shuffle=False)
        if model.stop_training:
            return history
        initial_epoch += 1
    if initial_epoch < epochs:
        history = model.fit(dataset_fn(initial_epoch, 0), epochs=epochs,
                            initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                            callbacks=callbacks, verbose=verbose, shuffle=False)
    return history


def _custom_fit(model, dataset, epochs, steps_per_epoch, callbacks, initial_epoch, initial_step,
                verbose):
    """`model.fit`'s loop (callbacks, metric resets, stop_training) around `strategy.run`."""
    strategy = model.distribute_strategy
    if verbose == "auto":
        verbose = 1
    callbacks = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs,
        steps=steps_per_epoch, model=model)

    @tf.function
    def train_step(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        # Every replica's metric results are its own running means; their mean is the global one.
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    @tf.function
    def any_replica(flag):
        votes = strategy.run(lambda f: tf.cast(f, tf.int32), args=(flag,))
        return strategy.reduce("SUM", votes, axis=None) > 0

    iterator = iter(dataset)
    model.stop_training = False
    callbacks.on_train_begin()
    logs = epoch_logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        first = initial_step if epoch == initial_epoch else 0
        for batch in range(steps_per_epoch - first):
            callbacks.on_train_batch_begin(batch)
            logs = {name: float(value) for name, value in train_step(iterator).items()}
            callbacks.on_train_batch_end(batch, logs)
            model.stop_training = bool(any_replica(tf.constant(model.stop_training)))
            if model.stop_training:
                break
        epoch_logs = dict(logs)
        callbacks.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_weights)
    callbacks.on_train_end(logs=epoch_logs)
    return model.history
