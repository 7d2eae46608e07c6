"""Shared fixtures: the real CIFAR-10 image folder, unpacked once into the git-ignored cache."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR10_ARCHIVE = os.path.join(ROOT, "..", "shared", "data", "cifar10-jpg.tar.gz")
CIFAR10_DIR = os.path.join(ROOT, ".cache", "data", "cifar10")


def pytest_configure(config):
    config.addinivalue_line("markers", "distributed: runs tf.distribute checks in subprocesses")


@pytest.fixture(scope="session")
def cifar10_dir():
    """Path of the CIFAR-10 image folder (train/<class>/*.jpg, test/<class>/*.jpg)."""
    from keras_ssl.data import unpack_image_folder

    if not os.path.exists(os.path.join(CIFAR10_DIR, ".unpacked")) and not os.path.isfile(
            CIFAR10_ARCHIVE):
        pytest.skip(f"CIFAR-10 archive not found at {CIFAR10_ARCHIVE}")
    return unpack_image_folder(CIFAR10_ARCHIVE, CIFAR10_DIR)
