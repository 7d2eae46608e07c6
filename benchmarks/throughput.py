"""Train-step and input-pipeline throughput on this machine.

    python benchmarks/throughput.py [--data=.cache/data/cifar10] [--steps=5]

Prints images/s of a SimCLR train step (ResNet-18 with the CIFAR stem at stride 1, full width, batch
256, 2 views; and the quickstart config's encoder and batch, each named exactly) and source images/s
of the quickstart input pipeline (decoded CIFAR-10 in memory -> shuffle -> batch -> two SimCLR
views), which must be several times what a step consumes so that training never waits for data.
End to end: `model.fit` of the quickstart's model on that real pipeline (the one `keras-ssl train`
builds: decoded images in memory, per-image views made in a parallel map, prefetched) against the
same model's bare step on pre-made tensors, `--rounds` rounds alternating them (A B A B), also with the
pipeline at the step's priority (`background_priority=False`); the ratio must be >= 0.95 (the pipeline
overlaps the step and does not steal its cores). Each measures `--fit_steps` steps after
`--fit_warmup` (the pipeline's buffers, filled while the step was traced, drained first) and prints
the share of the time the hypervisor took from this machine (steal, from /proc/stat).
`benchmarks/step.py` counts FLOPs and profiles the step.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl import data  # noqa: E402
from keras_ssl.cli import builders  # noqa: E402
from keras_ssl.configs import quickstart_simclr as quickstart  # noqa: E402
from machine import steal_share, steal_ticks  # noqa: E402  (benchmarks/machine.py)


def build_model(config):
    model = builders.build_method(config, builders.build_encoder(config))
    model.compile(optimizer=builders.build_optimizer(config, steps_per_epoch=100))
    return model


def tensor_dataset(config):
    batch, size = config.train.batch_size, config.data.image_size
    rng = np.random.default_rng(0)
    views = tuple(tf.constant(rng.random((batch, size, size, 3), np.float32)) for _ in range(2))
    return tf.data.Dataset.from_tensors(views).repeat()


def seconds_per_step(model, dataset, steps, warmup=2, stolen=None):
    """Wall time per step of one `model.fit` call, from the end of its `warmup`-th step (traced,
    the pipeline's buffers filled) to the end of `steps` more: waiting for input included. Appends
    to `stolen` the share of the CPU time the hypervisor took meanwhile."""
    ends, ticks = [], []

    def on_batch_end(batch, logs):
        ends.append(time.perf_counter())
        ticks.append(steal_ticks())

    clock = keras.callbacks.LambdaCallback(on_train_batch_end=on_batch_end)
    model.fit(dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[clock])
    if stolen is not None:
        stolen.append(steal_share(ticks[warmup - 1], ticks[-1]))
    return (ends[-1] - ends[warmup - 1]) / steps


def step_throughput(config, steps):
    seconds = seconds_per_step(build_model(config), tensor_dataset(config), steps)
    return config.train.batch_size / seconds, seconds


def pipeline_throughput(config, images, batches):
    dataset = data.pretraining_dataset(None, config.train.batch_size,
                                       transform=builders.build_transform(config), seed=config.seed,
                                       arrays=(images, np.zeros(len(images), np.int32)))
    iterator = iter(dataset.repeat())
    for _ in range(3):  # fill the prefetch buffers
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * config.train.batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=".cache/data/cifar10")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--fit_steps", type=int, default=60)
    parser.add_argument("--fit_warmup", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--end_to_end_only", action="store_true",
                        help="skip the separate step and pipeline measurements")
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
    for name, config in (() if args.end_to_end_only else
                         (("SimCLR", resnet18), ("SimCLR quickstart", quick))):
        e = config.encoder
        name = (f"{name} ResNet-{e.depth} {e.stem} stem stride {e.stem_stride}, width "
                f"{e.width_multiplier:g}, batch {config.train.batch_size} x 2 views")
        rate, seconds = step_throughput(config, args.steps)
        print(f"{name}: {seconds:.3f} s/step, {rate:,.0f} source images/s "
              f"({2 * rate:,.0f} views/s); pipeline / step = {source / rate:.1f}x")

    # End to end on the quickstart: one model, its bare step and its fit on the real pipeline.
    model = build_model(quick)

    def real(background_priority):
        return data.pretraining_dataset(
            None, quick.train.batch_size, transform=builders.build_transform(quick),
            seed=quick.seed, arrays=(images, np.zeros(len(images), np.int32)),
            background_priority=background_priority)

    runs = {"bare step": tensor_dataset(quick), "model.fit on the real pipeline": real(True),
            "model.fit, pipeline at the step's priority": real(False)}
    seconds = {name: [] for name in runs}
    stolen = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, dataset in runs.items():
            seconds[name].append(seconds_per_step(model, dataset, args.fit_steps, args.fit_warmup,
                                                  stolen[name]))
    batch = quick.train.batch_size
    print(f"SimCLR quickstart end to end, {args.fit_steps} steps after {args.fit_warmup} per round, "
          f"{args.rounds} rounds:")
    bare = seconds["bare step"]
    for name in runs:
        t = seconds[name]
        print(f"  {name}: {' / '.join(f'{batch / s:,.0f}' for s in t)} images/s (steal "
              f"{' / '.join(f'{s:.1%}' for s in stolen[name])})" + (
                  "" if t is bare else f"; / bare step = {min(bare) / min(t):.3f} (best rounds), "
                  f"{statistics.median(bare) / statistics.median(t):.3f} (medians)"))


if __name__ == "__main__":
    main()
