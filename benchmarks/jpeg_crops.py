"""Per-image JPEG decoding for streaming: `tf.image.decode_and_crop_jpeg` per crop (partial
decoding) against one full decode cut N times, for 1 and 2 SimCLR crops (scale 0.08-1) at 224.

    python benchmarks/jpeg_crops.py [--folder=.cache/jpeg256_10000] [--images=2000]

Prints images/s of each, single-threaded in a tf.data map (parallelism 1), so the numbers compare
the decoders and not the machine's load. `keras_ssl.data.decode.PARTIAL_DECODE_MAX_CROPS` is
set from it.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorflow as tf  # noqa: E402

from keras_ssl import augment  # noqa: E402
from keras_ssl.data import list_image_folder  # noqa: E402
from keras_ssl.data.decode import decode_crops  # noqa: E402


def images_per_second(paths, crops, partial_max):
    transform = augment.MultiViewTransform([augment.SimCLRTransform(224)] * crops)
    sizes = transform.crop_sizes()

    def decode(i, path):
        seed = tf.stack([tf.constant(0, tf.int64), i])
        return decode_crops(tf.io.read_file(path), lambda h, w: transform.crop_windows(h, w, seed),
                            sizes, partial_max)

    contents = tf.data.Dataset.from_tensor_slices(paths).enumerate()
    ds = contents.map(decode, num_parallel_calls=1).prefetch(1)
    for _ in ds.take(50):
        pass
    start = time.perf_counter()
    for _ in ds:
        pass
    return len(paths) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=".cache/jpeg256_10000")
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    paths = list_image_folder(args.folder).paths[:args.images]
    for crops in (1, 2):
        partial = images_per_second(paths, crops, partial_max=crops)
        whole = images_per_second(paths, crops, partial_max=0)
        print(f"{crops} crop(s) at 224 from {len(paths)} JPEGs: decode_and_crop_jpeg per crop "
              f"{partial:.0f} images/s, decode once + cut {whole:.0f} images/s")


if __name__ == "__main__":
    main()
