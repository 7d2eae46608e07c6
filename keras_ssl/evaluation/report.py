"""The evaluation report: a Markdown table of results and figures to look at.

Figures are drawn with Matplotlib's object API (no pyplot, so no GUI backend or
global state): a grid of retrieval queries with their nearest neighbours, a 2-D
embedding of the features coloured by label (PCA or t-SNE, scikit-learn), and the
pretraining curves from a run's ``history.csv`` (Keras' ``CSVLogger``). Every file is read and
written through `tf.io.gfile`, so paths may be local, ``gs://`` or ``ram://``.
"""

import csv
import io
import math
import os

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from keras_ssl.files import write_bytes, write_text


def plot_retrieval_grid(path, query_images, gallery_images, neighbours, query_labels=None,
                        gallery_labels=None, class_names=None):
    """Saves a PNG: one row per query, the query first, then its ranked neighbours.

    With labels, each neighbour gets a green frame when its class is the
    query's and a red one otherwise, and the class names are written under the
    images.

    Example:

    >>> sims, neighbours = nearest_neighbours(test_f[:8], train_f, k=8)       # doctest: +SKIP
    >>> plot_retrieval_grid("grid.png", test_x[:8], train_x, neighbours,
    ...                     test_y[:8], train_y, class_names)                  # doctest: +SKIP

    Args:
        path: PNG file to write.
        query_images: uint8 [Q, H, W, 3].
        gallery_images: uint8 [N, H, W, 3].
        neighbours: int [Q, K] indices into the gallery, best first.
        query_labels, gallery_labels: optional int [Q] / [N].
        class_names: optional names indexed by label.

    Returns:
        ``path``.
    """
    neighbours = np.asarray(neighbours)
    if neighbours.ndim != 2 or len(neighbours) != len(query_images):
        raise ValueError(f"`neighbours` must be [Q={len(query_images)}, K], got "
                         f"{neighbours.shape}.")
    labelled = query_labels is not None and gallery_labels is not None
    rows, cols = neighbours.shape[0], neighbours.shape[1] + 1
    figure = Figure(figsize=(1.2 * cols, 1.35 * rows))
    axes = figure.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        cells = [(query_images[r], None)] + [
            (gallery_images[i], gallery_labels[i] == query_labels[r] if labelled else None)
            for i in neighbours[r]]
        for c, (image, correct) in enumerate(cells):
            ax = axes[r, c]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            colour = "black" if correct is None else ("tab:green" if correct else "tab:red")
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(1 if correct is None else 3)
            if labelled:
                label = query_labels[r] if c == 0 else gallery_labels[neighbours[r, c - 1]]
                name = class_names[label] if class_names is not None else str(label)
                ax.set_xlabel(name, fontsize=6)
        axes[r, 0].set_ylabel("query", fontsize=7)
    figure.suptitle("Retrieval: query, then nearest train images by cosine similarity")
    figure.tight_layout()
    return _save(figure, path)


