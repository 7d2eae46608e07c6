"""keras-ssl's streaming input at 224 beside torchvision's, alternating, in one sitting.

    python benchmarks/input_224.py [--folder=.cache/jpeg256_10000] [--rounds=3] [--batches=8]
        [--torch_python=.cache/torchvision/bin/python]

The workload of issue 25: the folder of 256x256 JPEGs of benchmarks/make_jpeg_folder.py, two
SimCLR views at 224 with the paper's ImageNet augmentation (crop 0.08-1, colour strength 1 at
p 0.8, greyscale 0.2, blur p 0.5), batch 256. Rows, each in a fresh process, in turn for
`--rounds` rounds: keras-ssl's `streaming_pretraining_dataset` (the host path); its host stage
when the augmentation runs in the train step (`augment_on="device"`: read, decode, crop, resize
to uint8); that device stage (`DeviceAugmentation` in a `tf.function`, as the train step runs it)
timed on this CPU, on one batch of the host stage's, repeated; lightly's `SimCLRTransform` in a
PyTorch DataLoader with 2 workers (benchmarks/torch_streaming_reference.py, in its own venv: see
its docstring). Source images/s over `--batches` batches after the first; the CPU and the
hypervisor's steal are printed with each round.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from machine import steal_share, steal_ticks  # noqa: E402


def keras_ssl_rate(folder, batches, mode):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, os.path.join(HERE, ".."))
    import tensorflow as tf
    from keras_ssl import augment, data

    view = augment.SimCLRTransform(224, color_strength=1.0, blur_probability=0.5)
    views = augment.MultiViewTransform([view, view])
    ds = data.streaming_pretraining_dataset(f"folder:{folder}", 256, views,
                                            augment_on="host" if mode == "host" else "device")
    iterator = iter(ds.repeat())
    element = next(iterator)
    if mode == "device_stage":
        stage = tf.function(data.DeviceAugmentation(views))
        iterator = (stage(element) for _ in iter(int, 1))
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    print(f"source images/s: {batches * 256 / (time.perf_counter() - start):.1f}")


def cpu_model():
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                    "unknown CPU")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=".cache/jpeg256_10000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--torch_python", default=".cache/torchvision/bin/python")
    parser.add_argument("--keras_ssl", choices=["host", "device", "device_stage"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras_ssl:
        return keras_ssl_rate(args.folder, args.batches, args.keras_ssl)
    me = [sys.executable, os.path.abspath(__file__), f"--folder={args.folder}",
          f"--batches={args.batches}"]
    rows = {
        "keras-ssl, host path": me + ["--keras_ssl=host"],
        "keras-ssl, host stage of augment_on=device": me + ["--keras_ssl=device"],
        "keras-ssl, its device stage run on this CPU": me + ["--keras_ssl=device_stage"],
        "torchvision (lightly SimCLRTransform, DataLoader 2 workers)": [
            args.torch_python, os.path.join(HERE, "torch_streaming_reference.py"),
            f"--folder={args.folder}", f"--batches={args.batches}", "--workers=2"],
    }
    print(f"{cpu_model()}, {os.cpu_count()} cores; {args.folder}, batch 256, 2 views at 224, "
          f"{args.batches} batches after the first")
    rates = {name: [] for name in rows}
    for r in range(args.rounds):
        for name, command in rows.items():
            start = steal_ticks()
            out = subprocess.run(command, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{name} failed:\n{out.stderr[-3000:]}")
            rate = float(out.stdout.split("source images/s:")[-1].split()[0])
            rates[name].append(rate)
            print(f"round {r + 1}  {name}: {rate:.1f} source images/s "
                  f"(steal {steal_share(start, steal_ticks()):.1%})", flush=True)
    reference = statistics.median(rates[list(rows)[-1]])
    for name, values in rates.items():
        print(f"median {name}: {statistics.median(values):.1f} source images/s "
              f"({statistics.median(values) / reference:.2f}x torchvision)")


if __name__ == "__main__":
    main()
