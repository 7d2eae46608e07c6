"""Checks of config values that raise a ValueError naming the key, the value and what is expected.

Shared by the CLI's checks of the common sections and each method's own (`registry.register(...,
checks=...)`).

Example:
```python
positive_int("train.batch_size", config.train.batch_size)
# ValueError: config key train.batch_size=0 is invalid: expected a positive integer.
```
"""


def check(condition, key, value, expected):
    if not condition:
        raise ValueError(f"config key {key}={value!r} is invalid: expected {expected}.")


def positive_int(key, value):
    check(isinstance(value, int) and not isinstance(value, bool) and value > 0, key, value,
          "a positive integer")


def positive(key, value):
    check(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0, key,
          value, "a positive number")


def probability(key, value):
    check(isinstance(value, (int, float)) and 0 <= value <= 1, key, value, "a number in [0, 1]")


def boolean(key, value):
    check(isinstance(value, bool), key, value, "True or False")


def crop_scale(key, value):
    lo, hi = value
    check(0 < lo <= hi <= 1, key, (lo, hi), "0 < min <= max <= 1")


def same_synchronized_bn(config):
    """Global BN is all or nothing: with it in the encoder only (or the heads only), a
    multi-replica run normalises part of the network per replica, which is rarely meant."""
    model_bn, encoder_bn = config.model.synchronized_bn, config.encoder.synchronized_bn
    check(model_bn == encoder_bn, "model.synchronized_bn", model_bn,
          f"the same as encoder.synchronized_bn ({encoder_bn}): set both to True for global "
          "batch norm across replicas, or both to False")
