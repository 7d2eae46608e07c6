"""`keras-ssl preview`: a PNG grid of a config's augmented views, to check them by eye."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl.cli import builders  # noqa: E402


def preview(config, output, num_images=8):
    images, _, _ = builders.load_split(config, config.data.train_split, num_images)
    views = builders.build_transform(config)(images, tf.constant([config.seed, 0], tf.int64))
    if config.method == "rotnet":
        rotated, labels = views
        columns = [rotated[k::4].numpy() for k in range(4)]
        titles = [f"rotation {90 * int(labels[k])}" for k in range(4)]
    else:
        columns = [v.numpy() for v in views]
        titles = [f"view {i + 1}" for i in range(len(columns))]
    columns = [images / 255.0] + columns
    titles = ["original"] + titles
    fig, axes = plt.subplots(len(images), len(columns), squeeze=False,
                             figsize=(1.4 * len(columns), 1.4 * len(images)))
    for col, (column, title) in enumerate(zip(columns, titles)):
        for row in range(len(images)):
            ax = axes[row][col]
            ax.imshow(np.clip(column[row], 0.0, 1.0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"{config.method} augmentation, seed {config.seed}", fontsize=9)
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output
