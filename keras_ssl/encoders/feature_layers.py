"""The named feature layers of an encoder, and a model that returns their feature maps.

Each encoder names the layers whose outputs its papers evaluate, shallow to deep: a ResNet's four
stages (`stage1` .. `stage4`), AMDIM's `f7`, `f5` and `f1`. A method may wrap its encoder in a
chain of layers in front of it (Context Prediction's per-image standardisation, Colorization's
lightness input): the named layers of the encoder inside are then found through the chain.
`POOLED` names the encoder's own output.
"""

import keras

POOLED = "pooled"


def feature_layers(encoder):
    """Names of `encoder`'s feature layers, shallow to deep, then `POOLED`.

    Example:

    >>> feature_layers(keras_ssl.encoders.ResNet(depth=18))  # doctest: +SKIP
    ['stage1', 'stage2', 'stage3', 'stage4', 'pooled']
    """
    owner = _owner(encoder)
    return [*(owner.feature_layer_names if owner is not None else ()), POOLED]


def feature_maps_model(encoder, names):
    """A model sharing `encoder`'s weights that maps its input to the outputs of the layers
    `names` (`feature_layers`), in that order, in one forward pass: the feature maps
    `[B, h, w, C]` of named layers and the pooled `[B, D]` output for `POOLED`.

    Raises:
        ValueError: a name the encoder has not, or an encoder whose named layers sit behind
            something other than a chain of single-input layers.
    """
    names = list(names)
    available = feature_layers(encoder)
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise ValueError(f"{encoder.name} has no feature layers {unknown or names}; its layers "
                         f"are {available}.")
    owner = _owner(encoder)
    inner = [n for n in names if n != POOLED]
    if owner is encoder or not inner:
        maps = [encoder.get_layer(n).output for n in inner]
        return _select(encoder.inputs, maps, encoder.output, names)
    # A wrapper: re-run its chain of layers, the owner replaced by a model exposing the maps.
    exposing = keras.Model(owner.input, [owner.get_layer(n).output for n in inner]
                           + [owner.output])
    inputs = keras.Input(encoder.input_shape[1:], name="images")
    x, maps = inputs, None
    for layer in encoder.layers[1:]:
        if layer is owner:
            *maps, x = exposing(x)
        else:
            x = layer(x)
    return _select(inputs, maps, x, names)


def _select(inputs, maps, pooled, names):
    by_name = dict(zip([n for n in names if n != POOLED], maps))
    return keras.Model(inputs, [pooled if n == POOLED else by_name[n] for n in names])


def _owner(encoder):
    """The model that names the feature layers: `encoder`, or one in a chain of layers wrapping
    it (None if there is none)."""
    if getattr(encoder, "feature_layer_names", None):
        return encoder
    nested = [layer for layer in getattr(encoder, "layers", ())
              if getattr(layer, "feature_layer_names", None)]
    if len(nested) != 1:
        return None
    # The wrapper's own calls are each layer's first node (a nested model's `.input` is its own,
    # and `feature_maps_model` calls the layers again).
    nodes = [layer._inbound_nodes[0] for layer in encoder.layers]  # noqa: SLF001 (no accessor)
    if not all(len(b.input_tensors) == 1 and b.input_tensors[0] is a.output_tensors[0]
               for a, b in zip(nodes, nodes[1:])):
        raise ValueError(f"{encoder.name} wraps {nested[0].name} in something other than a chain "
                         "of layers; pass the inner encoder.")
    return nested[0]
