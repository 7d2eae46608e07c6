"""Export a pre-trained encoder as a TensorFlow SavedModel."""

import os

import keras
import tensorflow as tf

from keras_ssl.encoders import POOLED, feature_maps_model


def export_encoder(encoder, output_dir, image_size, overwrite=False, layers=()):
    """Writes `encoder` as a SavedModel for serving and for fine-tuning.

    The SavedModel needs neither Keras nor keras_ssl to be used. It has two
    serving signatures (listed by `saved_model_cli show --all --dir DIR`):

    - `serving_default`: input `images`, uint8 RGB `[None, None, None, 3]`
      (a batch of any one size), output `embeddings`, float32 `[None, D]`.
      A batch that is not `H x W` (`image_size`) is resized to it as in
      `serving_bytes` (bilinear, antialiased, aspect ratio not kept: crop
      beforehand if needed); `H x W` images are used as they are. Images
      are scaled to [0, 1] (the encoder convention) and the encoder runs in
      inference mode (batch-norm moving statistics). Images without exactly
      3 channels are refused with an `InvalidArgumentError`.
    - `serving_bytes`: input `image_bytes`, string `[None]`, each an encoded
      JPEG/PNG/GIF/BMP (what TF Serving's REST API receives as
      `{"b64": ...}`), output `embeddings`. Each image is decoded to RGB
      (grey and RGBA included) and resized to `H x W` in the same way, then
      follows the same path.

    - `layer_<name>` for each of `layers` (e.g. `layer_stage2`): input `images`
      as `serving_default`'s, output `feature_map`, float32 `[None, h, w, C]`,
      that layer's feature map (`keras_ssl.encoders.feature_layers`).

    For fine-tuning, the loaded object also has:

    - `embed(images)` / `embed_training(images)`: float32 `[None, H, W, 3]`
      in [0, 1] -> `[None, D]` float32 embeddings, with the encoder in
      inference / training mode (`embed_training` uses batch statistics and
      updates the batch-norm moving averages).
    - with `layers`: `feature_maps(images)`, float32 `[None, H, W, 3]` in
      [0, 1] -> `{name: feature map}` of all of them in one forward pass
      (inference mode), and `feature_layers`, a string variable of their names.
    - `variables`, `trainable_variables`, `non_trainable_variables`: lists of
      `tf.Variable`. `trainable_variables` are the encoder's trainable
      weights at export time (layers frozen with `trainable=False` are left
      out of it).

    Fine-tuning without keras_ssl, with plain TensorFlow:

    ```python
    loaded = tf.saved_model.load(output_dir)
    optimizer = keras.optimizers.SGD(0.01)
    with tf.GradientTape() as tape:
        embeddings = loaded.embed_training(images)  # float32 in [0, 1]
        loss = my_loss(my_head(embeddings), labels)
    variables = loaded.trainable_variables + my_head.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    ```

    or as a Keras layer:

    ```python
    backbone = keras.layers.TFSMLayer(
        output_dir, call_endpoint="embed",
        call_training_endpoint="embed_training", trainable=True)
    model = keras.Sequential([keras.Input((H, W, 3)), backbone,
                              keras.layers.Dense(num_classes)])
    ```

    Args:
        encoder: a Keras layer or model mapping float32 images in [0, 1],
            `[B, H, W, 3]`, to pooled features `[B, D]`.
        output_dir: directory to write the SavedModel to. It must not exist
            or be empty, unless `overwrite=True`.
        image_size: int or `(height, width)`, the input size of the
            signatures.
        overwrite: write into a non-empty `output_dir` (files of an earlier
            export are replaced).
        layers: names of feature layers (`keras_ssl.encoders.feature_layers`)
            to export as `layer_<name>` signatures and `feature_maps`.

    Returns:
        `output_dir` as a string.

    Example:

    ```python
    export_encoder(encoder, "/tmp/simclr_encoder", image_size=32)
    loaded = tf.saved_model.load("/tmp/simclr_encoder")
    embeddings = loaded.signatures["serving_default"](
        images=tf.zeros([8, 32, 32, 3], tf.uint8))["embeddings"]
    ```
    """
    height, width = _check_image_size(image_size)
    output_dir = os.fspath(output_dir)
    if tf.io.gfile.exists(output_dir) and not tf.io.gfile.isdir(output_dir):
        raise ValueError(
            f"export_encoder: output_dir={output_dir!r} is a file; pass a "
            "directory path."
        )
    if tf.io.gfile.isdir(output_dir) and tf.io.gfile.listdir(output_dir) and not overwrite:
        raise ValueError(
            f"export_encoder: output_dir={output_dir!r} is not empty; choose "
            "a new directory or pass overwrite=True."
        )
    if not isinstance(encoder, keras.layers.Layer):
        raise ValueError(
            "export_encoder: `encoder` must be a Keras layer or model, got "
            f"{type(encoder).__name__}."
        )
    # Builds the encoder if needed and checks it returns [B, D] at this size.
    try:
        probe = encoder(tf.zeros([1, height, width, 3]), training=False)
    except ValueError as err:
        raise ValueError(
            f"export_encoder: the encoder does not accept images of "
            f"image_size=({height}, {width}); pass the size it was built "
            f"for. Keras said: {err}"
        ) from err
    if len(probe.shape) != 2:
        raise ValueError(
            "export_encoder: the encoder must return pooled features of shape "
            f"[B, D], got shape {tuple(probe.shape)} for input "
            f"[1, {height}, {width}, 3]; add global pooling to the encoder."
        )

    layers = [n for n in layers if n != POOLED]
    # Raises a ValueError naming the encoder's layers for a name it has not.
    maps_model = feature_maps_model(encoder, layers) if layers else None
    float_images = tf.TensorSpec(
        [None, height, width, 3], tf.float32, "images")

    def embed(images, training):
        return tf.cast(encoder(images, training=training), tf.float32)

    def resize(images):
        images = tf.image.resize(images, [height, width], antialias=True)
        return tf.clip_by_value(images, 0.0, 255.0)

    def prepare(images, signature):
        # Calls are not checked against the signature's 3 channels: without
        # this a grey or RGBA batch fails deep in the encoder, obscurely.
        channels = tf.shape(images)[-1]
        check = tf.debugging.Assert(tf.equal(channels, 3), [tf.strings.format(
            f"{signature} takes uint8 RGB images [N, H, W, 3] (any H x W, "
            f"resized to {height}x{width}), got {{}} channels: convert them "
            "to RGB or send them encoded to serving_bytes.", channels)])
        with tf.control_dependencies([check]):
            images = tf.cast(images, tf.float32)
        size_matches = tf.reduce_all(
            tf.equal(tf.shape(images)[1:3], [height, width]))
        images = tf.cond(size_matches, lambda: images,
                         lambda: resize(images))
        images.set_shape([None, height, width, 3])
        return images / 255.0

    def serving_default(images):
        return {"embeddings": embed(prepare(images, "serving_default"), False)}

    def feature_maps(images):
        maps = tf.nest.flatten(maps_model(images, training=False))
        return {n: tf.cast(m, tf.float32) for n, m in zip(layers, maps)}

    def layer_signature(name):
        def serve(images):
            return {"feature_map": feature_maps(prepare(images, f"layer_{name}"))[name]}
        return serve

    def decode(image_bytes):
        image = tf.io.decode_image(image_bytes, channels=3,
                                   expand_animations=False)
        return resize(image)

    def serving_bytes(image_bytes):
        images = tf.map_fn(
            decode, image_bytes,
            fn_output_signature=tf.TensorSpec([height, width, 3], tf.float32))
        return {"embeddings": embed(images / 255.0, False)}

    def function(fn, spec):
        # autograph off, as in Keras' own ExportArchive.
        return tf.function(fn, input_signature=[spec], autograph=False)

    # A plain trackable root (not tf.Module, whose variable lists are
    # read-only properties) so the lists below are saved and restored.
    root = tf.__internal__.tracking.AutoTrackable()
    root.variables = [v.value for v in encoder.variables]
    root.trainable_variables = [v.value for v in encoder.trainable_variables]
    root.non_trainable_variables = [
        v.value for v in encoder.non_trainable_variables
    ]
    root.embed = function(lambda images: embed(images, False), float_images)
    root.embed_training = function(
        lambda images: embed(images, True), float_images)
    root.serving_default = function(
        serving_default, tf.TensorSpec([None, None, None, 3], tf.uint8,
                                       "images"))
    root.serving_bytes = function(
        serving_bytes, tf.TensorSpec([None], tf.string, "image_bytes"))
    signatures = {"serving_default": root.serving_default,
                  "serving_bytes": root.serving_bytes}
    if layers:
        root.feature_layers = tf.Variable(layers, trainable=False)
        root.feature_maps = function(feature_maps, float_images)
        for name in layers:
            signatures[f"layer_{name}"] = function(
                layer_signature(name),
                tf.TensorSpec([None, None, None, 3], tf.uint8, "images"))
    tf.saved_model.save(root, output_dir, signatures=signatures)
    return output_dir


def _check_image_size(image_size):
    size = image_size
    if isinstance(image_size, int):
        size = (image_size, image_size)
    try:
        height, width = (int(s) for s in size)
        valid = height > 0 and width > 0 and tuple(size) == (height, width)
    except (TypeError, ValueError):
        valid = False
    if not valid or isinstance(image_size, bool):
        raise ValueError(
            f"export_encoder: image_size={image_size!r} must be a positive "
            "int or a (height, width) pair of positive ints."
        )
    return height, width
