"""What `data.augment_on="device"` takes off the host: source images/s of the streaming pipeline's
host stage with the whole augmentation (`augment_on="host"`) and with the crops only
(`augment_on="device"`: read, decode, crop, resize, round to uint8), alternating in one sitting;
then the augmentation the device stage runs (`DeviceAugmentation`, in a `tf.function` as in the
train step), timed here on the CPU.

    python benchmarks/device_augmentation.py [--jpegs=.cache/jpeg256_10000] [--batches=8]
                                             [--rounds=2]

Workload: two SimCLR views at 224 with the paper's ImageNet augmentation (crop 0.08-1, colour
strength 1 with p 0.8, grey 0.2, blur p 0.5), batch 256, from a folder of 256x256 JPEGs
(benchmarks/make_jpeg_folder.py). The first batch of each measurement is not timed.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl import augment, data  # noqa: E402
from streaming_throughput import BATCH, images_per_second  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jpegs", default=".cache/jpeg256_10000")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    views = augment.MultiViewTransform([augment.SimCLRTransform(224, blur_probability=0.5)] * 2)

    def dataset(augment_on):
        return data.streaming_pretraining_dataset(f"folder:{args.jpegs}", BATCH, views,
                                                  augment_on=augment_on)

    rates = {"host": [], "device": []}
    for round_ in range(args.rounds):
        for on in rates:
            rates[on].append(images_per_second(dataset(on), args.batches))
            print(f"round {round_}: augment_on={on}: {rates[on][-1]:.0f} source images/s",
                  flush=True)
    for on, label in (("host", "whole augmentation"), ("device", "crops only (uint8)")):
        print(f"host stage, {label}: median {np.median(rates[on]):.0f} source images/s")

    element = next(iter(dataset("device")))
    stage = tf.function(data.DeviceAugmentation(views))
    times = []
    for _ in range(4):
        start = time.perf_counter()
        tf.nest.map_structure(lambda x: x.numpy(), stage(element))
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times[1:]))
    print(f"device stage (DeviceAugmentation, tf.function) on this CPU: {seconds:.2f} s per "
          f"batch of {BATCH} = {BATCH / seconds:.0f} source images/s")


if __name__ == "__main__":
    main()
