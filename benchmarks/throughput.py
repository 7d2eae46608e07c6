"""Train-step and input-pipeline throughput on this machine.

    python benchmarks/throughput.py [--data=.cache/data/cifar10] [--steps=5]

Prints images/s of a SimCLR train step (ResNet-18 with the CIFAR stem at stride 1, full width, batch
256, 2 views; and the quickstart config's encoder and batch, each named exactly) and source images/s
of the quickstart input pipeline (decoded CIFAR-10 in memory -> shuffle -> batch -> two SimCLR
views), which must be several times what a step consumes so that training never waits for data.
`benchmarks/step.py` counts FLOPs and profiles the step.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from configs import quickstart_simclr as quickstart  # noqa: E402
from keras_ssl import data  # noqa: E402
from keras_ssl.cli import builders  # noqa: E402


def step_throughput(config, steps):
    batch = config.train.batch_size
    size = config.data.image_size
    model = builders.build_method(config, builders.build_encoder(config))
    model.compile(optimizer=builders.build_optimizer(config, steps_per_epoch=100))
    rng = np.random.default_rng(0)
    views = tuple(tf.constant(rng.random((batch, size, size, 3), np.float32)) for _ in range(2))
    dataset = tf.data.Dataset.from_tensors(views).repeat()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = (time.perf_counter() - start) / steps
    return batch / seconds, seconds


def pipeline_throughput(config, images, batches):
    dataset = data.pretraining_dataset(None, config.train.batch_size,
                                       transform=builders.build_transform(config),
                                       arrays=(images, np.zeros(len(images), np.int32)))
    iterator = iter(dataset.repeat())
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * config.train.batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=".cache/data/cifar10")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    quick = quickstart.get_config()
    resnet18 = quickstart.get_config()
    resnet18.encoder.width_multiplier = 1.0
    resnet18.encoder.stem_stride = 1  # the CIFAR stem as SimCLR has it (the quickstart's is 2)
    resnet18.model.projection_hidden_dims = (512,)
    resnet18.train.batch_size = 256

    images, _, _ = data.load_arrays(f"folder:{args.data}", "train", image_size=32)
    source = pipeline_throughput(quick, images, batches=20)
    print(f"input pipeline (quickstart views): {source:,.0f} source images/s")
    for name, config in (("SimCLR", resnet18), ("SimCLR quickstart", quick)):
        e = config.encoder
        name = (f"{name} ResNet-{e.depth} {e.stem} stem stride {e.stem_stride}, width "
                f"{e.width_multiplier:g}, batch {config.train.batch_size} x 2 views")
        rate, seconds = step_throughput(config, args.steps)
        print(f"{name}: {seconds:.3f} s/step, {rate:,.0f} source images/s "
              f"({2 * rate:,.0f} views/s); pipeline / step = {source / rate:.1f}x")


if __name__ == "__main__":
    main()
