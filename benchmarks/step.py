"""The SimCLR train step on pre-made tensors: time, FLOPs, achieved GFLOP/s and the matmul roofline.

    python benchmarks/step.py [--width=0.25 --width=1.0] [--precision=float32 --precision=bfloat16]
        [--stem_stride=1] [--batch=256] [--steps=10] [--rounds=2] [--jit] [--profile=DIR]
        [--intra_op=N] [--inter_op=N]

The workload is the issue's: SimCLR, batch 256 x 2 views of 32x32 (one encoder pass of 512),
ResNet-18 with the CIFAR stem (3x3, stride 1 by default, no max-pool), projection 512 -> 128
(hidden width = encoder width), SGD with momentum 0.9, random tensors, median of `--steps` steps
after 2 warm-up steps, `--rounds` rounds alternating the configurations (A B A B). FLOPs are counted
per layer (2 x multiply-adds of every convolution and dense layer at the batch's shapes; training =
3 x forward: forward, input gradient, weight gradient). The roofline is this CPU's float32 (or
bfloat16) GFLOP/s on a 4096 x 4096 matmul, measured again just before each round's steps.
`--profile=DIR` writes a TF profiler trace of the steps and prints the op types by self time (the
trace opens in TensorBoard's profile plugin).
`--intra_op` / `--inter_op` set TensorFlow's thread pools (0: its default, one thread per core each).
"""

import argparse
import collections
import glob
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl import encoders, methods  # noqa: E402
from machine import steal_share, steal_ticks  # noqa: E402  (benchmarks/machine.py)


def matmul_gflops(dtype, n=4096, repeats=10):
    a = tf.random.normal([n, n], dtype=tf.float32)
    a = tf.cast(a, dtype)
    f = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.matmul(x, x), tf.float32)))
    f(a)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f(a).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def forward_flops(model, batch):
    """2 x multiply-adds of every Conv2D / Dense at the shapes of a batch of `batch` images."""
    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D):
            h, w, c_out = layer.output.shape[1:]
            kh, kw = layer.kernel_size
            total += 2 * batch * h * w * c_out * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * batch * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def build(width, stem_stride, batch, precision, jit):
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    keras.utils.set_random_seed(0)
    encoder = encoders.ResNet18(stem="cifar", stem_stride=stem_stride, width_multiplier=width,
                                input_shape=(32, 32, 3))
    model = methods.SimCLR(encoder, projection_dim=128, temperature=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=jit)
    rng = np.random.default_rng(0)
    views = tuple(tf.constant(rng.random((batch, 32, 32, 3), np.float32)) for _ in range(2))
    dataset = tf.data.Dataset.from_tensors(views).repeat()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
    projector = 2 * 2 * batch * sum(
        d.kernel.shape[0] * d.kernel.shape[1] for d in model.projector._flatten_layers()
        if isinstance(d, keras.layers.Dense))
    flops = 3 * (forward_flops(encoder, 2 * batch) + projector)
    return model, dataset, flops


def time_steps(model, dataset, steps, stolen, busy):
    """Median seconds a step; appends the hypervisor's steal and the cores this process kept busy
    (its CPU seconds / wall seconds) over the `steps`."""
    times = []
    start, cpu, wall = steal_ticks(), time.process_time(), time.perf_counter()

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Timer()])
    stolen.append(steal_share(start, steal_ticks()))
    busy.append((time.process_time() - cpu) / (time.perf_counter() - wall))
    return statistics.median(times)


def op_types(logdir, top=12):
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
    path = sorted(glob.glob(os.path.join(logdir, "plugins/profile/*/*.xplane.pb")))[-1]
    table = json.loads(plugin.xspace_to_tools_data([path], "framework_op_stats", {})[0])
    table = table[0] if isinstance(table, list) else table
    columns = [c["id"] for c in table["cols"]]
    by_type = collections.Counter()
    for row in table["rows"]:
        row = dict(zip(columns, [c.get("v") for c in row["c"]]))
        if row["type"] != "IDLE":
            by_type[row["type"]] += row["total_self_time"]
    busy = sum(by_type.values())
    return [(name, t / busy) for name, t in by_type.most_common(top)], busy / 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, action="append")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), action="append")
    parser.add_argument("--stem_stride", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jit", action="store_true")
    parser.add_argument("--profile")
    parser.add_argument("--intra_op", type=int, default=0)
    parser.add_argument("--inter_op", type=int, default=0)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    widths, precisions = args.width or [0.25, 1.0], args.precision or ["float32", "bfloat16"]

    print(f"TF {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} cores, threads "
          f"intra-op {args.intra_op or 'default'} inter-op {args.inter_op or 'default'}")
    runs = {(w, p): build(w, args.stem_stride, args.batch, p, args.jit)
            for w in widths for p in precisions}
    # This machine's speed drifts by 10-30% within minutes, so each round's steps are set against a
    # matmul measured just before them, not against one measured at the start.
    seconds, stolen, busy, roofline = (collections.defaultdict(list) for _ in range(4))
    for _ in range(args.rounds):
        for key, (model, dataset, _) in runs.items():
            roofline[key].append(matmul_gflops(tf.float32 if key[1] == "float32" else tf.bfloat16))
            seconds[key].append(time_steps(model, dataset, args.steps, stolen[key], busy[key]))
    for (width, precision), (model, dataset, flops) in runs.items():
        s, matmul = seconds[(width, precision)], roofline[(width, precision)]
        print(f"SimCLR ResNet-18 CIFAR stem stride {args.stem_stride}, width {width:g} "
              f"({model.encoder.count_params():,} encoder params), batch {args.batch} x 2 views "
              f"32x32, {precision}{', XLA' if args.jit else ''}: "
              f"{' / '.join(f'{t:.3f}' for t in s)} s/step, {args.batch / min(s):,.0f} images/s, "
              f"{flops / 1e9:.1f} GFLOP/step, {' / '.join(f'{flops / t / 1e9:.0f}' for t in s)} "
              f"GFLOP/s against a 4096^2 {precision} matmul of "
              f"{' / '.join(f'{g:.0f}' for g in matmul)} GFLOP/s just before = "
              f"{' / '.join(f'{flops / t / 1e9 / g:.2f}' for t, g in zip(s, matmul))} "
              f"of the roofline (cores busy {' / '.join(f'{x:.2f}' for x in busy[(width, precision)])}, "
              f"steal {' / '.join(f'{x:.1%}' for x in stolen[(width, precision)])})")
        if args.profile:
            logdir = os.path.join(args.profile, f"w{width:g}_{precision}")
            tf.profiler.experimental.start(logdir)
            model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)
            tf.profiler.experimental.stop()
            ops, busy = op_types(logdir)
            print(f"  profile of 3 steps, {busy:.2f} s busy (all threads): " +
                  ", ".join(f"{name} {share:.0%}" for name, share in ops))


if __name__ == "__main__":
    main()
