"""The method registry: every method says, in its own module, what the command line needs of it.

A method module ends with one `register` call naming its class, the default `model` and `augment`
config sections (the paper's values), how its training views are made from a config, and any checks
or run-dependent arguments of its own. `keras-ssl`, its configs and the test over all methods find a
method here by name, so adding a method touches nothing central.

Example:
```python
from keras_ssl.methods import registry

spec = registry.get("simclr")
spec.method_class        # keras_ssl.methods.SimCLR
spec.default_model()     # {'projection_hidden_dims': (512,), 'temperature': 0.5, ...}
registry.names()         # ['byol', 'mocov2', 'rotnet', 'simclr']
```
"""

import copy
import dataclasses
from typing import Callable

import ml_collections

_REGISTRY = {}


def unset(field_type):
    """A default of None (the method derives the value, e.g. from the image size) that
    `--config.<section>.<key>=value` can still set: ml_collections parses an override by the
    field's type, and refuses to override a bare None."""
    return ml_collections.FieldReference(None, field_type=field_type)


def _values(section):
    return {key: value.get() if isinstance(value, ml_collections.FieldReference) else value
            for key, value in copy.deepcopy(section).items()}


def _no_checks(config):
    del config


def _no_run_arguments(config, steps_per_epoch):
    del config, steps_per_epoch
    return {}


def _encoder_itself(config, encoder):
    del config
    return encoder


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """What a method registers.

    Attributes:
        name: the config's `method` value, e.g. "simclr".
        method_class: the `keras.Model` subclass; built as `method_class(encoder, **config.model,
            **run_arguments(config, steps_per_epoch))`.
        model: default `config.model` section, the constructor's keyword arguments.
        augment: default `config.augment` section, read by `views`.
        views: `views(config) -> transform(images uint8 [B, H, W, 3], seed) -> what the method's
            train_step takes`.
        checks: `checks(config)` raises ValueError naming the key of a bad value (see
            `keras_ssl.config_checks`); the shared sections are checked by the CLI.
        run_arguments: `run_arguments(config, steps_per_epoch) -> dict` of constructor arguments
            that depend on the run rather than the recipe (BYOL's total steps).
        preview: optional `preview(transform, images float [N, H, W, 3] in [0, 1], outputs) ->
            [(title, images float [N, h, w, 3])]`, the columns `keras-ssl preview` draws of the
            `outputs` of `transform` (the one `views` built: its bins, permutations) for a method
            whose inputs are not plain views (tiles, puzzles, masks); by default every rank-4
            output is a column.
        whole_image_encoder: `whole_image_encoder(config, encoder) -> model.encoder`, what the
            method puts around the config's encoder for whole images (Colorization's RGB -> L
            layer); `keras-ssl eval` builds the random-init baseline with it, so that the
            baseline is the same architecture. By default the encoder itself.
        eval_figures: optional `eval_figures(model, config, images float [N, H, W, 3] in [0, 1]) ->
            [(title, images float [N, h, w, 3])]`, columns of a picture of what the trained
            method (all its heads, restored from the run's last checkpoint) makes of test
            images, drawn by `keras-ssl eval --workdir` (colourised or inpainted images).
    """

    name: str
    method_class: type
    model: dict
    augment: dict
    views: Callable
    checks: Callable = _no_checks
    run_arguments: Callable = _no_run_arguments
    preview: Callable = None
    eval_figures: Callable = None
    whole_image_encoder: Callable = _encoder_itself

    def default_model(self):
        """The `model` defaults as values (`unset` ones None)."""
        return _values(self.model)

    def default_augment(self):
        """The `augment` defaults as values (`unset` ones None)."""
        return _values(self.augment)

    def config_sections(self):
        """Fresh `model` and `augment` ConfigDicts, `unset` keys typed for overrides."""
        return (ml_collections.ConfigDict(copy.deepcopy(self.model)),
                ml_collections.ConfigDict(copy.deepcopy(self.augment)))

    def build(self, config, encoder, steps_per_epoch=None):
        """The method on `encoder` with the config's `model` section."""
        kwargs = {key: tuple(value) if isinstance(value, list) else value
                  for key, value in config.model.items()}
        kwargs.update(self.run_arguments(config, steps_per_epoch))
        return self.method_class(encoder, **kwargs)


def register(name, method_class, *, model, augment, views, checks=_no_checks,
             run_arguments=_no_run_arguments, preview=None, eval_figures=None,
             whole_image_encoder=_encoder_itself):
    """Adds a method under `name` (once: a second registration of the name is refused)."""
    if name in _REGISTRY:
        raise ValueError(f"a method named {name!r} is registered already "
                         f"({_REGISTRY[name].method_class.__name__}).")
    _REGISTRY[name] = MethodSpec(name, method_class, dict(model), dict(augment), views, checks,
                                 run_arguments, preview, eval_figures, whole_image_encoder)
    return _REGISTRY[name]


def names():
    """The registered method names, sorted."""
    return sorted(_REGISTRY)


def get(name):
    """The `MethodSpec` registered as `name`; an unknown name is refused listing the known ones."""
    if name not in _REGISTRY:
        raise ValueError(f"config key method={name!r} is invalid: expected one of {names()}.")
    return _REGISTRY[name]
