"""Source images/s of the streaming pipeline beside the in-memory one (two SimCLR views).

    python benchmarks/streaming_throughput.py [--jpegs=.cache/jpeg256_10000]
                                              [--cifar=.cache/data/cifar10] [--batches=10]

Rows: streaming at 224 from the 256x256 JPEG folder (benchmarks/make_jpeg_folder.py); streaming
at 32 from the CIFAR-10 folder; in memory at 32 (CIFAR-10 decoded by load_arrays first, the
quickstart's path). Batch 256; the first batch (tracing, filling buffers) is not timed.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from keras_ssl import augment, data  # noqa: E402

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jpegs", default=".cache/jpeg256_10000")
    parser.add_argument("--cifar", default=".cache/data/cifar10")
    parser.add_argument("--batches", type=int, default=10)
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


if __name__ == "__main__":
    main()
