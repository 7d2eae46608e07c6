"""The encoder registry: every encoder says, in its own module, what the command line needs of it
(as `keras_ssl.methods.registry` does for methods).

An encoder module ends with one `register` call naming its `config.encoder` keys with their
defaults, its checks of their values and how it is built from them. `base_config(method,
encoder=name)` fills the `encoder` section with `kind`, `synchronized_bn` and these keys only, and
`keras-ssl` builds the encoder here by its `kind`: adding an encoder touches nothing central.

Example:
```python
from keras_ssl.encoders import registry

spec = registry.get("amdim")
spec.default_config()  # {'ndf': 128, 'n_rkhs': 1024, 'n_depth': 10, 'use_bn': False}
registry.names()       # ['amdim', 'resnet']
encoder = spec.build(config.encoder, (32, 32, 3), synchronized_bn=False, name="encoder")
```
"""

import copy
import dataclasses
from typing import Callable

_REGISTRY = {}


def _no_checks(config):
    del config


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """What an encoder registers.

    Attributes:
        name: the config's `encoder.kind` value, e.g. "resnet".
        config: the encoder's own keys of `config.encoder` with their defaults (beside `kind` and
            `synchronized_bn`, which every encoder has).
        build: `build(section, input_shape, synchronized_bn, **kwargs) -> keras.Model`, the
            encoder of the `config.encoder` section `section` for images of `input_shape`;
            `kwargs` (the layer name) go to its constructor.
        checks: `checks(config)` raises ValueError naming the key of a bad value (see
            `keras_ssl.config_checks`); it gets the whole config (an encoder may accept only some
            `data.image_size`).
    """

    name: str
    config: dict
    build: Callable
    checks: Callable = _no_checks

    def default_config(self):
        return copy.deepcopy(self.config)


def register(name, *, config, build, checks=_no_checks):
    """Adds an encoder under `name` (once: a second registration of the name is refused)."""
    if name in _REGISTRY:
        raise ValueError(f"an encoder named {name!r} is registered already.")
    _REGISTRY[name] = EncoderSpec(name, dict(config), build, checks)
    return _REGISTRY[name]


def names():
    """The registered encoder names, sorted."""
    return sorted(_REGISTRY)


def get(name):
    """The `EncoderSpec` registered as `name`; an unknown name is refused listing the known ones."""
    if name not in _REGISTRY:
        raise ValueError(f"config key encoder.kind={name!r} is invalid: expected one of "
                         f"{names()}.")
    return _REGISTRY[name]
