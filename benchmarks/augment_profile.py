"""Where the SimCLR quickstart's view-making time goes, stage by stage.

    python benchmarks/augment_profile.py [--data=.cache/data/cifar10] [--batch=256] [--reps=30]
        [--pipeline_examples=10240] [--pipeline_batches=30] [--intra_op=0]

Times, on one batch of real CIFAR-10 uint8 images, each stage of the quickstart's SimCLRTransform
(the quickstart_simclr recipe) alone inside a tf.function, fed the input it sees in the transform
(colour stages get cropped, flipped float images): median ms per batch over `--reps` calls. Then the
whole tf.data pipeline as `keras-ssl train` builds it (`keras_ssl.data.pretraining_dataset`, two
views) in source images/s. `--intra_op=1` runs the stages on one thread: the cores' cost, which is
what the pipeline takes from a concurrent train step.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl import data  # noqa: E402
from keras_ssl.augment import color  # noqa: E402
from keras_ssl.augment._random import split_seed  # noqa: E402
from keras_ssl.augment.crop import random_resized_crop  # noqa: E402
from keras_ssl.augment.flip import random_flip  # noqa: E402
from keras_ssl.augment.simclr_transform import to_float_images  # noqa: E402
from keras_ssl.cli import builders  # noqa: E402
from keras_ssl.configs import quickstart_simclr as quickstart  # noqa: E402
from throughput import pipeline_throughput  # noqa: E402  (benchmarks/throughput.py)

def median_ms(fn, *args, reps):
    fn(*args)  # trace
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def identity_jitter(images, seed, brightness, contrast, saturation, hue):
    """color_jitter with its four operations replaced by the identity: the order draws and the
    per-image routing alone."""
    names = ["adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue"]
    saved = [getattr(color, n) for n in names]
    for n in names:
        setattr(color, n, lambda x, f: x)
    try:
        return color.color_jitter(images, seed, brightness, contrast, saturation, hue)
    finally:
        for n, f in zip(names, saved):
            setattr(color, n, f)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=".cache/data/cifar10")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--pipeline_examples", type=int, default=10240)
    parser.add_argument("--pipeline_batches", type=int, default=30)
    parser.add_argument("--intra_op", type=int, default=0, help="0: TensorFlow's default")
    args = parser.parse_args()
    if args.intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(args.intra_op)

    seed = tf.constant([1, 2], tf.int64)  # after the threading options, which must come first
    config = quickstart.get_config()
    config.train.batch_size = args.batch
    views = builders.build_transform(config)
    t = views.transforms[0]
    images, _, _ = data.load_arrays(f"folder:{args.data}", "train", image_size=32,
                                    max_examples=max(args.batch, args.pipeline_examples))
    batch = tf.constant(images[:args.batch])
    print(f"batch {args.batch} real CIFAR-10 uint8 images {tuple(batch.shape[1:])}, output "
          f"{t.image_size}x{t.image_size}; transform {t.get_config()}; intra/inter-op threads "
          f"{args.intra_op or 'default'}; median of {args.reps} calls, each stage its own "
          "tf.function")

    s_crop, s_flip, s_color, _, _ = split_seed(seed, 5)
    jitter = t.color_jitter or (0.8 * t.color_strength,) * 3 + (0.2 * t.color_strength,)
    x = to_float_images(batch)
    cropped = random_resized_crop(x, t.image_size, s_crop, t.crop_scale, t.crop_ratio)
    flipped = random_flip(cropped, s_flip, t.flip_probability)
    s_jitter, s_grey = split_seed(s_color, 2)

    def per_image(low, high):  # one factor per image, as color_jitter draws them
        return tf.random.stateless_uniform([args.batch, 1, 1, 1], seed, low, high)

    factors = {"brightness": per_image(1 - jitter[0], 1 + jitter[0]),
               "contrast": per_image(1 - jitter[1], 1 + jitter[1]),
               "saturation": per_image(1 - jitter[2], 1 + jitter[2]),
               "hue": per_image(-jitter[3], jitter[3])}
    stages = [
        ("to float (uint8 -> [0, 1])", to_float_images, (batch,)),
        ("random resized crop", lambda a: random_resized_crop(
            a, t.image_size, s_crop, t.crop_scale, t.crop_ratio), (x,)),
        ("flip", lambda a: random_flip(a, s_flip, t.flip_probability), (cropped,)),
        ("brightness (whole batch)", lambda a: color.adjust_brightness(a, factors["brightness"]),
         (flipped,)),
        ("contrast (whole batch)", lambda a: color.adjust_contrast(a, factors["contrast"]), (flipped,)),
        ("saturation (whole batch)", lambda a: color.adjust_saturation(a, factors["saturation"]),
         (flipped,)),
        ("hue (whole batch)", lambda a: color.adjust_hue(a, factors["hue"]), (flipped,)),
        ("jitter routing alone (identity ops)", lambda a: identity_jitter(a, s_jitter, *jitter),
         (flipped,)),
        ("colour jitter (p=%g)" % t.color_jitter_probability, lambda a: color.color_jitter(
            a, s_jitter, *jitter, probability=t.color_jitter_probability), (flipped,)),
        ("greyscale (p=%g)" % t.grayscale_probability, lambda a: color.random_grayscale(
            a, s_grey, t.grayscale_probability), (flipped,)),
        ("whole transform, one view", lambda a: t(a, seed), (batch,)),
        ("both views (MultiViewTransform)", lambda a: views(a, seed), (batch,)),
    ]
    for name, fn, inputs in stages:
        print(f"  {name:40s} {median_ms(tf.function(fn), *inputs, reps=args.reps):8.2f} ms")

    rate = pipeline_throughput(config, images[:args.pipeline_examples], args.pipeline_batches)
    print(f"tf.data pipeline (pretraining_dataset over {args.pipeline_examples} in-memory images, "
          f"batch {args.batch}, two views, {args.pipeline_batches} batches): {rate:,.0f} source "
          "images/s")


if __name__ == "__main__":
    main()
