"""Learning rates of their own for some variables, on any Keras optimizer.

Keras optimizers have one learning rate for all their variables. Two methods need another for a
group: SimSiam's predictor learns at the constant initial rate while the rest follows the
schedule (Chen & He 2021, section 4.2 / table 1; the authors' `main_simsiam.py --fix-pred-lr`),
and Barlow Twins' biases and batch-norm parameters learn at 0.0048 / 0.2 of the weights' rate
(Zbontar et al. 2021, section 4; `--learning-rate-biases` of the authors' `main.py`).
`hold_learning_rate` and `scale_learning_rate_of` give a group its rate on SGD, AdamW or
`keras_ssl.optim.LARS`, also inside a `LossScaleOptimizer`.
"""

import keras
from keras import ops

from keras_ssl.optim.lars import LARS


def hold_learning_rate(optimizer, variables, learning_rate=None):
    """Make `optimizer` update `variables()` at the constant `learning_rate` at every step.

    Args:
        optimizer: a Keras optimizer, or a `LossScaleOptimizer` around one.
        variables: a callable returning the variables to hold (called at the first update, once
            the model is built).
        learning_rate: the constant rate; None takes the schedule's peak (a `CosineDecay`'s, e.g.
            `keras_ssl.optim.WarmupCosineDecay`: SimSiam's `init_lr`). A constant learning rate
            needs nothing held and is left alone.
    Raises:
        ValueError: learning_rate is None and the schedule is not a cosine decay (its peak unknown).

    Example:
    ```python
    optimizer = keras.optimizers.SGD(WarmupCosineDecay(0.1, 1000, 0), momentum=0.9)
    hold_learning_rate(optimizer, lambda: model.predictor.trainable_variables)
    ```
    """
    schedule = getattr(optimizer, "inner_optimizer", optimizer)._learning_rate
    if learning_rate is None:
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            return  # a constant rate holds already
        if not isinstance(schedule, keras.optimizers.schedules.CosineDecay):
            raise ValueError(
                f"hold_learning_rate: the peak of a {type(schedule).__name__} schedule is unknown; "
                "pass learning_rate=, or use keras_ssl.optim.WarmupCosineDecay.")
        learning_rate = schedule.warmup_target or schedule.initial_learning_rate
    _set_rate(optimizer, variables, lambda scheduled: ops.cast(learning_rate, scheduled.dtype))


def scale_learning_rate_of(optimizer, variables, factor):
    """Make `optimizer` update `variables()` at `factor` times its (scheduled) learning rate.

    Example:
    ```python
    scale_learning_rate_of(optimizer, lambda: biases_and_batch_norm(model), 0.0048 / 0.2)
    ```
    """
    if factor != 1:
        _set_rate(optimizer, variables, lambda scheduled: scheduled * ops.cast(factor,
                                                                                 scheduled.dtype))


def _set_rate(optimizer, variables, rate_of):
    """Wrap the optimizer's `update_step(gradient, variable, learning_rate)` on this instance (not
    its class, not its config): the variables of `variables()` get `rate_of(scheduled rate)`.
    Weight decay follows: LARS adds it to the gradient inside `update_step`, so it uses the new
    rate; Keras' decoupled decay (SGD, AdamW) was applied before with the scheduled rate, so the
    difference is made up here. A model applies this in `compile` (which
    `keras.models.load_model` calls too)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    update_step = inner.update_step
    decoupled_decay = not isinstance(inner, LARS) and bool(inner.weight_decay)
    keys = []

    def update_step_at_own_rate(gradient, variable, learning_rate):
        if not keys:
            keys.append({inner._var_key(v) for v in variables()})
        if inner._var_key(variable) not in keys[0]:
            return update_step(gradient, variable, learning_rate)
        scheduled = ops.cast(learning_rate, variable.dtype)
        rate = rate_of(scheduled)
        if decoupled_decay and inner._use_weight_decay(variable):
            decay = ops.cast(inner.weight_decay, variable.dtype)
            inner.assign_sub(variable, variable * decay * (rate - scheduled))
        return update_step(gradient, variable, rate)

    inner.update_step = update_step_at_own_rate
