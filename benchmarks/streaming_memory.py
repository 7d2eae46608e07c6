"""Peak memory of `keras-ssl train` streaming folders of 10,000 and 100,000 JPEGs: it must not grow
with the number of images.

    python benchmarks/make_jpeg_folder.py --count=10000
    python benchmarks/make_jpeg_folder.py --count=100000
    python benchmarks/streaming_memory.py [--minutes=2] [--counts=10000,100000]

Each run is the SimCLR quickstart recipe (1/4-width ResNet-18, stride-2 CIFAR stem, batch 256,
two views) on a flat folder of 256x256 JPEGs (`benchmarks/make_jpeg_folder.py`), views cropped from
the 256x256 originals and resized to `--image_size` (default 32, the recipe's), for the same time
(`train.max_minutes`) on both folders.
Peak RSS is the child process's `ru_maxrss` (from `wait4`).
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def peak_rss_gb(command):
    """(seconds, peak RSS in GB) of running `command` to its end in a child process."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.execvp(command[0], command)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {status}")
    return time.monotonic() - start, usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="10000,100000")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--image_size", type=int, default=32)
    args = parser.parse_args()
    print(f"keras-ssl train, quickstart_simclr at {args.image_size}x{args.image_size}, "
          f"streamed from 256x256 JPEGs, {args.minutes} min each")
    for count in (int(c) for c in args.counts.split(",")):
        folder = os.path.join(ROOT, ".cache", f"jpeg256_{count}")
        if not os.path.isdir(folder):
            raise SystemExit(f"{folder} is missing: python benchmarks/make_jpeg_folder.py "
                             f"--count={count}")
        with tempfile.TemporaryDirectory() as workdir:
            command = [sys.executable, "-m", "keras_ssl.cli.main", "train",
                       "--config=quickstart_simclr", f"--workdir={workdir}",
                       f"--config.data.source=folder:{folder}",
                       f"--config.data.image_size={args.image_size}",
                       "--config.data.pipeline=streaming", "--config.train.epochs=100",
                       "--config.train.warmup_epochs=0.0",
                       f"--config.train.max_minutes={args.minutes}"]
            seconds, peak = peak_rss_gb(command)
            with open(os.path.join(workdir, "history.csv")) as f:
                epochs = len(f.read().strip().splitlines()) - 1
        decoded_gb = count * 256 * 256 * 3 / 1e9
        print(f"{count:>7,} images ({decoded_gb:5.1f} GB decoded): peak RSS {peak:.2f} GB, "
              f"{seconds:.0f} s, {epochs} epoch(s) logged")


if __name__ == "__main__":
    main()
