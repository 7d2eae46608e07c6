"""Memory or streaming: the one rule that training, evaluation and `streaming_eval_dataset` follow.

Decoding a split into memory is the fastest path (on the CIFAR-10 test split, 1.1 s against 4.7 s
streamed); streaming keeps memory flat however large the source. Only sources read from files
(`Source.streamable`) can be streamed, and `load_arrays` cannot read ``tfrecord:`` ones.

Example:

>>> choose_pipeline("idx:/data/mnist", "streaming")  # IDX files are read into memory only
'memory'
>>> choose_pipeline("folder:/data/photos", "auto", stream=lambda: encoded_source(...),
...                 image_size=224, memory_limit_mb=1024, training=True)  # doctest: +SKIP
'streaming'
"""

import tensorflow as tf

from keras_ssl.data.sources import check_image_size, parse_source


def decoded_mb(num_images, image_size):
    """MB that `num_images` RGB uint8 images of `image_size` take decoded."""
    height, width = check_image_size(image_size)
    return num_images * height * width * 3 / 2**20


def choose_pipeline(source, pipeline="auto", *, stream=None, image_size=None,
                    memory_limit_mb=None, max_examples=None, service=None, training=False):
    """"memory" or "streaming" for one split of `source`.

    `pipeline` is the `data.pipeline` setting. Training obeys a "memory" or "streaming" setting
    as given (the run's own choice; what cannot be done is refused later, naming the key) and
    streams whatever a tf.data `service` serves. Evaluation reads a split the way it can: a
    source read into memory only in memory, ``tfrecord:`` (which `load_arrays` cannot read)
    streamed, others as set; "auto" streams ``tfrecord:`` for training as well. For "auto" the split is kept in memory when its images (at most
    `max_examples` of them) decoded at `image_size` fit in `memory_limit_mb` and it has labels
    (`load_arrays` reads labelled splits); training also needs its images to have `image_size`
    already, since resizing them first would crop an upsampled image (evaluation resizes whole
    images either way).

    Args:
        source: a source value (`parse_source`).
        pipeline: "auto", "memory" or "streaming".
        stream: `() -> the split's stream` (`encoded_source`), called only when the size decides.
        image_size: int or (height, width) the images are decoded at.
        memory_limit_mb, max_examples: as above (None: no limit on the examples).
        service: a tf.data service address (training), or None.
        training: the choice for pretraining's train split rather than an evaluation split.
    """
    parsed = parse_source(source)
    if training and pipeline != "auto":
        return pipeline
    if service is not None:
        return "streaming"
    if not parsed.streamable:
        return "memory"
    if parsed.kind == "tfrecord":  # under "auto" for training too
        return "streaming"
    if pipeline != "auto":
        return pipeline
    stream = stream()
    num_images = min(stream.num_examples, max_examples or stream.num_examples)
    if decoded_mb(num_images, image_size) > memory_limit_mb or not stream.labeled:
        return "streaming"
    if training and _first_image_size(stream) != check_image_size(image_size):
        return "streaming"
    return "memory"


def _first_image_size(stream):
    _, encoded, label = next(iter(stream.examples(None, 0, 1).take(1)))
    return tuple(tf.io.decode_image(stream.read(encoded, label)[0], channels=3,
                                    expand_animations=False).shape[:2])
