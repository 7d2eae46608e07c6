"""Building a functional encoder under its own dtype policy.

Keras' `Functional` constructor ignores a `dtype` argument: a functional model's layers take the
global policy in force while they are created (keras/src/models/functional.py, `__init__` keeps
`trainable` from its kwargs only). An encoder whose constructor builds its graph therefore builds
it inside `policy_scope(dtype)`, so that `Encoder(dtype="mixed_bfloat16")` computes in bfloat16
and `get_config` / `from_config` (which carry `dtype`, as every Keras layer's config does) give the
same model back.
"""

import contextlib

import keras


@contextlib.contextmanager
def policy_scope(dtype):
    """Make `dtype` (a policy, its name or its serialized config) the global policy for the
    duration; None leaves the global policy as it is. Keras keeps the global policy per thread."""
    if dtype is None:
        yield
        return
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(keras.dtype_policies.get(dtype))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
