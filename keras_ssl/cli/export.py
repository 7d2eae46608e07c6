"""`keras-ssl export`: the trained encoder as a SavedModel for TF Serving."""

import keras

from keras_ssl.cli.workdir import Workdir
from keras_ssl.export import export_encoder


def export(workdir, output=None, overwrite=False):
    wd = Workdir(workdir)
    config = wd.load_config()
    encoder = keras.models.load_model(wd.require_encoder())
    output = output or wd.export_dir
    export_encoder(encoder, output, config.data.image_size, overwrite=overwrite)
    return output