def plot_embedding(path, features, labels, class_names=None, method="pca", max_points=2000,
                   seed=0):
    """Saves a PNG scatter of the features projected to 2-D, coloured by label.

    Example:

    >>> plot_embedding("embedding.png", test_f, test_y, class_names)   # doctest: +SKIP

    Args:
        path: PNG file to write.
        features: float [N, D].
        labels: int [N].
        class_names: optional legend names indexed by label.
        method: ``"pca"`` (linear, fast) or ``"tsne"`` (van der Maaten & Hinton 2008).
        max_points: a fixed random subset (``seed``) of at most this many points is drawn.
        seed: seed of the subset and of t-SNE.

    Returns:
        ``path``.
    """
    if method not in ("pca", "tsne"):
        raise ValueError(f"`method` must be 'pca' or 'tsne', got {method!r}.")
    features, labels = np.asarray(features, np.float32), np.asarray(labels)
    if features.ndim != 2 or labels.shape != (len(features),):
        raise ValueError(f"`features` [N, D] and `labels` [N] expected, got {features.shape} and "
                         f"{labels.shape}.")
    if len(features) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(features), max_points,
                                                          replace=False))
        features, labels = features[keep], labels[keep]
    if method == "pca":
        points = PCA(2, random_state=seed).fit_transform(features)
    else:
        points = TSNE(2, init="pca", random_state=seed,
                      perplexity=min(30.0, (len(features) - 1) / 3)).fit_transform(features)
    figure = Figure(figsize=(6.5, 5.5))
    ax = figure.subplots()
    colours = [f"C{i}" for i in range(10)]
    for i, label in enumerate(np.unique(labels)):
        mask = labels == label
        ax.scatter(points[mask, 0], points[mask, 1], s=4, color=colours[i % 10],
                   marker="os^"[i // 10 % 3],
                   label=class_names[label] if class_names is not None else str(label))
    ax.legend(fontsize=7, markerscale=3, loc="best")
    ax.set_title(f"{method.upper()} of {len(features)} test features, coloured by label")
    figure.tight_layout()
    return _save(figure, path)


def plot_history(path, history_csv):
    """Saves a PNG of every column of a `CSVLogger` file against the epoch; None if no file.

    Example:

    >>> plot_history("curves.png", "runs/simclr/history.csv")   # doctest: +SKIP
    """
    if not tf.io.gfile.exists(history_csv):
        return None
    with tf.io.gfile.GFile(history_csv) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    epochs = [int(row["epoch"]) + 1 for row in rows]
    columns = [name for name in rows[0] if name != "epoch"
               and any(_number(row[name]) is not None for row in rows)]
    if not columns:
        return None
    figure = Figure(figsize=(4 * min(3, len(columns)), 3 * math.ceil(len(columns) / 3)))
    axes = figure.subplots(math.ceil(len(columns) / 3), min(3, len(columns)), squeeze=False)
    for ax, name in zip(axes.flat, columns):
        values = [_number(row[name]) for row in rows]
        ax.plot([e for e, v in zip(epochs, values) if v is not None],
                [v for v in values if v is not None], marker="o")
        ax.set_title(name)
        ax.set_xlabel("epoch")
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    figure.suptitle("Pretraining curves")
    figure.tight_layout()
    return _save(figure, path)


def plot_layers(path, results, layers):
    """Saves a PNG of accuracy by layer: one line per metric and encoder, the trained encoder
    solid and the random init (the same architecture) dashed, in the same colour per metric.

    Example:

    >>> plot_layers("layers.png", {"trained encoder": {"stage1": {"kNN top-1": 0.41}, ...},
    ...                            "random init (same architecture)": {...}},
    ...             ["stage1", "stage2", "pooled"])                       # doctest: +SKIP

    Args:
        path: PNG file to write.
        results: ``{encoder name: {layer: {metric name: value in [0, 1]}}}``; the first encoder
            is drawn solid, the others dashed.
        layers: the layers, shallow to deep, along the x axis.

    Returns:
        ``path``.
    """
    metrics = list(dict.fromkeys(m for by_layer in results.values()
                                 for values in by_layer.values() for m in values))
    figure = Figure(figsize=(1.2 * len(layers) + 3, 4))
    ax = figure.subplots()
    for i, (row, by_layer) in enumerate(results.items()):
        for j, metric in enumerate(metrics):
            points = [(k, 100 * by_layer[layer][metric]) for k, layer in enumerate(layers)
                      if metric in by_layer.get(layer, {})]
            if points:
                ax.plot(*zip(*points), marker="o", color=f"C{j % 10}",
                        linestyle="-" if i == 0 else "--", label=f"{metric}, {row}")
    ax.set_xticks(range(len(layers)), layers)
    ax.set_xlabel("layer (shallow to deep)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title("Frozen features by layer")
    figure.tight_layout()
    return _save(figure, path)


def _save(figure, path):
    """Writes the figure as a PNG through gfile (Matplotlib writes local files only)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes(path, buffer.getvalue())
    return path


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def results_table(rows):
    """A Markdown table: one row per encoder, one column per headline metric, in percent.

    Example:

    >>> print(results_table({"trained": {"kNN top-1": 0.5139},
    ...                      "random init": {"kNN top-1": 0.2261}}))
    | encoder | kNN top-1 |
    |---|---|
    | trained | 51.39 |
    | random init | 22.61 |
    """
    columns = list(dict.fromkeys(name for values in rows.values() for name in values))
    lines = ["| encoder | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row, values in rows.items():
        cells = [f"{100 * values[c]:.2f}" if c in values else "-" for c in columns]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _settings_lines(name, values, indent=""):
    """`- **name**: k=v, ...`, with nested dicts (e.g. one per label subset) as sub-items."""
    flat = ", ".join(f"{k}={v}" for k, v in values.items() if not isinstance(v, dict))
    lines = [f"{indent}- **{name}**" + (f": {flat}" if flat else "")]
    for key, value in values.items():
        if isinstance(value, dict):
            lines += _settings_lines(key, value, indent + "  ")
    return lines


def write_report(path, title, rows, description=(), settings=None, figures=None):
    """Writes ``report.md``: the results table, the protocols' settings and the figures.

    Args:
        path: the Markdown file to write; figures are linked relative to it.
        title: the report's heading.
        rows: ``{encoder name: {metric name: value in [0, 1]}}``, see :func:`results_table`.
        description: lines written under the title (dataset, encoder identity...).
        settings: ``{protocol: {setting: value}}``, listed after the table; a dict value
            is listed as a nested item.
        figures: ``{caption: PNG path}``; None paths are skipped.

    Returns:
        ``path``.
    """
    lines = [f"# {title}", "", *description, "", "## Results (%)", "", results_table(rows), ""]
    if settings:
        lines += ["## Protocols", ""]
        for protocol, values in settings.items():
            lines += _settings_lines(protocol, values)
        lines.append("")
    figures = {caption: p for caption, p in (figures or {}).items() if p}
    if figures:
        lines += ["## Figures", ""]
        for caption, figure_path in figures.items():
            # String arithmetic only, so it holds for gs:// paths too.
            relative = os.path.relpath(figure_path, os.path.dirname(path) or ".")
            lines += [f"### {caption}", "", f"![{caption}]({relative})", ""]
    write_text(path, "\n".join(lines))
    return path
