"""Where the streaming pipeline's time goes at 224, stage by stage, in CPU time per source image.

    python benchmarks/stream_profile.py [--folder=.cache/jpeg256_10000] [--batch=64] [--reps=5]
        [--threads=1]

The workload of benchmarks/input_224.py (two SimCLR views at 224, colour strength 1, blur 0.5) on
`--batch` JPEGs of the folder: each stage alone in a tf.function, fed what it sees in the pipeline
(the crops of real images), on `--threads` threads (1: the cores' cost, what a concurrent train step
loses), median over `--reps` calls of the process's CPU time, divided by the batch. Per-image
stages (decode, crop, resize) are timed over the batch's images in one function.
"""

import argparse
import glob
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorflow as tf  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=".cache/jpeg256_10000")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from keras_ssl import augment
    from keras_ssl.augment import blur, color, flip
    from keras_ssl.augment._random import split_seed
    from keras_ssl.data.decode import decode_crops

    n = args.batch
    files = sorted(glob.glob(os.path.join(args.folder, "*.jpg")))[:n]
    contents = tf.stack([tf.io.read_file(f) for f in files])
    view = augment.SimCLRTransform(224, color_strength=1.0, blur_probability=0.5)
    views = augment.MultiViewTransform([view, view])
    seed = tf.constant([1, 2], tf.int64)

    def cpu_ms(fn, *inputs):
        fn(*inputs)  # trace
        times = []
        for _ in range(args.reps):
            start = time.process_time()
            fn(*inputs)
            times.append(time.process_time() - start)
        return 1000 * statistics.median(times) / n

    @tf.function
    def decode(c):
        return [tf.io.decode_jpeg(c[i], channels=3) for i in range(n)]

    @tf.function
    def decode_crop_resize(c):
        return [decode_crops(c[i], lambda h, w, i=i: views.crop_windows(
            h, w, tf.constant([i, 3], tf.int64)), [(224, 224)] * 2) for i in range(n)]

    crops = decode_crop_resize(contents)
    a = tf.stack([c[0] for c in crops]) / 255.0
    b = tf.stack([c[1] for c in crops]) / 255.0
    s_flip, s_color, s_blur, _ = split_seed(seed, 5)[1:]
    s_jitter, s_grey = split_seed(s_color, 2)
    f = tf.function
    stages = [
        ("decode the whole JPEG", decode, (contents,)),
        ("decode + 2 crops + resize to 224", decode_crop_resize, (contents,)),
        ("flip (p 0.5), one view", f(lambda x: flip.random_flip(x, s_flip, 0.5)), (a,)),
        ("colour jitter (p 0.8), one view", f(lambda x: color.color_jitter(
            x, s_jitter, 0.8, 0.8, 0.8, 0.2, 0.8)), (a,)),
        ("greyscale (p 0.2), one view", f(lambda x: color.random_grayscale(x, s_grey, 0.2)), (a,)),
        ("blur (p 0.5), one view", f(lambda x: blur.random_gaussian_blur(x, s_blur, 0.5)), (a,)),
        ("everything after the crop, both views", f(lambda x, y: views.augment_crops(
            [x, y], seed)), (a, b)),
    ]
    print(f"{n} JPEGs of {args.folder}, 2 SimCLR views at 224, {args.threads} thread(s), CPU ms "
          f"per source image (median of {args.reps})")
    for name, fn, inputs in stages:
        print(f"{name:42s} {cpu_ms(fn, *inputs):7.3f}", flush=True)


if __name__ == "__main__":
    main()
