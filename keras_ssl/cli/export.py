"""`keras-ssl export`: the trained encoder as a SavedModel for TF Serving."""

import tensorflow as tf

from keras_ssl.cli import UsageError
from keras_ssl.cli.workdir import Workdir
from keras_ssl.encoders import feature_layers
from keras_ssl.export import export_encoder


def export(workdir, output=None, overwrite=False, layers=()):
    """Writes the run's encoder as a SavedModel (`keras_ssl.export.export_encoder`), with a
    `layer_<name>` signature per name of `layers` (['all']: every feature layer)."""
    wd = Workdir(workdir)
    config = wd.load_config()
    output = output or wd.export_dir
    # export_encoder refuses it too, but naming its argument rather than the flag.
    if tf.io.gfile.isdir(output) and tf.io.gfile.listdir(output) and not overwrite:
        raise UsageError(f"{output} is not empty (an earlier export?); pass --overwrite to replace "
                         "it, or another --output.")
    encoder = wd.load_encoder()
    if list(layers) == ["all"]:
        layers = feature_layers(encoder)
    try:
        export_encoder(encoder, output, config.data.image_size, overwrite=overwrite,
                       layers=layers)
    except ValueError as e:  # a layer name the encoder has not
        raise UsageError(str(e)) from e
    return output
