"""Shared fixtures: the real CIFAR-10 image folder, unpacked once into the git-ignored cache."""

import os
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR10_ARCHIVE = os.path.join(ROOT, "..", "shared", "data", "cifar10-jpg.tar.gz")
CIFAR10_DIR = os.path.join(ROOT, ".cache", "data", "cifar10")


def pytest_configure(config):
    config.addinivalue_line("markers", "distributed: runs tf.distribute checks in subprocesses")
    config.addinivalue_line("markers", "slow: left out of CI (`-m 'not slow'`), where another case "
                            "of the same family runs; `python -m pytest -m slow tests` runs them")


@pytest.fixture(scope="session")
def cifar10_dir():
    """Path of the CIFAR-10 image folder (train/<class>/*.jpg, test/<class>/*.jpg)."""
    from keras_ssl.data import unpack_image_folder

    if not os.path.exists(os.path.join(CIFAR10_DIR, ".unpacked")) and not os.path.isfile(
            CIFAR10_ARCHIVE):
        pytest.skip(f"CIFAR-10 archive not found at {CIFAR10_ARCHIVE}")
    return unpack_image_folder(CIFAR10_ARCHIVE, CIFAR10_DIR)


def _cifar10_subset(cifar10_dir, root, train_per_class, test_per_class):
    """Copy the first images of every class into `root`/<split>/<class>/ (a small real folder)."""
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for cls in sorted(os.listdir(os.path.join(cifar10_dir, split))):
            os.makedirs(os.path.join(root, split, cls))
            for name in sorted(os.listdir(os.path.join(cifar10_dir, split, cls)))[:count]:
                shutil.copy(os.path.join(cifar10_dir, split, cls, name),
                            os.path.join(root, split, cls, name))
    return root


@pytest.fixture(scope="session")
def tiny_cifar10(cifar10_dir, tmp_path_factory):
    """8 train / 2 test real CIFAR-10 images per class, as an image folder."""
    return _cifar10_subset(cifar10_dir, tmp_path_factory.mktemp("cifar_tiny"), 8, 2)


@pytest.fixture(scope="session")
def small_cifar10(cifar10_dir, tmp_path_factory):
    """40 train / 10 test real CIFAR-10 images per class, as an image folder."""
    return _cifar10_subset(cifar10_dir, tmp_path_factory.mktemp("cifar_small"), 40, 10)
