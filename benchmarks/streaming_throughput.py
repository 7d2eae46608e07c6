"""Source images/s of the streaming pipeline beside the in-memory one (two SimCLR views).

    python benchmarks/streaming_throughput.py [--jpegs=.cache/jpeg256_10000]
                                              [--cifar=.cache/data/cifar10] [--batches=10]

Rows: streaming at 224 from the 256x256 JPEG folder (benchmarks/make_jpeg_folder.py); streaming
at 32 from the CIFAR-10 folder; in memory at 32 (CIFAR-10 decoded by load_arrays first, the
quickstart's path). Batch 256; the first batch (tracing, filling buffers) is not timed. Last, the
demand of the step those 224 views feed: SimCLR on a ResNet-50 (ImageNet stem, float32, SGD), two
views of `--step_batch` images, median of 3 steps after one warm-up step.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl import augment, data, encoders, methods  # noqa: E402

BATCH = 256


def images_per_second(dataset, batches):
    iterator = iter(dataset.repeat())
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * BATCH / (time.perf_counter() - start)


def views(size, strength):
    return augment.MultiViewTransform([augment.SimCLRTransform(size, color_strength=strength)] * 2)


def resnet50_step_images_per_second(batch):
    model = methods.SimCLR(encoders.ResNet50(stem="imagenet", input_shape=(224, 224, 3)),
                           projection_hidden_dims=(2048,))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    step = tf.function(model.train_step)
    views = tuple(tf.random.uniform([batch, 224, 224, 3], seed=i) for i in range(2))
    times = []
    for _ in range(4):
        start = time.perf_counter()
        step(views)["loss"].numpy()
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times[1:]))
    return seconds, batch / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jpegs", default=".cache/jpeg256_10000")
    parser.add_argument("--cifar", default=".cache/data/cifar10")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--step_batch", type=int, default=32)
    args = parser.parse_args()
    rows = [
        ("streaming, 2 views at 224 from 256x256 JPEGs",
         lambda: data.streaming_pretraining_dataset(f"folder:{args.jpegs}", BATCH, views(224, 1.0))),
        ("streaming, 2 views at 32 from the CIFAR-10 folder",
         lambda: data.streaming_pretraining_dataset(f"folder:{args.cifar}", BATCH, views(32, 0.5))),
        ("in memory, 2 views at 32 from CIFAR-10 arrays",
         lambda: data.pretraining_dataset(f"folder:{args.cifar}", BATCH, views(32, 0.5))),
    ]
    for name, make in rows:
        print(f"{name}: {images_per_second(make(), args.batches):.0f} source images/s", flush=True)
    seconds, demand = resnet50_step_images_per_second(args.step_batch)
    print(f"SimCLR ResNet-50 step at 224, {args.step_batch} images x 2 views: {seconds:.2f} s/step "
          f"= {demand:.1f} source images/s consumed")


if __name__ == "__main__":
    main()
