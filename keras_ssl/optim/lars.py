"""LARS: layer-wise adaptive rate scaling (You et al. 2017), as in SimCLR."""

import re

import keras
from keras import ops

# SimCLR excludes batch-norm parameters and biases from both weight decay and
# the trust ratio (Chen et al. 2020, appendix B.1; `lars_optimizer.py` in
# google-research/simclr). Keras 3 names BN variables "gamma"/"beta" and
# default BN layers "batch_normalization", so we match those too.
DEFAULT_EXCLUDE = ("batch_normalization", "bias", "beta", "gamma")


@keras.saving.register_keras_serializable(package="keras_ssl")
class LARS(keras.optimizers.Optimizer):
    """Momentum SGD with layer-wise adaptive rate scaling (LARS).

    From You et al. 2017, "Large Batch Training of Convolutional Networks"
    (arXiv:1708.03888), with the conventions of SimCLR (Chen et al. 2020,
    "A Simple Framework for Contrastive Learning of Visual Representations",
    whose reference `lars_optimizer.py` uses "classic" momentum with the
    learning rate inside the velocity). For each variable `w` (one "layer")
    with gradient `g`, learning rate `lr` and velocity `v` (initially 0):

    ```
    g' = g + weight_decay * w      # unless excluded from decay
    trust = eta * ||w|| / ||g'||   # if ||w|| > 0 and ||g'|| > 0, else 1;
                                   # 1 if excluded from adaptation
    v = momentum * v + lr * trust * g'
    w = w - v                      # nesterov=False
    w = w - (momentum * v + lr * trust * g')   # nesterov=True
    ```

    Norms are L2 norms over the whole variable, taken before the update.
    Weight decay is part of the gradient (as in SimCLR), so the decay is also
    scaled by the trust ratio; Keras' decoupled `weight_decay` handling of
    the base class is switched off so it is not applied twice.

    Exclusions are regular expressions searched (`re.search`) in the Keras
    variable path, e.g. `"encoder/bn1/gamma"` or `"dense/bias"`. By default
    batch-norm parameters and biases are excluded from both weight decay and
    adaptation, so they get plain momentum SGD, as in SimCLR.

    Under `tf.distribute`, `update_step` receives gradients already summed
    across replicas; the per-variable exclusion flags are fixed when the
    optimizer is built, so no Python state changes during training.

    Args:
        learning_rate: float, `keras.optimizers.schedules.LearningRateSchedule`
            or callable. SimCLR uses `0.3 * batch_size / 256` with warm-up and
            cosine decay (see `scale_learning_rate`, `WarmupCosineDecay`).
        momentum: float in [0, 1]. Defaults to 0.9.
        weight_decay: float >= 0, L2 coefficient added to the gradient.
            SimCLR uses 1e-6 for pre-training. Defaults to 0.
        eta: trust coefficient. Defaults to 0.001 (SimCLR).
        nesterov: whether to use Nesterov momentum. Defaults to False.
        exclude_from_weight_decay: list of regexes; matching variables get
            no weight decay. `None` means `DEFAULT_EXCLUDE`; `[]` excludes
            nothing. Variables listed via the inherited
            `optimizer.exclude_from_weight_decay(var_list=...)` method are
            excluded as well.
        exclude_from_layer_adaptation: list of regexes; matching variables
            use trust ratio 1. `None` means the same list as
            `exclude_from_weight_decay` (SimCLR's rule).
        **kwargs: other `keras.optimizers.Optimizer` arguments (`name`,
            `clipnorm`, `use_ema`, ...).

    Example:

    ```python
    schedule = keras_ssl.optim.WarmupCosineDecay(
        peak_learning_rate=keras_ssl.optim.scale_learning_rate(0.3, 512),
        total_steps=10_000, warmup_steps=1_000)
    optimizer = keras_ssl.optim.LARS(schedule, weight_decay=1e-6)
    model.compile(optimizer=optimizer, loss=...)
    ```
    """

    def __init__(
        self,
        learning_rate,
        momentum=0.9,
        weight_decay=0.0,
        eta=0.001,
        nesterov=False,
        exclude_from_weight_decay=None,
        exclude_from_layer_adaptation=None,
        **kwargs,
    ):
        if weight_decay is None:
            weight_decay = 0.0
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, **kwargs
        )
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(
                f"LARS: `momentum` must be in [0, 1], got momentum={momentum}."
            )
        if weight_decay < 0.0:
            raise ValueError(
                "LARS: `weight_decay` must be >= 0, got "
                f"weight_decay={weight_decay}."
            )
        if eta <= 0.0:
            raise ValueError(f"LARS: `eta` must be > 0, got eta={eta}.")
        if exclude_from_weight_decay is None:
            exclude_from_weight_decay = DEFAULT_EXCLUDE
        if exclude_from_layer_adaptation is None:
            exclude_from_layer_adaptation = exclude_from_weight_decay
        self.momentum = float(momentum)
        self.eta = float(eta)
        self.nesterov = bool(nesterov)
        # Stored under private names: the base class has a method called
        # `exclude_from_weight_decay`.
        self._weight_decay_excludes = _compile_patterns(
            exclude_from_weight_decay, "exclude_from_weight_decay"
        )
        self._adaptation_excludes = _compile_patterns(
            exclude_from_layer_adaptation, "exclude_from_layer_adaptation"
        )

    def build(self, variables):
        """Creates one velocity per variable and fixes the exclusion flags."""
        if self.built:
            return
        super().build(variables)
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        # Decided here, from Keras variables: `update_step` may receive the
        # underlying `tf.Variable`, whose name lacks the Keras path.
        paths = [getattr(v, "path", v.name) for v in variables]
        self._decay_flags = tuple(
            self._use_weight_decay(v)
            and not _matches(self._weight_decay_excludes, p)
            for v, p in zip(variables, paths)
        )
        self._adaptation_flags = tuple(
            not _matches(self._adaptation_excludes, p) for p in paths
        )

    def _apply_weight_decay(self, variables):
        # LARS adds the decay to the gradient in `update_step`; the base
        # class' decoupled decay would apply it a second time.
        return

    def update_step(self, gradient, variable, learning_rate):
        """Applies the LARS update to one variable (see class docstring)."""
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        grad = ops.cast(ops.convert_to_tensor(gradient), dtype)
        if self._decay_flags[index] and self.weight_decay > 0:
            grad = grad + ops.cast(self.weight_decay, dtype) * variable
        if self._adaptation_flags[index]:
            w_norm = ops.norm(ops.reshape(variable, [-1]))
            g_norm = ops.norm(ops.reshape(grad, [-1]))
            both_positive = ops.logical_and(w_norm > 0, g_norm > 0)
            # Divide by 1 where the ratio is unused, so no inf/nan is made.
            safe_g_norm = ops.where(
                both_positive, g_norm, ops.ones_like(g_norm))
            trust_ratio = ops.where(
                both_positive,
                ops.cast(self.eta, dtype) * w_norm / safe_g_norm,
                ops.ones_like(w_norm),
            )
            lr = lr * trust_ratio
        velocity = self._velocities[index]
        momentum = ops.cast(self.momentum, dtype)
        scaled_grad = lr * grad
        self.assign(velocity, momentum * velocity + scaled_grad)
        if self.nesterov:
            self.assign_sub(variable, momentum * velocity + scaled_grad)
        else:
            self.assign_sub(variable, velocity)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "eta": self.eta,
                "nesterov": self.nesterov,
                "exclude_from_weight_decay": [
                    p.pattern for p in self._weight_decay_excludes
                ],
                "exclude_from_layer_adaptation": [
                    p.pattern for p in self._adaptation_excludes
                ],
            }
        )
        return config


def _compile_patterns(patterns, arg_name):
    if isinstance(patterns, str):
        raise ValueError(
            f"LARS: `{arg_name}` must be a list of regular expressions, got "
            f"the string {patterns!r}; wrap it in a list: [{patterns!r}]."
        )
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except (re.error, TypeError) as err:
            raise ValueError(
                f"LARS: `{arg_name}` entry {pattern!r} is not a valid regular "
                f"expression ({err})."
            ) from err
    return tuple(compiled)


def _matches(patterns, path):
    return any(p.search(path) for p in patterns)
