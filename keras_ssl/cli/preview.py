"""`keras-ssl preview`: a PNG grid of a config's augmented views, to check them by eye."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl import data  # noqa: E402
from keras_ssl.cli import builders, data_errors  # noqa: E402
from keras_ssl.methods import registry  # noqa: E402


def _label_of(outputs, j, k):
    """The title suffix naming the self-label of the j-th of k images made from each input."""
    labels = [t for t in tf.nest.flatten(outputs) if t.shape.rank == 1]
    return f" (label {int(labels[0][j])})" if labels and k > 1 else ""


def _view_columns(transform, images, outputs):
    """Every rank-4 output as (title, images) columns, self-labels (rank 1) in the titles."""
    del transform
    columns = []
    for tensor in tf.nest.flatten(outputs):
        if tensor.shape.rank != 4:
            continue
        # A transform that makes k images of each (RotNet's rotations) lays them out image by image.
        k = tensor.shape[0] // len(images)
        for j in range(k):
            columns.append((f"view {len(columns) + 1}" + _label_of(outputs, j, k),
                            tensor[j::k].numpy()))
    return columns


def preview(config, output, num_images=8):
    """The first `num_images` of the train split (any source, labelled or not), resized to
    `data.image_size`, and the views the config's transform makes of them."""
    d = config.data
    with data_errors():
        first = data.streaming_eval_dataset(
            d.source, num_images, d.image_size, split=d.train_split, data_dir=d.tfds_data_dir,
            with_labels=False, labeled=d.labeled, image_key=d.image_key, label_key=d.label_key)
        images = next(iter(first)).numpy()
    transform = builders.build_transform(config)
    outputs = transform(images, tf.constant([config.seed, 0], tf.int64))
    preview_columns = registry.get(config.method).preview or _view_columns
    columns = [("original", images / 255.0)] + list(preview_columns(transform, images / 255.0,
                                                                    outputs))
    fig, axes = plt.subplots(len(images), len(columns), squeeze=False,
                             figsize=(1.4 * len(columns), 1.4 * len(images)))
    for col, (title, column) in enumerate(columns):
        column = np.asarray(column)
        for row in range(len(images)):
            ax = axes[row][col]
            ax.imshow(np.clip(column[row], 0.0, 1.0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"{config.method} views, seed {config.seed}", fontsize=9)
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output
