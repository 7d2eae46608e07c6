"""Image folders on any filesystem TensorFlow has (local, ``gs://``, ``ram://``...), via `tf.io.gfile`.

Three layouts, told apart by where the images are (under ``root/<split>/`` when that folder exists):

* labelled ``<root>/<split>/<class>/<image>``: the split folder holds only sub-folders and every
  image sits directly in one of them; label = index of the class folder in sorted order;
* unlabeled ``<root>/<split>/**/<image>``: images at any depth under the split folder (anything
  that is not the labelled layout, e.g. STL-10's ``unlabeled/`` or ``train/2021/06/x.jpg``);
* flat ``<root>/<image>``: no split folder, images directly in ``root`` and no sub-folders.

``labeled=True`` insists on the labelled layout, ``labeled=False`` reads any split folder as
unlabeled (for a dump whose sub-folders are not classes, e.g. ``train/2021/x.jpg``).
"""

import posixpath
from typing import NamedTuple

import numpy as np
import tensorflow as tf

# The formats tf.io.decode_image reads that keras.utils.image_dataset_from_directory
# also lists; other files are ignored like there.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
FOLDER_LAYOUT = "<root>/<split>/<class>/<image>"
FOLDER_LAYOUTS = (f"labelled {FOLDER_LAYOUT}, unlabeled <root>/<split>/**/<image> (images at any "
                  "depth) or a flat folder <root>/<image> (no split folder)")


class ImageFolder(NamedTuple):
    """The images of one split: ``paths`` (sorted), int32 ``labels`` and ``class_names`` (both
    None when unlabeled) and ``layout`` (``"labelled"``, ``"unlabeled"`` or ``"flat"``)."""

    paths: list
    labels: np.ndarray | None
    class_names: list | None
    layout: str


def list_image_folder(root, split="train", labeled=None):
    """Lists the images of ``root/split`` (or of a flat ``root``), detecting the layout.

    Args:
        root: a local or `tf.io.gfile` path (``gs://bucket/images``, ``ram://data``).
        split: the split sub-folder; ignored for a flat folder.
        labeled: None detects the layout (see the module doc); True requires
            ``<root>/<split>/<class>/<image>``; False reads the split folder as unlabeled.

    Raises:
        ValueError: naming the path and the expected layouts when the folder is missing,
            empty, has no such split, or is ambiguous (images and sub-folders side by side
            without a split).

    Example:

    >>> folder = list_image_folder("gs://bucket/photos", "train")
    >>> folder.layout, len(folder.paths), folder.class_names
    ('unlabeled', 1200000, None)
    """
    expected = f"expected images laid out as {FOLDER_LAYOUT}" if labeled else (
        f"expected one of: {FOLDER_LAYOUTS}")
    if not tf.io.gfile.isdir(root):
        raise ValueError(f"Image folder {root} does not exist or is not a directory; {expected}.")
    split_dir = posixpath.join(root, split)
    if tf.io.gfile.isdir(split_dir):
        if labeled:
            return _labelled(root, split)
        subdirs, images = _entries(split_dir)
        if labeled is None and subdirs and not images and _only_classes(split_dir, subdirs):
            return _labelled(root, split)
        return _unlabeled(split_dir, expected)
    subdirs, images = _entries(root)
    if not subdirs and not images:
        raise ValueError(f"Image folder {root} has no split sub-folders (e.g. train/, test/) and "
                         f"no images; {expected}.")
    if images and not labeled:
        if subdirs:
            raise ValueError(
                f"Image folder {root} is ambiguous: it holds images and sub-folders {subdirs} but "
                f"no split folder {split!r}; {expected}. Move the images into a sub-folder and "
                "name it as the split, or point at a folder holding only images.")
        return ImageFolder(images, None, None, "flat")
    if not subdirs:
        raise ValueError(f"Image folder {root} has no split sub-folders (e.g. train/, test/); "
                         f"{expected}.")
    raise ValueError(f"Image folder {root} has no split folder {split!r} (it has {subdirs}); "
                     f"{expected}.")


def _entries(folder):
    """Sorted non-hidden sub-folder names and image paths directly in `folder`."""
    subdirs, images = [], []
    for name in sorted(tf.io.gfile.listdir(folder)):
        name = name.rstrip("/")  # Object stores list folders as "name/".
        if name.startswith("."):
            continue
        path = posixpath.join(folder, name)
        if tf.io.gfile.isdir(path):
            subdirs.append(name)
        elif name.lower().endswith(IMAGE_EXTENSIONS):
            images.append(path)
    return subdirs, images


def _only_classes(split_dir, subdirs):
    """True if no sub-folder of `split_dir` has sub-folders itself (the labelled layout)."""
    return not any(_entries(posixpath.join(split_dir, name))[0] for name in subdirs)


def _unlabeled(split_dir, expected):
    paths = []
    for folder, subdirs, _ in tf.io.gfile.walk(split_dir):
        subdirs[:] = sorted(d.rstrip("/") for d in subdirs if not d.startswith("."))  # walk prunes
        paths += _entries(folder)[1]
    if not paths:
        raise ValueError(f"Split folder {split_dir} holds no images "
                         f"({', '.join(IMAGE_EXTENSIONS)}) at any depth; {expected}.")
    return ImageFolder(sorted(paths), None, None, "unlabeled")


def _labelled(root, split):
    """``root/split/<class>/<image>``; every split must have the same classes."""
    layout = f"expected images laid out as {FOLDER_LAYOUT}"
    split_dir = posixpath.join(root, split)
    class_names = _entries(split_dir)[0]
    if not class_names:
        raise ValueError(f"Split folder {split_dir} has no class sub-folders; {layout}.")
    for other in _entries(root)[0]:
        # Labels index the sorted class list, so splits with other classes would mislabel.
        other_classes = _entries(posixpath.join(root, other))[0]
        if other_classes != class_names:
            raise ValueError(
                f"Split folders {split_dir} and {posixpath.join(root, other)} hold different "
                f"class folders ({sorted(set(class_names) ^ set(other_classes))} are in only one); "
                "every split under one root needs the same classes, so class i means the same in all."
            )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        class_dir = posixpath.join(split_dir, name)
        files = _entries(class_dir)[1]
        if not files:
            raise ValueError(
                f"Class folder {class_dir} has no images ({', '.join(IMAGE_EXTENSIONS)}); {layout}.")
        paths += files
        labels += [label] * len(files)
    return ImageFolder(paths, np.asarray(labels, np.int32), class_names, "labelled")
