"""Learning-rate schedules and batch-size scaling used by SimCLR."""

import math

import keras


@keras.saving.register_keras_serializable(package="keras_ssl")
class WarmupCosineDecay(keras.optimizers.schedules.CosineDecay):
    """Linear warm-up from 0 to a peak, then cosine decay to an end value.

    The SimCLR schedule (Chen et al. 2020, section B.1: linear warm-up for
    10 epochs, then cosine decay without restarts). At optimizer step `s`:

    ```
    s < warmup_steps:  lr = peak * s / warmup_steps
    otherwise:         t = min(s - warmup_steps, decay_steps) / decay_steps
                       lr = end + (peak - end) * 0.5 * (1 + cos(pi * t))
    ```

    with `decay_steps = total_steps - warmup_steps`; after `total_steps` the
    rate stays at `end_learning_rate`. This is Keras' `CosineDecay` with
    `initial_learning_rate=0`, `warmup_target=peak` and `alpha=end/peak`,
    parametrised by totals as in SimCLR. Note Keras optimizers evaluate the
    schedule at their iteration count before incrementing it, so the very
    first update uses `lr = 0` when `warmup_steps > 0` (as in SimCLR).

    Args:
        peak_learning_rate: float > 0, the rate reached after warm-up.
        total_steps: int > 0, warm-up plus decay steps.
        warmup_steps: int with `0 <= warmup_steps < total_steps`.
        end_learning_rate: float in [0, peak_learning_rate]. Defaults to 0.
        name: name scope of the schedule ops.

    Example:

    ```python
    schedule = WarmupCosineDecay(
        peak_learning_rate=1.2, total_steps=10_000, warmup_steps=1_000)
    optimizer = LARS(learning_rate=schedule)
    ```
    """

    def __init__(
        self,
        peak_learning_rate,
        total_steps,
        warmup_steps,
        end_learning_rate=0.0,
        name="WarmupCosineDecay",
    ):
        if not peak_learning_rate > 0:
            raise ValueError(
                "WarmupCosineDecay: `peak_learning_rate` must be > 0, got "
                f"{peak_learning_rate}."
            )
        if not 0 <= end_learning_rate <= peak_learning_rate:
            raise ValueError(
                "WarmupCosineDecay: `end_learning_rate` must be in "
                f"[0, peak_learning_rate={peak_learning_rate}], got "
                f"{end_learning_rate}."
            )
        if int(total_steps) != total_steps or total_steps <= 0:
            raise ValueError(
                "WarmupCosineDecay: `total_steps` must be a positive integer, "
                f"got {total_steps}."
            )
        if int(warmup_steps) != warmup_steps or not (
            0 <= warmup_steps < total_steps
        ):
            raise ValueError(
                "WarmupCosineDecay: `warmup_steps` must be an integer in "
                f"[0, total_steps={total_steps}), got {warmup_steps}; leave at "
                "least one decay step."
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.end_learning_rate = float(end_learning_rate)
        super().__init__(
            initial_learning_rate=0.0,
            decay_steps=self.total_steps - int(warmup_steps),
            alpha=self.end_learning_rate / self.peak_learning_rate,
            name=name,
            warmup_target=self.peak_learning_rate,
            warmup_steps=int(warmup_steps),
        )

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "end_learning_rate": self.end_learning_rate,
            "name": self.name,
        }


def scale_learning_rate(base_lr, batch_size, scaling="linear"):
    """Scales a base learning rate with the batch size, as in SimCLR.

    SimCLR (Chen et al. 2020, appendix B.1) uses `0.3 * batch_size / 256`
    ("linear") and `0.075 * sqrt(batch_size)` ("sqrt", better for small
    batches and long training).

    Args:
        base_lr: float > 0 (0.3 for linear, 0.075 for sqrt in SimCLR).
        batch_size: positive int, the global batch size.
        scaling: `"linear"` -> `base_lr * batch_size / 256`;
            `"sqrt"` -> `base_lr * sqrt(batch_size)`.

    Returns:
        The scaled learning rate as a Python float.

    Example:

    >>> scale_learning_rate(0.3, 4096)
    4.8
    >>> scale_learning_rate(0.075, 4096, scaling="sqrt")
    4.8
    """
    if not base_lr > 0:
        raise ValueError(
            f"scale_learning_rate: `base_lr` must be > 0, got {base_lr}."
        )
    if (
        isinstance(batch_size, bool)
        or int(batch_size) != batch_size
        or batch_size <= 0
    ):
        raise ValueError(
            "scale_learning_rate: `batch_size` must be a positive integer, got "
            f"{batch_size}."
        )
    if scaling == "linear":
        return float(base_lr) * batch_size / 256
    if scaling == "sqrt":
        return float(base_lr) * math.sqrt(batch_size)
    raise ValueError(
        f"scale_learning_rate: unknown `scaling`={scaling!r}; expected "
        "'linear' or 'sqrt'."
    )
